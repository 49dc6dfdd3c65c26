using Spark.Eval.Core.Metrics;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Timing;

namespace Spark.Eval.Reporting.Tests;

/// <summary>
/// Runs of one configuration made of synthetic attempts with seeded noise: log-normal TTFT around a median, a few
/// output chunks, and a pass/fail grade drawn at a given rate. Labelled synthetic; used for the gate's statistics.
/// </summary>
internal static class SyntheticRuns
{
    public static ReportData Create(
        string runId, int seed, int tasks, int repeats, double ttftMedianMs = 200, double ttftSigma = 0.3,
        double passRate = 0.8, string backend = "sim-a", bool graded = true)
    {
        var random = new Random(seed);
        var records = new List<AttemptRecord>(tasks * repeats);
        for (var r = 0; r < repeats; r++)
        {
            for (var t = 0; t < tasks; t++)
            {
                var ttftUs = (long)(ttftMedianMs * 1000 * Math.Exp(ttftSigma * Gaussian(random)));
                var gapUs = (long)(20_000 * Math.Exp(0.2 * Gaussian(random)));
                records.Add(new AttemptRecord
                {
                    Sequence = records.Count,
                    Slot = new SlotKey("t" + t, backend, r),
                    TaskKind = "Stub",
                    Language = "python",
                    Events =
                    [
                        new(0, StreamEventKind.RequestStart), new(ttftUs, StreamEventKind.Content, 4), new(ttftUs + gapUs, StreamEventKind.Content, 4),
                        new(ttftUs + (2 * gapUs), StreamEventKind.Content, 4), new(ttftUs + (2 * gapUs), StreamEventKind.End),
                    ],
                    Outcome = AttemptOutcome.Ok,
                    Answer = "synthetic",
                    Tokens = new TokenCounts { OutputTokenizer = 3, Tokenizer = "o200k_base" },
                    Simulated = true,
                    Grade = graded ? SyntheticGrade(random.NextDouble() < passRate ? "passed" : "wrong_answer") : null,
                });
            }
        }

        var manifest = new RunManifest
        {
            RunId = runId,
            HarnessVersion = "synthetic",
            Plan = new RunPlanSpec { SuitePath = "synthetic", BackendSpecs = [backend], Repeats = repeats, Seed = seed },
            Suite = new SuiteInfo("synthetic", "synthetic", "sha", tasks),
            Backends = [new BackendInfo(backend, backend, "sim", "synthetic", Simulated: true)],
            Environment = new EnvironmentInfo("linux", "cpu", 2, "10.0", null, "host"),
            StartedUtc = DateTimeOffset.UnixEpoch,
        };
        return ReportData.From(manifest, SummaryCalculator.Compute(runId, records, new SloSpec()), records);
    }

    private static double Gaussian(Random random) =>
        Math.Sqrt(-2.0 * Math.Log(1.0 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());

    private static AttemptGrade SyntheticGrade(string outcome) => new() { Outcome = outcome, Passed = outcome == "passed", Isolation = "synthetic" };
}
