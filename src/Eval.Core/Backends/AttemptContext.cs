using Microsoft.Extensions.AI;
using Spark.Eval.Core.Tasks;

namespace Spark.Eval.Core.Backends;

/// <summary>Keys under which the runner passes per-attempt data to backends through <see cref="ChatOptions.AdditionalProperties"/>.</summary>
public static class AttemptContext
{
    /// <summary>The <see cref="BenchTask"/> being attempted; only simulated backends read it (to pick an answer).</summary>
    public const string TaskKey = "spark.task";

    /// <summary>The attempt's seed, derived from the run seed and the slot, for backends that draw random numbers.</summary>
    public const string SeedKey = "spark.seed";

    /// <summary>
    /// The attempt's answer seed, derived from the run seed, the task and the repeat but not the backend: a simulated model
    /// draws its answer from it, so the same model gives the same answers on every hardware profile (issue #18).
    /// </summary>
    public const string AnswerSeedKey = "spark.answer-seed";

    /// <summary>
    /// When the request arrived, as a timestamp of the backend's <see cref="TimeProvider"/> (set by serve-sim): a simulated
    /// backend starts its schedule there, so the server's own parsing before the call does not push the first token back.
    /// </summary>
    public const string ArrivalKey = "spark.arrival";

    /// <summary>
    /// Set (to true) by a caller that reads each streamed update only until it asks for the next one and keeps none (the runner):
    /// a backend may then yield one update instance per stream, its text changed for each token, instead of a new update per token
    /// (hwsim in virtual time streams ~8 M tokens for 100 developer-days). Every layer between them must keep no update either.
    /// </summary>
    public const string TransientUpdatesKey = "spark.transient-updates";

    /// <summary>Whether the caller allowed a backend to reuse one update instance per stream (<see cref="TransientUpdatesKey"/>).</summary>
    public static bool TransientUpdates(ChatOptions? options) =>
        options?.AdditionalProperties is { } p && p.TryGetValue(TransientUpdatesKey, out var v) && v is true;

    /// <summary>
    /// Set (to true) by a caller that only drives the stream and reads nothing of its updates, the timing layer recording them (the
    /// runner, when no first-token timer waits for the first update): <see cref="Timing.TimingChatClient"/> may then let a backend hand
    /// it text chunks without updates (<see cref="Timing.ITextStreamSource"/>).
    /// </summary>
    public const string UnreadUpdatesKey = "spark.unread-updates";

    /// <summary>
    /// Set (to true) by the runner on an attempt with a scheduled start (open loop, sessions in real time): its own dispatcher
    /// starts it at its due time and its lateness is measured as schedule lag, so the timing layer begins it where it is
    /// called, not on a backend's start thread (<see cref="Timing.IAttemptStartThread"/>, which begins closed-loop attempts).
    /// </summary>
    public const string ScheduledKey = "spark.scheduled";

    /// <summary>Whether the attempt has a scheduled start (<see cref="ScheduledKey"/>).</summary>
    public static bool Scheduled(ChatOptions? options) =>
        options?.AdditionalProperties is { } p && p.TryGetValue(ScheduledKey, out var v) && v is true;

    /// <summary>Whether the caller reads no update (<see cref="UnreadUpdatesKey"/>).</summary>
    public static bool UnreadUpdates(ChatOptions? options) =>
        options?.AdditionalProperties is { } p && p.TryGetValue(UnreadUpdatesKey, out var v) && v is true;

    public static BenchTask? Task(ChatOptions? options) =>
        options?.AdditionalProperties is { } p && p.TryGetValue(TaskKey, out var v) ? v as BenchTask : null;

    public static int Seed(ChatOptions? options) =>
        options?.AdditionalProperties is { } p && p.TryGetValue(SeedKey, out var v) && v is int s ? s : 0;

    /// <summary>The answer seed when the runner passed one, else null (callers fall back to <see cref="Seed"/>).</summary>
    public static int? AnswerSeed(ChatOptions? options) =>
        options?.AdditionalProperties is { } p && p.TryGetValue(AnswerSeedKey, out var v) && v is int s ? s : null;

    /// <summary>FNV-1a over the run seed, the task id and the repeat: the same for every backend of the run.</summary>
    public static int AnswerSeedFor(int runSeed, string taskId, int repeat)
    {
        ArgumentNullException.ThrowIfNull(taskId);
        var hash = 2166136261u ^ (uint)runSeed;
        foreach (var ch in taskId)
        {
            hash = (hash ^ ch) * 16777619u;
        }

        hash = (hash ^ (uint)repeat) * 16777619u;
        return (int)(hash & 0x7FFFFFFF);
    }

    /// <summary>The arrival timestamp (<see cref="ArrivalKey"/>), when set and not later than <paramref name="now"/>; else <paramref name="now"/>.</summary>
    public static long ScheduleStart(ChatOptions? options, long now) =>
        options?.AdditionalProperties is { } p && p.TryGetValue(ArrivalKey, out var v) && v is long arrival && arrival > 0 && arrival <= now ? arrival : now;
}
