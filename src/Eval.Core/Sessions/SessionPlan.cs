using System.Globalization;
using System.Text.Json.Serialization;

namespace Spark.Eval.Core.Sessions;

/// <summary>Which clock a session run advances: virtual (every backend simulated in process) or real.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<SessionClock>))]
public enum SessionClock
{
    /// <summary>A deterministic virtual clock (<see cref="VirtualTimeProvider"/>): arrivals, think time, grading and the simulator's batching advance it, so hours replay in seconds.</summary>
    [JsonStringEnumMemberName("virtual")] Virtual,

    /// <summary>Wall-clock time: think time is really waited (times <see cref="SessionPlanSpec.ThinkScale"/>).</summary>
    [JsonStringEnumMemberName("real")] Real,
}

/// <summary>
/// A session run's plan (docs/formats.md, "Sessions"): N developers per backend (and per routing policy), each a closed loop
/// of ask → answer → grade → think → ask again, for a session length. Recorded in the manifest so that resume replays it.
/// </summary>
public sealed record SessionPlanSpec
{
    /// <summary>Developers per group (each backend alone, and the routing policy when one is given).</summary>
    public required int Count { get; init; }
    /// <summary>A session starts no new task once this much of its clock has passed (a task under way finishes its turns).</summary>
    public double LengthSeconds { get; init; } = SessionDefaults.LengthSeconds;
    /// <summary>Think time is multiplied by this (real time only: compresses a developer's pauses for load tests).</summary>
    public double ThinkScale { get; init; } = 1;
    /// <summary>Repair turns after a failed grade: the failure goes back to the model in the same conversation, up to R more turns.</summary>
    public int RepairTurns { get; init; } = SessionDefaults.RepairTurns;
    /// <summary>The clock the run advances.</summary>
    public SessionClock Clock { get; init; } = SessionClock.Virtual;
    /// <summary>Where think times come from: "defaults" (docs/formats.md, "Sessions") or a think-time file.</summary>
    public string ThinkTimes { get; init; } = SessionDefaults.ThinkTimesSource;
    /// <summary>SHA-256 of the think-time file (resume refuses a changed file); null for the defaults.</summary>
    public string? ThinkTimesSha256 { get; init; }
    /// <summary>The routing policy file, run beside each backend alone; null when none.</summary>
    public string? Policy { get; init; }
    /// <summary>SHA-256 of the policy file when the run was planned.</summary>
    public string? PolicySha256 { get; init; }

    /// <summary>One line for people.</summary>
    public string Describe() => string.Create(CultureInfo.InvariantCulture,
        $"{Count} sessions × {SessionDefaults.FormatDuration(LengthSeconds)}, think times {ThinkTimes}{(ThinkScale != 1 ? $" × {ThinkScale}" : "")}, {RepairTurns} repair turns, {(Clock == SessionClock.Virtual ? "virtual time" : "real time")}");

    /// <summary>Checks the values (exit 2 with the flag and the fix).</summary>
    public void Validate()
    {
        static void Require(bool ok, string problem)
        {
            if (!ok)
            {
                throw new InputException(problem);
            }
        }

        Require(Count is >= 1 and <= SessionDefaults.MaxSessions, $"--sessions {Count}: must be from 1 to {SessionDefaults.MaxSessions}. Fix: give a positive count of developers");
        Require(double.IsFinite(LengthSeconds) && LengthSeconds > 0 && LengthSeconds <= SessionDefaults.MaxLengthSeconds,
            $"--session-length {LengthSeconds} s: must be > 0 and at most {SessionDefaults.MaxLengthSeconds / 3600} h. Fix: give e.g. 30m, 1h or 8h");
        Require(double.IsFinite(ThinkScale) && ThinkScale >= 0 && ThinkScale <= 1000, $"--think-scale {ThinkScale}: must be a finite number from 0 to 1000. Fix: use 1 for real think times, 0.01 to compress them 100 times");
        Require(RepairTurns is >= 0 and <= SessionDefaults.MaxRepairTurns, $"--repair-turns {RepairTurns}: must be from 0 to {SessionDefaults.MaxRepairTurns}. Fix: give 0 (no repair) to {SessionDefaults.MaxRepairTurns}");
    }
}

/// <summary>Defaults and bounds of a session run (docs/formats.md, "Sessions").</summary>
public static class SessionDefaults
{
    public const double LengthSeconds = 3600;
    public const int RepairTurns = 2;
    public const int MaxSessions = 10_000;
    public const int MaxRepairTurns = 20;
    public const double MaxLengthSeconds = 7 * 86_400;
    public const string ThinkTimesSource = "defaults";

    /// <summary>Characters of the failure text sent back on a repair turn (docs/formats.md, "Sessions"): the first 1,500 and the last 500.</summary>
    public const int FailureHeadChars = 1_500;
    public const int FailureTailChars = 500;

    /// <summary>Parses a session length: a number of seconds, or with a unit s, m, h (e.g. 90s, 30m, 1h, 1.5h).</summary>
    public static double ParseLength(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var t = text.Trim();
        var unit = t.Length > 0 && char.IsLetter(t[^1]) ? char.ToLowerInvariant(t[^1]) : 's';
        var number = char.IsLetter(t.Length > 0 ? t[^1] : '0') ? t[..^1] : t;
        var factor = unit switch { 's' => 1.0, 'm' => 60.0, 'h' => 3600.0, _ => double.NaN };
        if (double.IsNaN(factor) || !double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value))
        {
            throw new InputException($"--session-length {text}: not a duration. Fix: give seconds or a number with s, m or h, e.g. 45m or 8h");
        }

        return value * factor;
    }

    /// <summary>"1h", "30m", "45s" or "1.5h" for people.</summary>
    public static string FormatDuration(double seconds) =>
        seconds >= 3600 && seconds % 360 == 0 ? string.Create(CultureInfo.InvariantCulture, $"{seconds / 3600:0.#}h")
        : seconds >= 60 && seconds % 6 == 0 ? string.Create(CultureInfo.InvariantCulture, $"{seconds / 60:0.#}m")
        : string.Create(CultureInfo.InvariantCulture, $"{seconds:0.###}s");
}
