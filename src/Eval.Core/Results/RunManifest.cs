namespace Spark.Eval.Core.Results;

/// <summary>What a run was, where and how: enough to reproduce, resume and recompute it.</summary>
public sealed record RunManifest
{
    public int FormatVersion { get; init; } = ResultsFormat.Version;
    public required string RunId { get; init; }
    public required string HarnessVersion { get; init; }
    public required RunPlanSpec Plan { get; init; }
    public required SuiteInfo Suite { get; init; }
    public required IReadOnlyList<BackendInfo> Backends { get; init; }
    public required EnvironmentInfo Environment { get; init; }
    public required DateTimeOffset StartedUtc { get; init; }
    public DateTimeOffset? EndedUtc { get; init; }
    /// <summary>How the run ended: completed, interrupted, duration_reached, failed.</summary>
    public string? Status { get; init; }
    public int Resumes { get; init; }
    /// <summary>The sandbox isolation grading reached (bubblewrap+rlimits+cgroup…, trusted-only, or unsandboxed); null until graded.</summary>
    public string? SandboxIsolation { get; init; }
    /// <summary>When grading ran relative to generation (after or concurrent) and why (docs/grading.md); null until graded.</summary>
    public GradingInfo? Grading { get; init; }
    /// <summary>The judge backend that graded explain answers beside the rubric (docs/grading.md); null when none was configured.</summary>
    public JudgeInfo? Judge { get; init; }
    /// <summary>Warnings about the run's trustworthiness found at its end (for example a truncated prompt); null when none.</summary>
    public IReadOnlyList<string>? Warnings { get; init; }
}

/// <summary>How a run was graded: the mode, the rule that chose it, and the queue's capacity and parallelism.</summary>
public sealed record GradingInfo(string Mode, string Reason, int QueueCapacity, int Parallelism);

/// <summary>The judge configuration of a run: backend, prompt version, combine rule and retry bound.</summary>
public sealed record JudgeInfo(string Spec, string Name, string Kind, bool Simulated, string? Model, string Prompt, string Combine, int MaxTries);

/// <summary>The plan as the user gave it, resolved to concrete values; resume re-reads it from here.</summary>
public sealed record RunPlanSpec
{
    public required string SuitePath { get; init; }
    public required IReadOnlyList<string> BackendSpecs { get; init; }
    public int Repeats { get; init; } = 1;
    public int Warmup { get; init; }
    public int Concurrency { get; init; } = 1;
    /// <summary>Open-loop rate in requests/s; null for closed loop.</summary>
    public double? Rate { get; init; }
    public string Arrival { get; init; } = "poisson";
    public double Burstiness { get; init; } = 1.0;
    public int Seed { get; init; }
    public double? DurationSeconds { get; init; }
    public double TimeoutSeconds { get; init; } = 120;
    public double Temperature { get; init; }
    /// <summary>Cap on output tokens; when null each task's token budget applies.</summary>
    public int? MaxTokens { get; init; }
    public int? TaskLimit { get; init; }
    public SloSpec Slo { get; init; } = new();
    /// <summary>Trace replay: arrivals and answer lengths from a production trace (replaces closed loop and --rate); null otherwise.</summary>
    public TraceSpec? Trace { get; init; }
}

/// <summary>The trace a run replays: file, format, time scale, window and the file's hash (docs/formats.md).</summary>
public sealed record TraceSpec
{
    public required string Path { get; init; }
    /// <summary>azure or mooncake.</summary>
    public required string Format { get; init; }
    /// <summary>Timestamps are multiplied by this: 0.5 replays twice as fast.</summary>
    public double TimeScale { get; init; } = 1;
    public double? WindowStartSeconds { get; init; }
    public double? WindowEndSeconds { get; init; }
    /// <summary>SHA-256 of the trace file when the run was planned; resume refuses a changed file.</summary>
    public string? Sha256 { get; init; }
}

/// <summary>Service-level objectives used for goodput; null fields are not checked.</summary>
public sealed record SloSpec(double? TtftMs = null, double? TpotMs = null, double? E2eMs = null)
{
    /// <summary>True when at least one target is given.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public bool IsSet => TtftMs is not null || TpotMs is not null || E2eMs is not null;
}

/// <summary>The suite a run used, with the hash of its bytes.</summary>
public sealed record SuiteInfo(string Name, string Source, string Sha256, int TaskCount);

/// <summary>A backend as the run saw it.</summary>
public sealed record BackendInfo(string Name, string Spec, string Kind, string Description, bool Simulated, string? ModelReported = null);

/// <summary>The machine and software that produced a run.</summary>
public sealed record EnvironmentInfo(string Os, string Cpu, int Cores, string DotNet, string? GitCommit, string MachineName);
