using System.Globalization;
using System.Text.Json.Serialization;

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
    /// <summary>The part of the plan this run holds (<c>run --shard i/N</c>); null for a whole plan.</summary>
    public Running.ShardSpec? Shard { get; init; }
    /// <summary>SHA-256 of <see cref="Plan"/> (<see cref="Running.Sharding.PlanHash"/>), written with <see cref="Shard"/> and by merge: equal in every shard of one plan.</summary>
    public string? PlanHash { get; init; }
    /// <summary>The shard runs a merged run was made of (<c>spark-eval merge</c>), by shard index; null otherwise.</summary>
    public IReadOnlyList<MergedShard>? MergedFrom { get; init; }

    /// <summary>The load each backend got, for reports (format-1 runs shared one loop or schedule among their backends).</summary>
    public string DescribeLoad() => Plan.DescribeLoad(sharedLoop: FormatVersion < 2);
}

/// <summary>One shard of a merged run: its index, run id, directory (as given to merge), machine and status.</summary>
public sealed record MergedShard(int Index, string RunId, string Source, string MachineName, DateTimeOffset StartedUtc, DateTimeOffset? EndedUtc, int Attempts);

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
    /// <summary>How the backends share the run: one after another (default since format 2) or side by side; each has its own load either way. Absent in version-1 plans: interleaved.</summary>
    public BackendLoad Load { get; init; } = BackendLoad.Interleaved;
    /// <summary>Developer sessions with think time and repair turns (<c>run --sessions</c>, docs/formats.md "Sessions"); null for a plain run.</summary>
    public Sessions.SessionPlanSpec? Sessions { get; init; }

    /// <summary>Attempts the plan defines over <paramref name="taskCount"/> tasks: per backend, warm-ups plus tasks × repeats.</summary>
    public long PlannedAttempts(int taskCount) => (long)BackendSpecs.Count * (Warmup + ((long)taskCount * Repeats));

    /// <summary>One line for people: the load each backend gets and how backends share the run (<paramref name="sharedLoop"/>: a format-1 run, whose backends shared one loop or schedule).</summary>
    public string DescribeLoad(bool sharedLoop = false)
    {
        var each = Sessions is { } sessions ? sessions.Describe()
            : Rate is { } r
            ? string.Create(CultureInfo.InvariantCulture, $"open loop {r} req/s {Arrival}{(Arrival == "gamma" ? $" (burstiness {Burstiness})" : "")}")
            : string.Create(CultureInfo.InvariantCulture, $"closed loop × {Concurrency}");
        if (Sessions is { Policy: { } policy })
        {
            return $"{each}, for each backend alone and for the routing policy {policy}, {(Load == BackendLoad.Sequential ? "one after another" : "side by side (--interleave)")}";
        }

        return BackendSpecs.Count <= 1 ? each
            : sharedLoop ? $"{each} shared by all backends (format 1)"
            : Load == BackendLoad.Sequential ? $"{each} per backend, backends one after another"
            : $"{each} per backend, backends side by side (--interleave)";
    }

    /// <summary>Checks the plan's values and its size (docs/formats.md, run plan): bad input fails here, before anything is written.</summary>
    public void Validate(int taskCount)
    {
        static void Require(bool ok, string problem)
        {
            if (!ok)
            {
                throw new InputException(problem);
            }
        }

        Require(Repeats >= 1, $"--repeats {Repeats}: must be ≥ 1. Fix: give a positive count");
        Require(Warmup >= 0, $"--warmup {Warmup}: must be ≥ 0. Fix: give 0 or more");
        Require(Concurrency >= 1, $"--concurrency {Concurrency}: must be ≥ 1. Fix: give a positive count");
        Require(Concurrency <= RunPlanLimits.MaxConcurrency,
            $"--concurrency {Concurrency}: above the bound of {RunPlanLimits.MaxConcurrency} requests in flight per backend (docs/formats.md). Fix: use at most {RunPlanLimits.MaxConcurrency}, or run several shards");
        Require(Rate is null || (double.IsFinite(Rate.Value) && Rate > 0 && Rate <= RunPlanLimits.MaxRate), $"--rate {Rate}: must be a finite number > 0 and at most {RunPlanLimits.MaxRate:G} requests/s. Fix: give a positive rate, or drop --rate for closed loop");
        Require(Arrival is "poisson" or "gamma", $"--arrival {Arrival}: unknown arrival process. Fix: use poisson or gamma");
        Require(double.IsFinite(Burstiness) && Burstiness > 0, $"--burstiness {Burstiness}: must be a finite number > 0. Fix: use 1 for Poisson, 0.5 for bursty traffic");
        Require(DurationSeconds is null || (double.IsFinite(DurationSeconds.Value) && DurationSeconds > 0 && DurationSeconds <= RunPlanLimits.MaxDurationSeconds),
            $"--duration {DurationSeconds}: must be a finite number > 0 and at most {RunPlanLimits.MaxDurationSeconds} seconds. Fix: give a positive number of seconds");
        Require(double.IsFinite(TimeoutSeconds) && TimeoutSeconds > 0 && TimeoutSeconds <= RunPlanLimits.MaxTimeoutSeconds,
            $"--timeout {TimeoutSeconds}: must be > 0 and at most {RunPlanLimits.MaxTimeoutSeconds} seconds. Fix: give a positive number of seconds");
        Require(double.IsFinite(Temperature) && Temperature >= 0 && Temperature <= RunPlanLimits.MaxTemperature, $"--temperature {Temperature}: must be a finite number from 0 to {RunPlanLimits.MaxTemperature}. Fix: use 0 for greedy decoding");
        Require(Trace is null || (double.IsFinite(Trace.TimeScale) && Trace.TimeScale > 0 && Trace.TimeScale <= 1e6), $"--time-scale {Trace?.TimeScale}: must be a finite number > 0 and at most 1e6. Fix: use 1 to replay in real time, 0.5 for twice as fast");
        Require(Trace is null || ((Trace.WindowStartSeconds is null || (double.IsFinite(Trace.WindowStartSeconds.Value) && Trace.WindowStartSeconds >= 0))
            && (Trace.WindowEndSeconds is null || (double.IsFinite(Trace.WindowEndSeconds.Value) && Trace.WindowEndSeconds > 0))), "trace window: must be finite seconds ≥ 0. Fix: give the window in seconds from the trace's start");
        Require(MaxTokens is null or >= 1 && TaskLimit is null or >= 1, "--max-tokens/--tasks: must be ≥ 1. Fix: give a positive count");
        Require(Slo.TtftMs is null || (double.IsFinite(Slo.TtftMs.Value) && Slo.TtftMs > 0), "--slo-ttft-ms: must be a finite number > 0. Fix: give milliseconds");
        Require(Slo.TpotMs is null || (double.IsFinite(Slo.TpotMs.Value) && Slo.TpotMs > 0), "--slo-tpot-ms: must be a finite number > 0. Fix: give milliseconds");
        Require(Slo.E2eMs is null || (double.IsFinite(Slo.E2eMs.Value) && Slo.E2eMs > 0), "--slo-e2e-ms: must be a finite number > 0. Fix: give milliseconds");
        var attempts = PlannedAttempts(taskCount);
        Require(attempts <= RunPlanLimits.MaxPlannedAttempts,
            $"--repeats {Repeats}: the plan has {attempts:N0} attempts ({BackendSpecs.Count} backends × ({Warmup} warm-ups + {taskCount} tasks × {Repeats} repeats)), above the bound of {RunPlanLimits.MaxPlannedAttempts:N0} per run (docs/formats.md). Fix: lower --repeats or --tasks, or split the run into shards");
    }
}

