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
            // The system timer queue has millisecond resolution anyway.
            return Task.Delay(delay, time, cancellationToken);
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
