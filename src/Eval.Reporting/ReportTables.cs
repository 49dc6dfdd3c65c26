using System.Globalization;
using Spark.Eval.Core.Metrics;

namespace Spark.Eval.Reporting;

/// <summary>The comparison table both report formats print: one row per backend, each cell already formatted.</summary>
public static class ReportTables
{
    /// <summary>Column headers with the formula each column shows (docs/metrics.md has the full definitions).</summary>
    public static IReadOnlyList<(string Header, string Formula)> Columns { get; } =
    [
        ("backend", "name; SIMULATED when timings are modelled"),
        ("ok / all", "ok attempts / (ok + error + timeout)"),
        ("TTFT p50 [95 % CI]", "first content − request start, ms; order-statistic interval"),
        ("TTFT p99", "ms"),
        ("TPOT p50", "(E2E − TTFT) / (answer tokens − 1), ms"),
        ("ITL p99", "gap between consecutive output chunks, ms"),
        ("E2E p50", "stream end − request start, ms"),
        ("tok/s p50", "answer tokens / E2E per attempt"),
        ("goodput", "ok attempts meeting every SLO / decided"),
        ("pass [95 % CI]", "passed / graded (failed generations count as not passed); Wilson interval"),
        ("pass@1", "mean over tasks of c/n"),
        ("in flow", "answers complete within 1 s / decided"),
        ("s / pass", "total waiting / passed answers"),
    ];

    public static IReadOnlyList<string[]> Rows(RunSummary summary)
    {
        ArgumentNullException.ThrowIfNull(summary);
        return [.. summary.Backends.Select(Row)];
    }

    private static string[] Row(BackendSummary b)
    {
        var all = b.Counts.Ok + b.Counts.Error + b.Counts.Timeout;
        return
        [
            b.Simulated ? b.Backend + " (SIMULATED)" : b.Backend,
            $"{b.Counts.Ok} / {all}",
            Stat(b, "ttft_ms", s => F(s.P50) + (s.Ci95P50 is [var lo, var hi] ? $" [{F(lo)}, {F(hi)}]" : "")),
            Stat(b, "ttft_ms", s => F(s.P99)),
            Stat(b, "tpot_ms", s => F(s.P50)),
            Stat(b, "itl_ms", s => F(s.P99)),
            Stat(b, "e2e_ms", s => F(s.P50)),
            Stat(b, "output_tokens_per_s", s => F(s.P50)),
            Percent(b.Goodput.Ratio),
            b.Grading is { } g ? Percent(g.PassRate) + Interval(g) : "–",
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
