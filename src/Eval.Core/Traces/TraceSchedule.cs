using Spark.Eval.Core.Results;
using Spark.Eval.Core.Running;
using Spark.Eval.Core.Tasks;

namespace Spark.Eval.Core.Traces;

/// <summary>
/// An arrival schedule from a trace: request i of the trace is sent at its timestamp to every backend, carrying
/// task i mod T (repeat i div T) and capped at the trace's output length. Trace order = send order.
/// </summary>
public static class TraceSchedule
{
    public static IReadOnlyList<PlannedSlot> Slots(RequestTrace trace, IReadOnlyList<BenchTask> tasks, IReadOnlyList<string> backends)
    {
        ArgumentNullException.ThrowIfNull(trace);
        ArgumentNullException.ThrowIfNull(tasks);
        ArgumentNullException.ThrowIfNull(backends);
        if (tasks.Count == 0)
        {
            throw new ArgumentException("no tasks", nameof(tasks));
        }

        var slots = new List<PlannedSlot>(trace.Requests.Count * backends.Count);
        for (var i = 0; i < trace.Requests.Count; i++)
        {
            var request = trace.Requests[i];
            var task = tasks[i % tasks.Count];
            for (var b = 0; b < backends.Count; b++)
            {
                // A zero-length answer cannot be timed: at least one token is asked for.
                slots.Add(new PlannedSlot(new SlotKey(task.Id, backends[b], i / tasks.Count), task, b, request.TimestampUs, Math.Max(1, request.OutputTokens)));
            }
        }

        return slots;
    }
}
