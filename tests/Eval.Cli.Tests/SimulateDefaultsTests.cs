using System.Globalization;
using System.Text.Json;
using Spark.Eval.Simulator.Profiles;
using Spark.Eval.Simulator.Validation;

namespace Spark.Eval.Cli.Tests;

/// <summary>`simulate` with default flags runs the validated path: every published row, given only its setup, prints the page's figure.</summary>
public class SimulateDefaultsTests
{
    public static TheoryData<string> RowIds()
    {
        var data = new TheoryData<string>();
        foreach (var row in ValidationRunner.Load(null).Rows)
        {
            data.Add(row.Id);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(RowIds))]
    public async Task Simulate_DefaultFlags_ReproduceTheValidatedFigure(string id)
    {
        var row = ValidationRunner.Load(null).Rows.Single(r => r.Id == id);
        var expected = ValidationRunner.Predict(ProfileCatalog.LoadEmbedded(), row);
        var c = CultureInfo.InvariantCulture;
        // Only the row's setup (what a user would type to ask the same question); every other flag left at its default.
        var args = new List<string>
        {
            "simulate", "--hw", row.Hardware, "--model", row.Model, "--precision", row.Precision, "--tp", row.TensorParallel.ToString(c),
            "--input-tokens", row.InputTokens.ToString(c), "--output-tokens", row.OutputTokens.ToString(c), "--concurrency", row.Concurrency.ToString(c),
            "--json", "--no-saturation",
        };
        if (row.Requests is { } n)
        {
            args.AddRange(["--requests", n.ToString(c)]);
        }

        if (row.Engine is { } engine)
        {
            args.AddRange(["--engine", engine]);
        }

        if (row.InProcess)
        {
            args.Add("--in-process");
        }

        if (row.PrefillFirst)
        {
            args.Add("--prefill-first");
        }

        if (row.AsyncScheduling)
        {
            args.Add("--async-scheduling");
        }

        if (row.MaxBatch is { } cap)
        {
            args.AddRange(["--max-batch", cap.ToString(c)]);
        }

        if (row.Lengths is { } lengths)
        {
            args.AddRange(["--lengths", lengths]);
        }

        if (row.LengthSpread is { } spread && spread > 0)
        {
            args.AddRange(["--length-spread", spread.ToString(c)]);
        }

        if (row.AnswerLengthSpread is { } answers)
        {
            args.AddRange(["--answer-length-spread", answers.ToString(c)]);
        }

        if (row.SendGapMs is { } gap)
        {
            args.AddRange(["--send-gap-ms", gap.ToString(c)]);
        }

        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var exit = await SparkEvalCli.RunAsync([.. args], stdout, stderr, TestContext.Current.CancellationToken);
        Assert.True(exit == 0, stderr.ToString());
        using var doc = JsonDocument.Parse(stdout.ToString());
        var stats = doc.RootElement.GetProperty("points")[0].GetProperty("stats");
        var median = row.Statistic == "median";
        var printed = row.Metric switch
        {
            "ttft_ms" => stats.GetProperty(median ? "ttftP50Ms" : "ttftMeanMs").GetDouble(),
            "itl_ms" => stats.GetProperty(median ? "tpotP50Ms" : "tpotMeanMs").GetDouble(),
            "output_tps" => stats.GetProperty("outputTokensPerSecond").GetDouble(),
            "user_tps" => 1000.0 / stats.GetProperty("tpotMeanMs").GetDouble(),
            _ => throw new InvalidOperationException(row.Metric),
        };
        Assert.True(Math.Abs(printed - expected) <= 1e-9 * Math.Max(1, Math.Abs(expected)), $"{row.Id}: simulate printed {printed}, validate {expected} (published {row.Value})");
        Assert.True(doc.RootElement.GetProperty("simulated").GetBoolean());
    }

    [Fact]
    public async Task Simulate_NimC50Row_DefaultsGiveTheSteadyStateNotTheLockstepColdStart()
    {
        // The example: NIM 70B FP8 TP2 5000/500 at c50 (published mean TTFT 834.51 ms). Defaults: steady state
        // with the stack's chunked prefill; --cold-start counts the lockstep first wave too and must differ.
        async Task<double> TtftAsync(params string[] extra)
        {
            using var stdout = new StringWriter();
            using var stderr = new StringWriter();
            string[] args = ["simulate", "--hw", "h100-sxm", "--model", "llama-3.1-70b", "--precision", "fp8", "--tp", "2", "--input-tokens", "5000", "--output-tokens", "500", "--concurrency", "50", "--json", "--no-saturation", .. extra];
            Assert.Equal(0, await SparkEvalCli.RunAsync(args, stdout, stderr, TestContext.Current.CancellationToken));
            using var doc = JsonDocument.Parse(stdout.ToString());
            return doc.RootElement.GetProperty("points")[0].GetProperty("stats").GetProperty("ttftMeanMs").GetDouble();
        }

        var steady = await TtftAsync();
        var cold = await TtftAsync("--cold-start", "--chunked-prefill", "false");
        Assert.InRange(steady / 834.51, 1 / 1.5, 1.5);
        Assert.NotEqual(steady, cold);
    }
}
