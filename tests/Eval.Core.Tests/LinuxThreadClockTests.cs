using Spark.Eval.Core.Native;

namespace Spark.Eval.Core.Tests;

/// <summary>
/// Kernel socket stamps (CLOCK_REALTIME) converted to the harness's clock: a stamp of a moment just past must convert, not be
/// dropped as "in the future" because the conversion's own uncertainty put it a few hundred nanoseconds past now (CI: a
/// receive-thread read without kernel stamps under load).
/// </summary>
public sealed class LinuxThreadClockTests
{
    [Fact]
    public void RealtimeToMonotonicNs_StampsOfJustNow_AllConvertAndNoneLiesAfterTheCall()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux() && System.Diagnostics.Stopwatch.Frequency == 1_000_000_000L, "Linux nanosecond clocks only");
        var dropped = 0;
        var late = 0;
        const int Stamps = 200_000;
        for (var i = 0; i < Stamps; i++)
        {
            // The realtime reading of "now" is the freshest stamp a kernel can give (a segment that arrived during the read).
            var realtime = LinuxThreadClock.RealtimeNs();
            var converted = LinuxThreadClock.RealtimeToMonotonicNs(realtime);
            var after = LinuxThreadClock.MonotonicNs();
            if (converted == 0)
            {
                dropped++;
            }
            else if (converted > after)
            {
                late++;
            }
        }

        Assert.True(dropped == 0 && late == 0, $"of {Stamps} stamps of just now, {dropped} converted to 0 (dropped) and {late} to a moment after the call");
    }

    [Fact]
    public void RealtimeToMonotonicNs_StampASecondAhead_IsAClockStepAndGivesZero()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux() && System.Diagnostics.Stopwatch.Frequency == 1_000_000_000L, "Linux nanosecond clocks only");
        Assert.Equal(0, LinuxThreadClock.RealtimeToMonotonicNs(LinuxThreadClock.RealtimeNs() + 1_000_000_000L));
    }
}
