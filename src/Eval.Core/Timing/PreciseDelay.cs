namespace Spark.Eval.Core.Timing;

/// <summary>
/// A delay on an injected <see cref="TimeProvider"/> that keeps sub-millisecond precision: <c>Task.Delay(TimeSpan, TimeProvider)</c>
/// truncates the delay to whole milliseconds before it asks the provider for a timer, so a precise provider (serve-sim's
/// emission clock) would wake up to 1 ms early. The task completes on the timer's thread (no forced asynchronous
/// continuations), so a precise provider's thread runs what follows the await at the due time.
/// </summary>
public static class PreciseDelay
{
    /// <summary>Completes after <paramref name="delay"/> on <paramref name="time"/>, or cancels with <paramref name="cancellationToken"/>.</summary>
    public static Task DelayAsync(TimeProvider time, TimeSpan delay, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(time);
        if (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled(cancellationToken);
        }

        if (delay <= TimeSpan.Zero)
        {
            return Task.CompletedTask;
        }

        if (time == TimeProvider.System)
        {
            return SystemDelayAsync(delay, cancellationToken);
        }

        var promise = new Promise();
        promise.Start(time, delay, cancellationToken);
        return promise.Task;
    }

    /// <summary>
    /// The same delay as a <see cref="ValueTask"/>: on a clock with a delay of its own (<see cref="IOwnDelay"/>, the virtual
    /// clock, where hwsim waits once per token) no task, timer and continuation objects are made per call.
    /// </summary>
    public static ValueTask DelayValueAsync(TimeProvider time, TimeSpan delay, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(time);
        if (time is IOwnDelay own && !cancellationToken.IsCancellationRequested && delay > TimeSpan.Zero)
        {
            return own.DelayAsync(delay, cancellationToken);
        }

        return new ValueTask(DelayAsync(time, delay, cancellationToken));
    }

    /// <summary>
    /// Completes at <paramref name="dueTimestamp"/> on <paramref name="time"/>'s own scale (<see cref="TimeProvider.GetTimestamp"/>),
    /// or cancels. A schedule kept as absolute moments stays on time when the waiting thread is held up between reading the
    /// clock and setting its timer: a relative delay computed before such a hold-up ends late by its length (serve-sim's
    /// first tokens in a burst of 132 requests on 2 cores: 3.5 ms late when a handler thread lost its core there; docs/benchmarks.md,
    /// "Round 7"). On a clock with a delay of its own the due moment itself is handed to its timer; on others the delay is
    /// computed here, as late as possible.
    /// </summary>
    public static ValueTask DelayUntilValueAsync(TimeProvider time, long dueTimestamp, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(time);
        if (time is IOwnDelay own && !cancellationToken.IsCancellationRequested)
        {
            if (time.GetTimestamp() < dueTimestamp)
            {
                return own.DelayUntilAsync(dueTimestamp, cancellationToken);
            }

            // The moment passed before the wait began (the thread was held up): no wait, but it still was the moment.
            own.Overdue(dueTimestamp);
            return ValueTask.CompletedTask;
        }

        return DelayValueAsync(time, time.GetElapsedTime(time.GetTimestamp(), dueTimestamp), cancellationToken);
    }

    /// <summary>The moment <paramref name="offset"/> after <paramref name="start"/> on <paramref name="time"/>'s timestamp scale (rounded up: never early).</summary>
    public static long TimestampAfter(TimeProvider time, long start, TimeSpan offset)
    {
        ArgumentNullException.ThrowIfNull(time);
        return start + (long)Math.Ceiling(offset.Ticks * (double)time.TimestampFrequency / TimeSpan.TicksPerSecond);
    }

    /// <summary>
    /// A system-clock delay that never ends early by the precise clock (<see cref="TimeProvider.GetTimestamp"/>, what the timing
    /// layer stamps with): <c>Task.Delay</c> truncates to whole milliseconds, and the runtime's timer queue is due by its tick
    /// count, which Linux reads from a coarse clock (one step per kernel tick, 4 ms at HZ=250), so one timer alone could end a
    /// 5 ms delay after ~1 ms (a simulated 5 ms TTFT measured as 0.7 ms in CI). It waits again for what is left, rounded up.
    /// </summary>
    private static async Task SystemDelayAsync(TimeSpan delay, CancellationToken cancellationToken)
    {
        var time = TimeProvider.System;
        var start = time.GetTimestamp();
        for (var left = delay; left > TimeSpan.Zero; left = delay - time.GetElapsedTime(start))
        {
            await Task.Delay(TimeSpan.FromMilliseconds(Math.Ceiling(left.TotalMilliseconds)), time, cancellationToken).ConfigureAwait(false);
        }
    }

    private sealed class Promise : TaskCompletionSource
    {
        private ITimer? _timer;
        private CancellationTokenRegistration _registration;

        public void Start(TimeProvider time, TimeSpan delay, CancellationToken cancellationToken)
        {
            if (cancellationToken.CanBeCanceled)
            {
                _registration = cancellationToken.UnsafeRegister(static (s, ct) => ((Promise)s!).Cancel(ct), this);
            }

            _timer = time.CreateTimer(static s => ((Promise)s!).Fire(), this, delay, Timeout.InfiniteTimeSpan);
            if (Task.IsCompleted)
            {
                _timer.Dispose();
            }
        }

        private void Fire()
        {
            _registration.Dispose();
            _timer?.Dispose();
            TrySetResult();
        }

        private void Cancel(CancellationToken cancellationToken)
        {
            _timer?.Dispose();
            TrySetCanceled(cancellationToken);
        }
    }
}

/// <summary>
/// A <see cref="TimeProvider"/> with a delay of its own, which behaves as <see cref="PreciseDelay.DelayAsync"/> does on it
/// (the same timer order, the continuation run where a task's would be, a <see cref="TaskCanceledException"/> on cancellation).
/// </summary>
public interface IOwnDelay
{
    /// <summary>Completes after <paramref name="delay"/> (positive) on this clock, or cancels with <paramref name="cancellationToken"/>.</summary>
    ValueTask DelayAsync(TimeSpan delay, CancellationToken cancellationToken);

    /// <summary>Completes at <paramref name="dueTimestamp"/> (this clock's <see cref="TimeProvider.GetTimestamp"/> scale, in the future), or cancels.</summary>
    ValueTask DelayUntilAsync(long dueTimestamp, CancellationToken cancellationToken);

    /// <summary>
    /// Told of a moment that had already passed when its wait was asked for (no wait follows): a clock that reports each due
    /// time (serve-sim's emission clock) records it, so what is released at once still counts as late against its moment.
    /// </summary>
    void Overdue(long dueTimestamp)
    {
    }
}

/// <summary>
/// A timer that can be set to a moment on its clock's own timestamp scale rather than a delay from now, so the due time does not
/// move with how long the setting thread took to get there (<see cref="ReusableDelay.StartAt"/>).
/// </summary>
public interface IAbsoluteTimer : ITimer
{
    /// <summary>Fires once at <paramref name="dueTimestamp"/> (at once when it has passed), replacing any earlier setting.</summary>
    void ChangeAt(long dueTimestamp);
}
