using System.Globalization;
using Spark.Eval.Core.Metrics;

namespace Spark.Eval.Reporting;

/// <summary>The comparison table both report formats print: one row per backend, each cell already formatted.</summary>
public static class ReportTables
{
    /// <summary>Column headers with the formula each column shows (docs/metrics.md has the full definitions).</summary>
    public static IReadOnlyList<(string Header, string Formula)> Columns { get; } =
    [
        ("backend", "name; SIMULATED when timings are modelled; random weights when the text is meaningless"),
        ("ok / all", "ok attempts / (ok + error + timeout)"),
        ("TTFT p50 [95 % CI]", "first content − request start, ms; order-statistic interval"),
        ("TTFT p99", "ms"),
        ("TPOT p50", "(E2E − TTFT) / (answer tokens − 1), ms"),
        ("ITL p99", "gap between consecutive output chunks, ms"),
        ("E2E p50", "stream end − request start, ms"),
        ("tok/s p50", "answer tokens / E2E per attempt"),
        ("goodput", "ok attempts meeting every SLO / decided; – when no SLO is set"),
        ("pass [95 % CI]", "passed / graded (failed generations count as not passed; answers the sandbox refused are ungraded and left out); Wilson interval"),
        ("pass@1", "mean over tasks of c/n"),
        ("in flow", "answers complete within 1 s / decided"),
        ("s / pass", "total waiting / passed answers"),
    ];

    public static IReadOnlyList<string[]> Rows(RunSummary summary, Core.Results.RunManifest? manifest = null)
    {
        ArgumentNullException.ThrowIfNull(summary);
        return [.. summary.Backends.Select(b => Row(b, manifest))];
    }

    private static string[] Row(BackendSummary b, Core.Results.RunManifest? manifest)
    {
        var all = b.Counts.Ok + b.Counts.Error + b.Counts.Timeout;
        return
        [
            BackendLabels.Describe(b, manifest),
            $"{b.Counts.Ok} / {all}",
            Stat(b, "ttft_ms", s => F(s.P50) + (s.Ci95P50 is [var lo, var hi] ? $" [{F(lo)}, {F(hi)}]" : "")),
            Stat(b, "ttft_ms", s => F(s.P99)),
            Stat(b, "tpot_ms", s => F(s.P50)),
            Stat(b, "itl_ms", s => F(s.P99)),
            Stat(b, "e2e_ms", s => F(s.P50)),
            Stat(b, "output_tokens_per_s", s => F(s.P50)),
            b.Goodput.SloSet ? Percent(b.Goodput.Ratio) : "–",
            b.Grading switch
            {
                null => "–",
                { Graded: 0 } g => $"– ({g.Ungraded} ungraded)",
                var g => Percent(g.PassRate) + Interval(g) + (g.Ungraded > 0 ? $" ({g.Ungraded} ungraded)" : ""),
            },
            b.Grading?.PassAtK.TryGetValue("pass@1", out var p1) == true ? Percent(p1) : "–",
            b.Flow is { } f ? Percent(f.InFlowRatio) : "–",
            b.Flow?.WaitPerPassSeconds is { } w ? w.ToString("0.00", CultureInfo.InvariantCulture) : "–",
        ];
    }

    private static string Interval(GradingSummary g)
    {
        var (low, high) = ProportionInterval.Wilson95(g.Passed, g.Graded);
        return $" [{(low * 100).ToString("0", CultureInfo.InvariantCulture)}, {(high * 100).ToString("0", CultureInfo.InvariantCulture)}]";
    }

    /// <summary>"83 % [44, 97] of 6": a rate with its 95 % Wilson interval and n; "–" when n is 0.</summary>
    public static string Rate(int passed, int graded)
    {
        if (graded == 0)
        {
            return "–";
        }

        var (low, high) = ProportionInterval.Wilson95(passed, graded);
        return string.Create(CultureInfo.InvariantCulture, $"{(double)passed / graded * 100:0} % [{low * 100:0}, {high * 100:0}] of {graded}");
    }

    private static string Stat(BackendSummary b, string metric, Func<LatencyStatistics, string> pick) =>
        b.Metrics.TryGetValue(metric, out var s) ? pick(s) : "–";

    /// <summary>Three significant figures at most, invariant culture.</summary>
    public static string F(double value) => Math.Abs(value) switch
    {
        >= 100 => value.ToString("0", CultureInfo.InvariantCulture),
        >= 10 => value.ToString("0.0", CultureInfo.InvariantCulture),
        _ => value.ToString("0.00", CultureInfo.InvariantCulture),
    };

    public static string Percent(double ratio) => (ratio * 100).ToString("0", CultureInfo.InvariantCulture) + " %";
}
