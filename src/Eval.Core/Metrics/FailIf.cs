using System.Globalization;

namespace Spark.Eval.Core.Metrics;

/// <summary>One --fail-if threshold such as ttft_p99_ms&gt;800: the run exits 1 when any backend meets it.</summary>
public sealed record Threshold(string Metric, string Operator, double Value)
{
    private static readonly string[] Operators = [">=", "<=", ">", "<"];

    private static readonly string[] Stems =
        ["ttft", "ttft_any", "response_headers", "e2e", "e2e_with_retries", "tpot", "itl", "schedule_lag"];

    private static readonly string[] Stats = ["mean", "p50", "p90", "p95", "p99", "max"];

    /// <summary>Every name a threshold may use.</summary>
    public static IReadOnlySet<string> KnownMetrics { get; } = BuildKnown();

    public static IReadOnlyList<Threshold> ParseList(string? text)
    {
        if (text is null)
        {
            return [];
        }

        // An empty or blank --fail-if would silently disable the gate: refuse it.
        if (string.IsNullOrWhiteSpace(text) || text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Length == 0)
        {
            throw new InputException("--fail-if is empty: it would gate nothing. Fix: write metric>value, for example ttft_p99_ms>800, or leave --fail-if out");
        }

        var result = new List<Threshold>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var op = Operators.FirstOrDefault(o => part.Contains(o, StringComparison.Ordinal))
                ?? throw new InputException($"--fail-if '{part}': no comparison. Fix: write metric>value, for example ttft_p99_ms>800");
            var at = part.IndexOf(op, StringComparison.Ordinal);
            var metric = part[..at].Trim();
            var raw = part[(at + op.Length)..].Trim();
            if (!KnownMetrics.Contains(metric))
            {
                throw new InputException($"--fail-if '{part}': unknown metric '{metric}'. Fix: use a name from docs/metrics.md, e.g. ttft_p99_ms, itl_p99_ms, error_rate, goodput_ratio");
            }

            if (!double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value))
            {
                throw new InputException($"--fail-if '{part}': '{raw}' is not a finite number. Fix: write a plain number such as 800 or 0.02");
            }

            result.Add(new Threshold(metric, op, value));
        }

        return result;
    }

    /// <summary>The breaches: one line per backend and threshold that tripped.</summary>
    public static IReadOnlyList<string> Evaluate(IReadOnlyList<Threshold> thresholds, RunSummary summary) =>
        [.. Cases(thresholds, summary).Where(c => c.Status == GateStatus.Failed).Select(c => $"{c.Backend}: {c.Detail}")];

    /// <summary>Every backend × threshold as a gate case (JUnit, step summary), failed ones with the numbers.</summary>
    public static IReadOnlyList<GateCase> Cases(IReadOnlyList<Threshold> thresholds, RunSummary summary)
    {
        ArgumentNullException.ThrowIfNull(thresholds);
        ArgumentNullException.ThrowIfNull(summary);
        var cases = new List<GateCase>();
        foreach (var backend in summary.Backends)
        {
            var scalars = SummaryCalculator.Scalars(backend);
            foreach (var t in thresholds)
            {
                // A metric with no samples (every attempt failed) cannot pass a latency threshold.
                cases.Add(!scalars.TryGetValue(t.Metric, out var actual)
                    ? new GateCase(backend.Backend, t.Metric, GateStatus.Failed, $"{t.Metric} has no value (no successful attempt), threshold {t}")
                    : t.IsBreachedBy(actual)
                        ? new GateCase(backend.Backend, t.Metric, GateStatus.Failed, $"{t.Metric} = {SummaryCalculator.Format(actual)} breaches {t}")
                        : new GateCase(backend.Backend, t.Metric, GateStatus.Passed, $"{t.Metric} = {SummaryCalculator.Format(actual)} within {t}"));
            }
        }

        return cases;
    }

    public bool IsBreachedBy(double actual) => Operator switch
    {
        ">" => actual > Value,
        ">=" => actual >= Value,
        "<" => actual < Value,
        "<=" => actual <= Value,
        _ => false,
    };

    public override string ToString() => $"{Metric}{Operator}{Value.ToString(CultureInfo.InvariantCulture)}";

    private static HashSet<string> BuildKnown()
    {
        var known = new HashSet<string>(StringComparer.Ordinal)
        {
            "error_rate", "request_throughput_rps", "output_token_throughput_tps", "goodput_ratio", "goodput_rps", "pass_rate",
            "flow_instant_feedback_ratio", "flow_in_flow_ratio", "flow_attention_kept_ratio", "flow_break_ratio", "flow_mean_wait_s", "flow_wait_per_pass_s",
            "attempts_ok", "attempts_failed", "attempts_cancelled", "duration_s",
        };
        foreach (var stem in Stems)
        {
            foreach (var stat in Stats)
            {
                known.Add($"{stem}_{stat}_ms");
            }
        }

        foreach (var stem in new[] { "output_tokens_per_s", "output_tokens" })
        {
            foreach (var stat in Stats)
            {
                known.Add($"{stem}_{stat}");
            }
        }

        return known;
    }
}

/// <summary>How one gated check ended.</summary>
public enum GateStatus
{
    /// <summary>The check ran and the metric is within its limit.</summary>
    Passed,

    /// <summary>The check ran and the metric breached its limit (a threshold or a significant regression).</summary>
    Failed,

    /// <summary>The check could not be decided (too few samples, nothing graded).</summary>
    Skipped,
}

/// <summary>One gated check: one backend × one metric, with the numbers behind its status in <paramref name="Detail"/>.</summary>
public sealed record GateCase(string Backend, string Metric, GateStatus Status, string Detail);
