using Spark.Eval.Core.Tasks;

namespace Spark.Eval.Core.Sessions;

/// <summary>
/// Where an attempt sits in a developer session (<c>run --sessions</c>, issue #18); null on attempts of a plain run.
/// Recorded on <see cref="Results.AttemptRecord.Session"/> so that flow metrics, time-to-green and the routing comparison are
/// computed from the attempt log alone.
/// </summary>
public sealed record SessionTurn
{
    /// <summary>The developer: 0 … N−1.</summary>
    public required int Session { get; init; }
    /// <summary>Order of the task within the session, from 0.</summary>
    public required int TaskInSession { get; init; }
    /// <summary>0 for the first ask of a task; 1 … R for repair turns (the failure sent back in the same conversation).</summary>
    public required int Turn { get; init; }
    /// <summary>Think time the developer spent before sending this request (reading, editing, running tests), in µs of the run's clock (virtual for simulated backends).</summary>
    public long ThinkBeforeUs { get; init; }
    /// <summary>Grading time spent in the loop on this turn's answer, in µs of the run's clock; null when not graded in the loop.</summary>
    public long? GradingUs { get; init; }
    /// <summary>The routing policy's name; null when the session runs on one backend.</summary>
    public string? Policy { get; init; }
    /// <summary>Why this backend served this turn: "start", "rule:&lt;name&gt;", "escalate:failed_grade", "escalate:ttft_timeout".</summary>
    public string? RouteReason { get; init; }
}

/// <summary>What a routing policy sees of a task when it chooses the backend for its first turn.</summary>
public sealed record RouteRequest(BenchTask Task, int PromptTokens);

/// <summary>Why a turn escalates to another backend.</summary>
public enum EscalationCause
{
    /// <summary>The answer was graded and failed.</summary>
    FailedGrade,
    /// <summary>No first token within the policy's first-token timeout.</summary>
    FirstTokenTimeout,
}

/// <summary>
/// A routing policy (docs/formats.md, "Routing policy"): picks the backend for a task's first turn and, after a failed grade or
/// a first-token timeout, the backend to escalate to. Implementations are pure and deterministic (no clock, no randomness).
/// </summary>
public interface IRoutingPolicy
{
    string Name { get; }

    /// <summary>Backend names this policy may route to (each must be one of the run's backends).</summary>
    IReadOnlyList<string> Backends { get; }

    /// <summary>The backend for the task's first turn, and the reason ("start" or "rule:&lt;name&gt;").</summary>
    (string Backend, string Reason) Choose(RouteRequest request);

    /// <summary>The backend to escalate to from <paramref name="current"/> for <paramref name="cause"/>, or null to stay.</summary>
    string? Escalate(RouteRequest request, string current, EscalationCause cause);

    /// <summary>The first-token timeout after which a turn escalates, or null for none.</summary>
    TimeSpan? FirstTokenTimeout(string backend);
}
