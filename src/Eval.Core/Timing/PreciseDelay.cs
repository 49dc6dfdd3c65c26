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
}
