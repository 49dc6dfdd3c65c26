namespace Spark.Eval.Simulator.Procurement;

/// <summary>One candidate deployment: a hardware profile serving a model at a precision and tensor-parallel degree.</summary>
public sealed record ProcurementCandidate
{
    public required string Hardware { get; init; }
    public required string Model { get; init; }
    /// <summary>Precision name; the model's default precision when absent.</summary>
    public string? Precision { get; init; }
    public int TensorParallel { get; set; } = 1;
    /// <summary>A measured run directory (summary.json) whose pass rate replaces the simulated one.</summary>
    public string? QualityRunDirectory { get; init; }

    /// <summary>
    /// A run directory measured against the vendor's endpoint (<c>spark-eval run --backend 'openai?url=…'</c>) whose attempts
    /// replace the simulated latency, for a candidate bought by the token (the vendor sizes that fleet, so its latency from
    /// the developers' network is measured, not simulated); refused for a fleet priced by the device-hour.
    /// </summary>
    public string? LatencyRunDirectory { get; init; }

    /// <summary>Which backend of <see cref="LatencyRunDirectory"/> to read; needed only when the run measured several.</summary>
    public string? LatencyBackend { get; init; }

    /// <summary>
    /// A sweep measured against an endpoint of this hardware serving this model (<c>spark-eval run --sweep concurrency=…</c>):
    /// procure fits the hardware profile's constants to it, as <c>simulate calibrate --from-run</c> does, and simulates the
    /// candidate with the fitted profile, judged by its error on steps of the sweep left out of the fit inside what the sweep measured.
    /// </summary>
    public string? SweepRunDirectory { get; init; }

    /// <summary>Which backend of <see cref="SweepRunDirectory"/> to fit; needed only when the sweep measured several.</summary>
    public string? SweepBackend { get; init; }
}

/// <summary>What each developer asks of the assistant: interactions per hour, think time and request lengths.</summary>
public sealed record DeveloperDemand
{
    /// <summary>Assistant interactions per developer per working hour (default: an assumption, see ProcurementDefaults).</summary>
    public double InteractionsPerDeveloperHour { get; set; } = ProcurementDefaults.InteractionsPerDeveloperHour;
    /// <summary>Seconds a developer reads and edits between an answer and the next request.</summary>
    public double ThinkTimeSeconds { get; set; } = ProcurementDefaults.ThinkTimeSeconds;
    public int InputTokens { get; set; } = ProcurementDefaults.InputTokens;
    public int OutputTokens { get; set; } = ProcurementDefaults.OutputTokens;
    /// <summary>Working hours per developer-month, the hours in which demand arrives.</summary>
    public double WorkingHoursPerMonth { get; set; } = ProcurementDefaults.WorkingHoursPerMonth;
    /// <summary>Where the interaction rate and think time come from (a pilot report, a survey); null: the plan's own figures or the defaults.</summary>
    public string? Source { get; set; }
}

/// <summary>Service-level objectives of a procurement plan: tail latencies and the share of interactions that keep a developer in flow.</summary>
public sealed record ProcurementSlo
{
    public double? TtftP99Ms { get; set; } = ProcurementDefaults.TtftP99Ms;
    public double? TpotP99Ms { get; set; } = ProcurementDefaults.TpotP99Ms;
    /// <summary>p99 of the whole answer (first byte to last token, as the client sees it), ms.</summary>
    public double? AnswerP99Ms { get; init; }
    /// <summary>Smallest acceptable share of interactions in flow (0..1).</summary>
    public double? MinShareInFlow { get; set; } = ProcurementDefaults.MinShareInFlow;
    /// <summary>An interaction is in flow when its first token arrives within this many ms ...</summary>
    public double FlowTtftMs { get; set; } = ProcurementDefaults.FlowTtftMs;
    /// <summary>... and its whole answer within this many ms.</summary>
    public double FlowAnswerMs { get; set; } = ProcurementDefaults.FlowAnswerMs;
}

/// <summary>A per-token API price for a hardware × model pair whose vendor sells tokens, not device-hours.</summary>
public sealed record TokenPrice
{
    public required string Hardware { get; init; }
    public required string Model { get; init; }
    public double UsdPerMillionInputTokens { get; init; }
    public double UsdPerMillionOutputTokens { get; init; }
    public required string Source { get; init; }
    public required string Date { get; init; }
}

/// <summary>A procurement plan file (format version 1): developers, their demand, the SLOs and the candidates to compare.</summary>
public sealed record ProcurementPlan
{
    public int FormatVersion { get; init; }
    public string Name { get; set; } = "procurement";
    public int Developers { get; init; }
    public DeveloperDemand Demand { get; set => field = value ?? new(); } = new();
    public ProcurementSlo Slo { get; set => field = value ?? new(); } = new();
    public IReadOnlyList<ProcurementCandidate> Candidates { get; init => field = value ?? []; } = [];
    public IReadOnlyList<TokenPrice> TokenPrices { get; init => field = value ?? []; } = [];
    /// <summary>Hours per month a device-hour-priced fleet is paid for (730 = always on, on demand).</summary>
    public double FleetHoursPerMonth { get; set; } = ProcurementDefaults.FleetHoursPerMonth;
    public int Seed { get; set; } = 1;
}

/// <summary>Defaults of a procurement plan, each with the reason it has this value (docs/simulator.md, Procurement).</summary>
public static class ProcurementDefaults
{
    /// <summary>Assumption (no published per-developer rate of chat-style coding-assistant requests was found): one request every 5 minutes. Replace with pilot telemetry.</summary>
    public const double InteractionsPerDeveloperHour = 12;
    /// <summary>Assumption: reading and editing between an answer and the next request.</summary>
    public const double ThinkTimeSeconds = 30;
    public const int InputTokens = 2048;
    public const int OutputTokens = 256;
    /// <summary>8 h × 20 working days.</summary>
    public const double WorkingHoursPerMonth = 160;
    /// <summary>8,760 h / 12: an always-on on-demand fleet.</summary>
    public const double FleetHoursPerMonth = 730;
    /// <summary>Nielsen, "Response Times: The 3 Important Limits" (1993): 1.0 s keeps the user's flow of thought uninterrupted.</summary>
    public const double FlowTtftMs = 1000;
    /// <summary>Nielsen (1993): 10 s is the limit for keeping the user's attention on the dialogue.</summary>
    public const double FlowAnswerMs = 10_000;
    public const double TtftP99Ms = 1000;
    /// <summary>50 ms per token = 20 tokens/s, faster than reading speed.</summary>
    public const double TpotP99Ms = 50;
    public const double MinShareInFlow = 0.9;
    public const string FlowSource = "https://www.nngroup.com/articles/response-times-3-important-limits/";
}
