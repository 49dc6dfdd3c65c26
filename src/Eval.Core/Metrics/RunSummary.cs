using Spark.Eval.Core.Results;

namespace Spark.Eval.Core.Metrics;

/// <summary>Every summary figure of a run, computed from attempts.jsonl alone.</summary>
public sealed record RunSummary
{
    public int FormatVersion { get; init; } = ResultsFormat.Version;
    public required string RunId { get; init; }
    public required IReadOnlyList<BackendSummary> Backends { get; init; }
    public IReadOnlyList<string> Notes { get; init; } = [];
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
}

/// <summary>How many attempts ended how.</summary>
public sealed record AttemptCounts(int Measured, int Ok, int Error, int Timeout, int Cancelled, int WarmupExcluded);

/// <summary>Attempts that succeeded and met every given SLO; failures count against it.</summary>
public sealed record GoodputSummary(SloSpec Slo, int GoodAttempts, double Ratio, double Rps);

/// <summary>Token totals and the usage-versus-tokenizer discrepancy.</summary>
public sealed record TokenSummary(long AnswerTokens, long InputTokens, long ReasoningTokens, string Source, long? DiscrepancyTotal, double? DiscrepancyRelative, string Tokenizer);
