using Spark.Eval.Core.Sessions;
using Spark.Eval.Core.Timing;

namespace Spark.Eval.Core.Tests.Sessions;

/// <summary>The virtual clock: hours of awaited delays replay in milliseconds, in a fixed order, and a run that awaits nothing is named.</summary>
public class VirtualTimeTests
{
    [Fact]
    public void Run_EightHoursOfDelays_ElapsesVirtuallyAndReturnsAtOnce()
    {
        var clock = new VirtualTimeProvider(DateTimeOffset.UnixEpoch);
        var wall = TimeProvider.System.GetTimestamp();
        var result = VirtualTimeLoop.Run(clock, async () =>
        {
            for (var i = 0; i < 8; i++)
            {
                await Task.Delay(TimeSpan.FromHours(1), clock);
            }

            return clock.GetUtcNow();
        });

        Assert.Equal(DateTimeOffset.UnixEpoch.AddHours(8), result);
        Assert.Equal(TimeSpan.FromHours(8), clock.Elapsed);
        Assert.True(TimeProvider.System.GetElapsedTime(wall) < TimeSpan.FromSeconds(5));
    }

    [Fact]
    public void Run_ConcurrentSleepers_WakeInDueOrderAndAtTheSameInstantInCreationOrder()
    {
        var clock = new VirtualTimeProvider(DateTimeOffset.UnixEpoch);
        var order = new List<string>();
        async Task Sleeper(string name, double ms)
        {
            await PreciseDelay.DelayAsync(clock, TimeSpan.FromMilliseconds(ms), CancellationToken.None);
            order.Add($"{name}@{clock.Elapsed.TotalMilliseconds}");
        }

        VirtualTimeLoop.Run(clock, async () =>
        {
            await Task.WhenAll(Sleeper("c", 30), Sleeper("a", 10), Sleeper("b", 10), Sleeper("d", 0.25));
            return 0;
        });

        Assert.Equal(["d@0.25", "a@10", "b@10", "c@30"], order);
    }

    [Fact]
    public void Run_TimeoutCancellationSource_CancelsAtItsVirtualDueTime()
    {
        var clock = new VirtualTimeProvider(DateTimeOffset.UnixEpoch);
        var cancelledAt = VirtualTimeLoop.Run(clock, async () =>
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120), clock);
            try
            {
                await Task.Delay(TimeSpan.FromHours(1), clock, timeout.Token);
            }
            catch (OperationCanceledException)
            {
            }

            return clock.Elapsed;
        });

        Assert.Equal(TimeSpan.FromSeconds(120), cancelledAt);
    }

    [Fact]
    public void Run_AwaitsSomethingThatNeverCompletes_ThrowsNamingTheCause()
    {
        var clock = new VirtualTimeProvider(DateTimeOffset.UnixEpoch);
        var never = new TaskCompletionSource<int>();
        var ex = Assert.Throws<InvalidOperationException>(() => VirtualTimeLoop.Run(clock, async () => await never.Task, TimeSpan.FromMilliseconds(200)));
        Assert.Contains("waits on nothing", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RunOutside_RealWork_ClockStandsStill()
    {
        var clock = new VirtualTimeProvider(DateTimeOffset.UnixEpoch);
        var elapsed = VirtualTimeLoop.Run(clock, async () =>
        {
            await Task.Delay(TimeSpan.FromSeconds(5), clock);
            var value = VirtualTimeLoop.RunOutside(async () =>
            {
                await Task.Delay(20);
                return 7;
            });
            Assert.Equal(7, value);
            return clock.Elapsed;
        });

        Assert.Equal(TimeSpan.FromSeconds(5), elapsed);
    }
}