/// <summary>How the backends of a run share its time; each backend has its own closed loop or open-loop schedule either way.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<BackendLoad>))]
public enum BackendLoad
{
    /// <summary>Side by side (<c>--interleave</c>): every backend's load runs at once.</summary>
    [JsonStringEnumMemberName("interleaved")] Interleaved,

    /// <summary>One after another (the default): no backend competes with another for this machine while it is measured.</summary>
    [JsonStringEnumMemberName("sequential")] Sequential,
}

/// <summary>Bounds on a run plan (docs/formats.md): above them a plan is refused at start-up with exit 2, not attempted.</summary>
public static class RunPlanLimits
{
    /// <summary>Requests in flight per backend in closed loop.</summary>
    public const int MaxConcurrency = 10_000;

    /// <summary>Attempts (warm-ups included) one run may plan; each is kept in memory while the run is summarised.</summary>
    public const long MaxPlannedAttempts = 1_000_000;

    /// <summary>Per-attempt timeout, seconds (one day).</summary>
    public const double MaxTimeoutSeconds = 86_400;

    /// <summary>A run's --duration, seconds (30 days; a timer cannot wait beyond about 49 days).</summary>
    public const double MaxDurationSeconds = 30 * 86_400;

    /// <summary>Open-loop arrival rate, requests/s per backend.</summary>
    public const double MaxRate = 1e7;

    /// <summary>Sampling temperature (any real backend accepts far less).</summary>
    public const double MaxTemperature = 100;
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

/// <summary>A backend as the run saw it; <paramref name="Price"/> when its cost is known (hwsim: the hardware profile's device-hour price).</summary>
public sealed record BackendInfo(string Name, string Spec, string Kind, string Description, bool Simulated, string? ModelReported = null, BackendPrice? Price = null);

/// <summary>
/// The machine and software that produced a run. <paramref name="SessionWakeClock"/>: sessions in real time only — the thread their
/// requests start on and the client's gen0 budget (docs/benchmarks.md, "256 sessions against serve-sim in real time").
/// <paramref name="ClientRuntime"/>: a run with a real-time remote backend — the gen0 budget the client ran under (docs/remote.md, "Send path").
/// </summary>
public sealed record EnvironmentInfo(string Os, string Cpu, int Cores, string DotNet, string? GitCommit, string MachineName, string? SessionWakeClock = null, string? ClientRuntime = null);
