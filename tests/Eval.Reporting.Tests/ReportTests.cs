using Spark.Eval.Core.Results;
using Spark.Eval.Core.Timing;

namespace Spark.Eval.Reporting.Tests;

public sealed class ReportTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("spark-report-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static AttemptRecord Attempt(string backend, int repeat, long ttftMs, long endMs, bool simulated, string? grade, AttemptStatus status = AttemptStatus.Ok) => new()
    {
        Slot = new SlotKey("t" + (repeat % 3).ToString(System.Globalization.CultureInfo.InvariantCulture), backend, repeat),
        Events = status == AttemptStatus.Ok
            ? [new(0, StreamEventKind.RequestStart), new(ttftMs * 1000, StreamEventKind.Content, 3), new(endMs * 1000, StreamEventKind.Content, 3), new(endMs * 1000, StreamEventKind.End)]
            : [new(0, StreamEventKind.RequestStart), new(endMs * 1000, StreamEventKind.End)],
        Outcome = new AttemptOutcome(status, status == AttemptStatus.Ok ? null : "http_503"),
        Answer = "abc",
        Tokens = new TokenCounts { OutputTokenizer = 2, Tokenizer = "o200k_base" },
        Simulated = simulated,
        TaskKind = "Stub",
        Language = "python",
        Grade = grade is null ? null : new AttemptGrade { Outcome = grade, Isolation = "test" },
    };

    private RunDirectory Write(IEnumerable<AttemptRecord> records)
    {
        using (var log = new AttemptLog(Path.Combine(_dir, AttemptLog.FileName)))
        {
            foreach (var r in records)
            {
                log.Append(r);
            }
        }

        var directory = new RunDirectory(_dir);
        var manifest = new RunManifest
        {
            RunId = "run-1",
            HarnessVersion = "test",
            Plan = new RunPlanSpec { SuitePath = "suite", BackendSpecs = ["sim"] },
            Suite = new SuiteInfo("mini", "embedded", "abcdef0123456789", 3),
            Backends = [],
            Environment = new EnvironmentInfo("linux", "cpu", 2, "10.0", null, "host"),
            StartedUtc = DateTimeOffset.UnixEpoch,
        };
        directory.WriteManifest(manifest);
        directory.WriteSummaries(manifest);
        return directory;
    }

    [Fact]
    public void WriteSummaries_GradedRun_WritesHtmlMarkdownAndEveryPlot()
    {
        Write(
        [
            Attempt("fast", 0, 20, 300, simulated: true, "passed"), Attempt("fast", 1, 25, 400, simulated: true, "wrong_answer"),
            Attempt("fast", 2, 30, 1_500, simulated: true, "passed"),
            Attempt("slow<b>", 0, 200, 2_000, simulated: false, "passed"), Attempt("slow<b>", 1, 0, 900, simulated: false, null, AttemptStatus.Error),
        ]);

        var html = File.ReadAllText(Path.Combine(_dir, HtmlReport.FileName));
        Assert.Contains("class=\"sim\"", html, StringComparison.Ordinal);
        Assert.Contains("fast (SIMULATED)", html, StringComparison.Ordinal);
        Assert.Contains("slow&lt;b&gt;", html, StringComparison.Ordinal);
        Assert.DoesNotContain("slow<b>", html, StringComparison.Ordinal);
        Assert.Equal(4, html.Split("<svg").Length - 1);
        // fast: 2 of 3 passed; Wilson 95 % interval [21, 94] %.
        Assert.Contains("67 % [21, 94]", html, StringComparison.Ordinal);
        // slow: the failed generation counts as not passed: 1 of 2.
        Assert.Contains("50 % [9, 91]", html, StringComparison.Ordinal);
        Assert.Contains("http_503", html, StringComparison.Ordinal);

        foreach (var plot in new[] { "ttft_cdf", "e2e_cdf", "flow_bands", "pass_rate" })
        {
            var png = File.ReadAllBytes(Path.Combine(_dir, "plots", plot + ".png"));
            Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], png[..4]);
            Assert.StartsWith("<", File.ReadAllText(Path.Combine(_dir, "plots", plot + ".svg")).TrimStart(), StringComparison.Ordinal);
        }

        var md = File.ReadAllText(Path.Combine(_dir, MarkdownReport.FileName));
        Assert.Contains("| fast (SIMULATED) | 3 / 3 |", md, StringComparison.Ordinal);
        Assert.Contains("| slow<b> | 1 / 2 |", md, StringComparison.Ordinal);
    }

    [Fact]
    public void WriteSummaries_UngradedRealRun_SaysNotGradedAndHasNoSimulatedBanner()
    {
        Write([Attempt("real", 0, 20, 300, simulated: false, null), Attempt("real", 1, 22, 320, simulated: false, null)]);
        var html = File.ReadAllText(Path.Combine(_dir, HtmlReport.FileName));
        Assert.DoesNotContain("class=\"sim\"", html, StringComparison.Ordinal);
        Assert.Contains("Not graded", html, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_dir, "plots", "pass_rate.png")));
        Assert.True(File.Exists(Path.Combine(_dir, "plots", "ttft_cdf.png")));
    }
}
