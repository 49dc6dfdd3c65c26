using System.Text.Json.Serialization;
using Spark.Eval.Core.Timing;

namespace Spark.Eval.Core.Results;

/// <summary>How generation of one attempt ended (grading is separate).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<AttemptStatus>))]
public enum AttemptStatus
{
    [JsonStringEnumMemberName("ok")] Ok,
    [JsonStringEnumMemberName("error")] Error,
    [JsonStringEnumMemberName("timeout")] Timeout,
    [JsonStringEnumMemberName("cancelled")] Cancelled,
}

/// <summary>
/// The planned slot an attempt fills: one task, one backend, one repeat (warm-ups have their own slots). In a session run
/// (<c>run --sessions</c>) <see cref="Session"/> names the interaction (group/s&lt;session&gt;/t&lt;task-in-session&gt;/r&lt;turn&gt;), so each is unique.
/// </summary>
public sealed record SlotKey(string TaskId, string Backend, int Repeat, bool Warmup = false, string? Session = null)
{
    public override string ToString() => Warmup ? $"warmup/{Backend}/{TaskId}/{Repeat}"
        : Session is null ? $"{Backend}/{TaskId}/{Repeat}" : $"{Backend}/{TaskId}/{Repeat}@{Session}";
}

/// <summary>The generation outcome: status, and for failures an error class and message.</summary>
public sealed record AttemptOutcome(AttemptStatus Status, string? ErrorClass = null, string? Message = null)
{
    public static readonly AttemptOutcome Ok = new(AttemptStatus.Ok);
}

/// <summary>Token counts from the backend's usage report and from the client tokenizer, side by side.</summary>
public sealed record TokenCounts
{
    /// <summary>Output tokens the backend reported (reasoning included, as OpenAI counts them); null when it reported none.</summary>
    public long? OutputUsage { get; init; }
    public long? InputUsage { get; init; }
    public long? ReasoningUsage { get; init; }
    /// <summary>Answer tokens counted by the client tokenizer on the received answer text.</summary>
    public long OutputTokenizer { get; init; }
    public long InputTokenizer { get; init; }
    /// <summary>Which tokenizer counted (for example o200k_base) and whether it is exact for this model.</summary>
    public required string Tokenizer { get; init; }

    /// <summary>Answer tokens used by the metrics: usage output minus usage reasoning when reported, else the tokenizer count.</summary>
    [JsonIgnore]
    public long AnswerTokens => OutputUsage is { } o ? Math.Max(0, o - (ReasoningUsage ?? 0)) : OutputTokenizer;

    /// <summary>Where <see cref="AnswerTokens"/> came from: "usage" or "tokenizer".</summary>
    public string Source => OutputUsage is null ? "tokenizer" : "usage";

    /// <summary>usage − tokenizer for the answer, null without usage.</summary>
    public long? Discrepancy => OutputUsage is { } o ? Math.Max(0, o - (ReasoningUsage ?? 0)) - OutputTokenizer : null;
}

/// <summary>One request of one task to one backend, with its raw timed events: the source of truth for every metric.</summary>
public sealed record AttemptRecord
{
    public int FormatVersion { get; init; } = ResultsFormat.Version;
    /// <summary>Order in which attempts were started within the run (resumes continue the count).</summary>
    public long Sequence { get; init; }
    public required SlotKey Slot { get; init; }
    public string? TaskKind { get; init; }
    public string? Language { get; init; }
    /// <summary>Open loop: when the plan scheduled the request, in µs since the run's start; null in closed loop.</summary>
    public long? ScheduledUs { get; init; }
    /// <summary>When the request was handed to the backend, in µs since the run's start.</summary>
    public long StartUs { get; init; }
    /// <summary>StartUs − ScheduledUs in open loop: how late the harness sent the request.</summary>
    public long? ScheduleLagUs => ScheduledUs is { } s ? StartUs - s : null;
    [JsonConverter(typeof(StreamEventsJsonConverter))]
    public required IReadOnlyList<StreamEvent> Events { get; init; }
    public required AttemptOutcome Outcome { get; init; }
    public required string Answer { get; init; }
    public string? Reasoning { get; init; }
    public required TokenCounts Tokens { get; init; }
    public string? ModelReported { get; init; }
    public int Retries { get; init; }
    /// <summary>
    /// Harness overhead before the attempt's start, ms: the wait from its hand-over to the backend's start thread (the openai
    /// backend's send thread) to its start stamp; in no latency (docs/metrics.md, <c>start_wait_ms</c>). Null when it began where called.
    /// </summary>
    public double? StartWaitMs { get; init; }
    /// <summary>Of <see cref="Retries"/>, those made at once on a fresh connection after a stale pooled keep-alive connection; null when none.</summary>
    public int? StaleConnectionRetries { get; init; }
    /// <summary>True when the answer came from a simulated backend: its timings are simulated, not measured.</summary>
    public bool Simulated { get; init; }
    /// <summary>Filled in by grading (a later step, never on the measured path); null until graded.</summary>
    public AttemptGrade? Grade { get; init; }
    /// <summary>Where this attempt sits in a developer session (<c>run --sessions</c>); null in a plain run.</summary>
    public Sessions.SessionTurn? Session { get; init; }
}

/// <summary>Format versions of the run directory's files (docs/formats.md).</summary>
public static class ResultsFormat
{
    /// <summary>2: typed grades (<see cref="AttemptGrade"/>), per-backend load in the plan. 1: the first format, still read.</summary>
    public const int Version = 2;

    /// <summary>The oldest version this build reads.</summary>
    public const int OldestReadable = 1;

    /// <summary>Throws a clear error for a file written by a newer spark-eval.</summary>
    public static void CheckReadable(int version, string path, int? line)
    {
        if (version > Version)
        {
            throw InputException.At(path, line, "formatVersion", $"format version {version} is newer than this spark-eval reads (up to {Version})",
                "read it with the spark-eval that wrote it, or update spark-eval");
        }
    }
}
