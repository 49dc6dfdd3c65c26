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

    /// <summary>A run of sleepers on the clock's pooled delay or on a task delay: what each step saw, in order.</summary>
    private static List<string> Steps(bool pooled)
    {
        var clock = new VirtualTimeProvider(DateTimeOffset.UnixEpoch);
        var steps = new List<string>();
        async Task Sleeper(int index, double ms, CancellationToken token)
        {
            for (var round = 0; round < 3; round++)
            {
                try
                {
                    var delay = TimeSpan.FromMilliseconds(ms);
                    await (pooled ? PreciseDelay.DelayValueAsync(clock, delay, token) : new ValueTask(PreciseDelay.DelayAsync(clock, delay, token)));
                    steps.Add($"{index} woke@{clock.Elapsed.TotalMilliseconds}");
                }
                catch (TaskCanceledException ex) when (ex.CancellationToken == token)
                {
                    steps.Add($"{index} cancelled@{clock.Elapsed.TotalMilliseconds}");
                    return;
                }
            }
        }

        VirtualTimeLoop.Run(clock, async () =>
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromMilliseconds(25), clock);
            // Callbacks beside the sleepers' own: a continuation run inside the cancel (as a task's is) comes before them.
            // (Not disposed here: the last sleeper's continuation, run inside the cancel, would unregister them before they ran.)
            var first = timeout.Token.Register(() => steps.Add("callback registered first"));
            Task[] sleepers = [Sleeper(0, 10, timeout.Token), Sleeper(1, 10, timeout.Token), Sleeper(2, 7.5, CancellationToken.None), Sleeper(3, 20, timeout.Token)];
            var last = timeout.Token.Register(() => steps.Add("callback registered last"));
            await Task.WhenAll(sleepers);
            await Task.Yield();
            first.Dispose();
            last.Dispose();
            return 0;
        });
        return steps;
    }

    [Fact]
    public void DelayValueAsync_PooledOnTheVirtualClock_SameStepsInTheSameOrderAsATaskDelay()
    {
        var expected = Steps(pooled: false);
        Assert.Contains("0 cancelled@25", expected);
        Assert.Contains("3 cancelled@25", expected);
        Assert.Contains("2 woke@22.5", expected);
        // The task delays' continuations ran inside the cancel (before the callbacks registered earlier), not posted after it.
        Assert.True(expected.IndexOf("0 cancelled@25") < expected.IndexOf("callback registered first"), string.Join(" | ", expected));

        Assert.Equal(expected, Steps(pooled: true));
        // Pooled waits are reused: a second run on fresh clocks gives the same steps again.
        Assert.Equal(expected, Steps(pooled: true));
    }
}
