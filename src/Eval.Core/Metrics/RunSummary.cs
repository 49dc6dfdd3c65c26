using Spark.Eval.Core.Results;

namespace Spark.Eval.Core.Metrics;

/// <summary>Every summary figure of a run, computed from attempts.jsonl alone.</summary>
public sealed record RunSummary
{
    public int FormatVersion { get; init; } = ResultsFormat.Version;
    public required string RunId { get; init; }
    public required IReadOnlyList<BackendSummary> Backends { get; init; }
    public IReadOnlyList<string> Notes { get; init; } = [];
    /// <summary>Developer sessions per arm (<c>run --sessions</c>, docs/formats.md "summary.json → sessions"); absent for a run without sessions.</summary>
    public SessionsSummary? Sessions { get; init; }
}

/// <summary>The summary of one backend's measured (non-warm-up) attempts.</summary>
public sealed record BackendSummary
{
    public required string Backend { get; init; }
    public bool Simulated { get; init; }
    public required AttemptCounts Counts { get; init; }
    /// <summary>(error + timeout) / (ok + error + timeout). Cancelled attempts are counted apart.</summary>
    public double ErrorRate { get; init; }
    /// <summary>First request start to last stream end over measured attempts, in seconds.</summary>
    public double DurationSeconds { get; init; }
    /// <summary>ok attempts / duration.</summary>
    public double RequestThroughputRps { get; init; }
    /// <summary>Answer tokens of ok attempts / duration.</summary>
    public double OutputTokenThroughputTps { get; init; }
    public required GoodputSummary Goodput { get; init; }
    /// <summary>Distributions by metric name (ttft_ms, e2e_ms, itl_ms, …), over ok attempts.</summary>
    public required IReadOnlyDictionary<string, LatencyStatistics> Metrics { get; init; }
    public required TokenSummary Tokens { get; init; }
    /// <summary>Failed attempts by error class.</summary>
    public IReadOnlyDictionary<string, int> ErrorClasses { get; init; } = new Dictionary<string, int>();
    /// <summary>Pass rates from the attempts' grades (spark-eval grade); null when nothing is graded.</summary>
    public GradingSummary? Grading { get; init; }
    /// <summary>How the waits would feel to a developer: response-time bands and the wait per passing answer.</summary>
    public FlowSummary? Flow { get; init; }
}

/// <summary>
/// Developer-flow figures over measured, decided attempts (ok + error + timeout); a failed attempt is never in
/// flow. Bands follow the classic response-time limits (0.1 s feels instant, 1 s keeps the flow of thought,
/// 10 s keeps attention); formulas in docs/metrics.md.
/// </summary>
public sealed record FlowSummary
{
    /// <summary>Attempts in the denominator: ok + error + timeout.</summary>
    public int Decided { get; init; }
    /// <summary>ok attempts whose first token came within <see cref="FlowThresholds.InstantMs"/> / decided.</summary>
    public double InstantFeedbackRatio { get; init; }
    /// <summary>ok attempts whose whole answer (E2E) came within <see cref="FlowThresholds.FlowMs"/> / decided.</summary>
    public double InFlowRatio { get; init; }
    /// <summary>ok attempts whose whole answer came within <see cref="FlowThresholds.AttentionMs"/> / decided.</summary>
    public double AttentionKeptRatio { get; init; }
    /// <summary>1 − attention-kept ratio: failed attempts and answers slower than the attention limit.</summary>
    public double FlowBreakRatio { get; init; }
    /// <summary>Σ waits of decided attempts (E2E including retries, or time to failure) / decided, in seconds.</summary>
    public double MeanWaitSeconds { get; init; }
    /// <summary>Σ waits of decided attempts / passed attempts, in seconds: the expected wait per correct answer when a developer retries until one passes. Null when ungraded or nothing passed.</summary>
    public double? WaitPerPassSeconds { get; init; }
}

/// <summary>The response-time limits the flow bands use, in milliseconds.</summary>
public static class FlowThresholds
{
    /// <summary>0.1 s: the limit for feeling that the system reacts instantaneously.</summary>
    public const double InstantMs = 100;
    /// <summary>1 s: the limit for the user's flow of thought to stay uninterrupted.</summary>
    public const double FlowMs = 1_000;
    /// <summary>10 s: the limit for keeping the user's attention on the task.</summary>
    public const double AttentionMs = 10_000;
}

/// <summary>How many attempts ended how.</summary>
public sealed record AttemptCounts(int Measured, int Ok, int Error, int Timeout, int Cancelled, int WarmupExcluded);

/// <summary>
/// Attempts that succeeded and met every given SLO; failures count against it. Without an SLO (<see cref="SloSet"/> false)
/// Ratio and Rps only restate the ok share: reports print "–" for them and summary.csv leaves them empty.
/// </summary>
public sealed record GoodputSummary(SloSpec Slo, int GoodAttempts, double Ratio, double Rps)
{
    /// <summary>True when at least one SLO target was given; only then is goodput a figure of its own.</summary>
    public bool SloSet => Slo.IsSet;
}

/// <summary>Token totals and the usage-versus-tokenizer discrepancy.</summary>
public sealed record TokenSummary(long AnswerTokens, long InputTokens, long ReasoningTokens, string Source, long? DiscrepancyTotal, double? DiscrepancyRelative, string Tokenizer);
