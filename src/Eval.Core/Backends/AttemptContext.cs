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
    /// When the request arrived, as a timestamp of the backend's <see cref="TimeProvider"/> (set by serve-sim): a simulated
    /// backend starts its schedule there, so the server's own parsing before the call does not push the first token back.
    /// </summary>
    public const string ArrivalKey = "spark.arrival";

    public static BenchTask? Task(ChatOptions? options) =>
        options?.AdditionalProperties is { } p && p.TryGetValue(TaskKey, out var v) ? v as BenchTask : null;

    public static int Seed(ChatOptions? options) =>
        options?.AdditionalProperties is { } p && p.TryGetValue(SeedKey, out var v) && v is int s ? s : 0;

    /// <summary>The arrival timestamp (<see cref="ArrivalKey"/>), when set and not later than <paramref name="now"/>; else <paramref name="now"/>.</summary>
    public static long ScheduleStart(ChatOptions? options, long now) =>
        options?.AdditionalProperties is { } p && p.TryGetValue(ArrivalKey, out var v) && v is long arrival && arrival > 0 && arrival <= now ? arrival : now;
}
