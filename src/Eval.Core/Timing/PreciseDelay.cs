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
