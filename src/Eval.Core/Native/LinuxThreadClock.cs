using System.Globalization;
using System.Runtime.InteropServices;

namespace Spark.Eval.Core.Native;

/// <summary>
/// The two Linux calls the real-time reader threads share (the client's receive thread, serve-sim's arrival thread): raising
/// the calling thread to <c>SCHED_FIFO</c>, and converting a kernel socket stamp (CLOCK_REALTIME) to the harness's clock
/// (CLOCK_MONOTONIC, which <see cref="TimeProvider.System"/> reads in nanoseconds on Linux).
/// </summary>
public static partial class LinuxThreadClock
{
    private const int SchedFifo = 1;
    private const int ClockRealtime = 0;
    private const int ClockMonotonic = 1;

    /// <summary>Puts the calling thread at <c>SCHED_FIFO</c> <paramref name="priority"/>; returns how it runs, for the description lines.</summary>
#pragma warning disable CA1031 // Any failure to raise the priority is reported and the thread runs at normal priority.
    public static string RaiseToFifo(int priority)
    {
        try
        {
            var param = priority;
            return SchedSetScheduler(GetTid(), SchedFifo, ref param) == 0
                ? string.Create(CultureInfo.InvariantCulture, $"SCHED_FIFO priority {priority}")
                : string.Create(CultureInfo.InvariantCulture, $"normal priority (SCHED_FIFO refused, errno {Marshal.GetLastPInvokeError()}: needs root or CAP_SYS_NICE)");
        }
        catch (Exception ex)
        {
            return $"normal priority ({ex.GetType().Name})";
        }
    }
#pragma warning restore CA1031

    /// <summary>CLOCK_MONOTONIC now, in nanoseconds (0 if the call fails).</summary>
    public static long MonotonicNs() => ClockNs(ClockMonotonic);

    /// <summary>CLOCK_REALTIME now, in nanoseconds (0 if the call fails): the clock of the kernel's socket stamps.</summary>
    public static long RealtimeNs() => ClockNs(ClockRealtime);

    /// <summary>
    /// Kernel stamps are CLOCK_REALTIME; the harness's clock is CLOCK_MONOTONIC. Both advance at the same (NTP-slewed) rate,
    /// so their difference converts the stamp. The difference is read between two monotonic reads and taken against their
    /// midpoint, keeping the closest of three tries: a thread preempted between two clock reads would otherwise shift
    /// every stamp it converts by the length of the preemption. A stamp that would lie in the future by more than that uncertainty
    /// (a clock step) gives 0; within it, now.
    /// </summary>
    public static long RealtimeToMonotonicNs(long realtimeNs)
    {
        long offset = 0, gap = long.MaxValue, now = 0;
        for (var i = 0; i < 3 && gap > 2_000; i++)
        {
            var before = ClockNs(ClockMonotonic);
            var real = ClockNs(ClockRealtime);
            var after = ClockNs(ClockMonotonic);
            if (after - before < gap)
            {
                gap = after - before;
                offset = real - (before + ((after - before) / 2));
            }

            now = after;
        }

        var monotonic = realtimeNs - offset;
        if (monotonic > now && monotonic - now <= (gap / 2) + 1)
        {
            // The offset is known to half the closest try's gap: a stamp of a moment just past (a segment that arrived during the
            // read) can convert to a little after now. Its moment is no later than now, so now is its tightest bound, not 0.
            return now;
        }

        return monotonic > 0 && monotonic <= now ? monotonic : 0;
    }

    private static long ClockNs(int clock) =>
        ClockGetTime(clock, out var spec) == 0 ? (spec.Seconds * 1_000_000_000L) + spec.Nanoseconds : 0;

    [LibraryImport("libc", EntryPoint = "clock_gettime")]
    private static partial int ClockGetTime(int clock, out TimeSpec spec);

    [LibraryImport("libc", EntryPoint = "gettid")]
    private static partial int GetTid();


    [LibraryImport("libc", EntryPoint = "sched_setscheduler", SetLastError = true)]
    private static partial int SchedSetScheduler(int pid, int policy, ref int param);

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }
}
