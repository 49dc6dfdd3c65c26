using Microsoft.Extensions.AI;
using Spark.Eval.Core.Backends;
using Spark.Eval.Core.Timing;
using Spark.Eval.Core.Tokens;

namespace Spark.Eval.Core.Tests;

/// <summary>
/// A simulated schedule is kept as moments, not delays: a thread held up between reading the clock and setting its timer (a
/// burst of requests on 2 cores) must not move a token's due time. Before, <c>sim</c> computed "due − elapsed" and the clock
/// set its timer "now + that": every hold-up in between was added to the token's due time (serve-sim's first tokens 3.5 ms
/// late with its own log reading them on time; docs/benchmarks.md, "Round 7").
/// </summary>
public sealed class AbsoluteScheduleTests
{
    [Fact]
    public async Task ConstantRateSim_ClockThatAdvancesOnEveryRead_WaitsForTheScheduledMomentsExactly()
    {
        // Every read of the clock costs 3 ms (a thread that loses its core after each read): the only fake here is time.
        var clock = new HoldUpClock(TimeSpan.FromMilliseconds(3), start: 20_000);
        var client = new ConstantRateSimChatClient(clock, TokenCounter.Default, 50, 100, "sim");
        var options = new ChatOptions { MaxOutputTokens = 5, AdditionalProperties = new() { [AttemptContext.ArrivalKey] = 10_000L } };
        var updates = 0;
        await foreach (var update in client.GetStreamingResponseAsync([new ChatMessage(ChatRole.User, "write a function that adds two numbers")], options, TestContext.Current.CancellationToken))
        {
            updates++;
        }

        Assert.True(updates > 0);
        // Arrival at 1 ms (in this clock's 100 ns ticks: 10,000), TTFT 50 ms, then 10 ms per token.
        Assert.NotEmpty(clock.Waits);
        Assert.Equal(TimeSpan.FromMilliseconds(51), TimeSpan.FromTicks(clock.Waits[0]));
        for (var i = 1; i < clock.Waits.Count; i++)
        {
            var due = TimeSpan.FromTicks(clock.Waits[i]);
            Assert.True((due - TimeSpan.FromMilliseconds(1) - TimeSpan.FromMilliseconds(50)).Ticks % TimeSpan.FromMilliseconds(10).Ticks == 0,
                $"wait {i} was set for {due.TotalMilliseconds} ms, not a moment of the schedule (1 + 50 + 10k ms): [{string.Join(", ", clock.Waits.Select(w => TimeSpan.FromTicks(w).TotalMilliseconds))}]");
        }
    }

    [Fact]
    public async Task DelayUntilValueAsync_OnAnyClock_EndsAtTheMomentAndNotBefore()
    {
        var time = TimeProvider.System;
        var due = PreciseDelay.TimestampAfter(time, time.GetTimestamp(), TimeSpan.FromMilliseconds(3.5));
        await PreciseDelay.DelayUntilValueAsync(time, due, TestContext.Current.CancellationToken);
        Assert.True(time.GetTimestamp() >= due, "the wait ended before its moment");

        // A moment already past completes at once, without a timer.
        var past = PreciseDelay.DelayUntilValueAsync(new HoldUpClock(TimeSpan.Zero, start: 0), -1, TestContext.Current.CancellationToken);
        Assert.True(past.IsCompletedSuccessfully);
    }

    [Fact]
    public void TimestampAfter_RoundsUp_NeverEarly()
    {
        var clock = new HoldUpClock(TimeSpan.Zero, start: 0); // 100 ns ticks
        Assert.Equal(10_000 + 1, PreciseDelay.TimestampAfter(clock, 10_000, TimeSpan.FromTicks(1)));
        Assert.Equal(10_000 + 500_000, PreciseDelay.TimestampAfter(clock, 10_000, TimeSpan.FromMilliseconds(50)));
    }

    /// <summary>A clock (100 ns ticks, from <paramref name="start"/>) that moves on by <paramref name="holdUp"/> after every read and records the moment each wait is set for; waits end at once.</summary>
    private sealed class HoldUpClock(TimeSpan holdUp, long start) : TimeProvider, IOwnDelay
    {
        private long _now = start;

        public List<long> Waits { get; } = [];

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp()
        {
            var now = _now;
            _now += holdUp.Ticks;
            return now;
        }

        public ValueTask DelayAsync(TimeSpan delay, CancellationToken cancellationToken)
        {
            var due = GetTimestamp() + delay.Ticks;
            Waits.Add(due);
            _now = Math.Max(_now, due);
            return ValueTask.CompletedTask;
        }

        public ValueTask DelayUntilAsync(long dueTimestamp, CancellationToken cancellationToken)
        {
            Waits.Add(dueTimestamp);
            _now = Math.Max(_now, dueTimestamp);
            return ValueTask.CompletedTask;
        }
    }
}
