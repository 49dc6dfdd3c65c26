using Spark.Eval.Core.Timing;

namespace Spark.Eval.Core.Sessions;

/// <summary>
/// A deterministic virtual clock for runs whose backends are all simulated in process: time stands still while there is work
/// to do and jumps to the next timer when there is none (a discrete-event simulation driven by the code's own awaits).
/// <see cref="VirtualTimeLoop"/> runs a run on it; timers due at the same instant fire in the order they were set.
/// </summary>
public sealed class VirtualTimeProvider(DateTimeOffset epoch) : TimeProvider, IOwnDelay
{
    private const int PooledDelays = 4096;
    private readonly Lock _gate = new();
    private readonly Stack<ReusableDelay> _delays = new();
    private readonly PriorityQueue<(VirtualTimer Timer, long Version), (long Due, long Order)> _timers = new(DueThenOrder.Instance);
    private long _now;
    private long _order;

    /// <summary>Ticks of 100 ns.</summary>
    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp() => Volatile.Read(ref _now);

    public override DateTimeOffset GetUtcNow() => epoch + TimeSpan.FromTicks(Volatile.Read(ref _now));

    public override TimeZoneInfo LocalTimeZone => TimeZoneInfo.Utc;

    /// <summary>Virtual time elapsed since the epoch.</summary>
    public TimeSpan Elapsed => TimeSpan.FromTicks(Volatile.Read(ref _now));

    /// <summary>Timers fired so far (a measure of the simulation's work).</summary>
    public long Fired { get; private set; }

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        ArgumentNullException.ThrowIfNull(callback);
        var timer = new VirtualTimer(this, callback, state);
        timer.Change(dueTime, period);
        return timer;
    }

    /// <summary>Moves the clock to the earliest live timer and fires it (on the calling thread); false when no timer is set.</summary>
    internal bool FireNext()
    {
        VirtualTimer timer;
        lock (_gate)
        {
            while (true)
            {
                if (!_timers.TryDequeue(out var entry, out var key))
                {
                    return false;
                }

                if (entry.Version != entry.Timer.Version)
                {
                    continue; // changed or disposed since it was set
                }

                timer = entry.Timer;
                if (key.Due > _now)
                {
                    Volatile.Write(ref _now, key.Due);
                }

                if (timer.PeriodTicks > 0)
                {
                    Schedule(timer, timer.Version, _now + timer.PeriodTicks);
                }
                else
                {
                    timer.Version++;
                }

                break;
            }
        }

        Fired++;
        timer.Callback(timer.State);
        return true;
    }

    /// <summary>
    /// A delay on this clock from a pool (hwsim waits once per token: a 100-developer day is ~8 M waits): the same timer order
    /// as <see cref="PreciseDelay.DelayAsync"/> (cancellation registered first, then one timer set), and its continuation
    /// runs where a task's would — inline when the timer fires on the thread of the captured context, else posted to it.
    /// </summary>
    public ValueTask DelayAsync(TimeSpan delay, CancellationToken cancellationToken) => Rent().Start(delay, cancellationToken);

    /// <summary>As <see cref="DelayAsync"/>, to a moment of this clock (virtual time stands still while code runs, so this is the same wait).</summary>
    public ValueTask DelayUntilAsync(long dueTimestamp, CancellationToken cancellationToken) => Rent().StartAt(dueTimestamp, cancellationToken);

    private ReusableDelay Rent()
    {
        ReusableDelay? pooled;
        lock (_gate)
        {
            _delays.TryPop(out pooled);
        }

        return pooled ?? new ReusableDelay(this, Return);
    }

    /// <summary>The timers' order: due time, then the order they were set in (a plain comparer: the tuple's default one costs more than the rest of a timer).</summary>
    private sealed class DueThenOrder : IComparer<(long Due, long Order)>
    {
        public static readonly DueThenOrder Instance = new();

        public int Compare((long Due, long Order) x, (long Due, long Order) y) =>
            x.Due != y.Due ? (x.Due < y.Due ? -1 : 1) : x.Order.CompareTo(y.Order);
    }

    private void Return(ReusableDelay delay)
    {
        lock (_gate)
        {
            if (_delays.Count < PooledDelays)
            {
                _delays.Push(delay);
            }
        }
    }

    private void Schedule(VirtualTimer timer, long version, long due) => _timers.Enqueue((timer, version), (due, _order++));

    private sealed class VirtualTimer(VirtualTimeProvider clock, TimerCallback callback, object? state) : ITimer
    {
        public TimerCallback Callback { get; } = callback;
        public object? State { get; } = state;
        public long Version { get; set; }
        public long PeriodTicks { get; private set; }

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            lock (clock._gate)
            {
                Version++;
                PeriodTicks = period == Timeout.InfiniteTimeSpan || period <= TimeSpan.Zero ? 0 : period.Ticks;
                if (dueTime != Timeout.InfiniteTimeSpan)
                {
                    clock.Schedule(this, Version, clock._now + Math.Max(0, dueTime.Ticks));
                }
            }

            return true;
        }

        public void Dispose()
        {
            lock (clock._gate)
            {
                Version++;
            }
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}

/// <summary>
/// Runs asynchronous code on one thread against a <see cref="VirtualTimeProvider"/>: every continuation is queued on this
/// thread's <see cref="SynchronizationContext"/> and run in order; when none is left the clock jumps to the next timer. The
/// same code with the same seed therefore takes the same steps at the same virtual instants, however busy the machine is.
/// Work that must run outside virtual time (grading in the sandbox) is run with <see cref="RunOutside{T}"/>, which blocks
/// this thread until it is done so that no real duration leaks into the order of events.
/// </summary>
public static class VirtualTimeLoop
{
    /// <summary>How long the loop waits for work posted from another thread (Ctrl+C) when no timer is left, before it calls the run stuck.</summary>
    public static readonly TimeSpan StuckAfter = TimeSpan.FromSeconds(60);

    /// <summary>Runs <paramref name="body"/> to completion on the calling thread in virtual time and returns its result; <paramref name="stuckAfter"/> overrides <see cref="StuckAfter"/>.</summary>
    public static T Run<T>(VirtualTimeProvider clock, Func<Task<T>> body, TimeSpan? stuckAfter = null)
    {
        ArgumentNullException.ThrowIfNull(clock);
        ArgumentNullException.ThrowIfNull(body);
        var previous = SynchronizationContext.Current;
        var context = new LoopContext();
        SynchronizationContext.SetSynchronizationContext(context);
        try
        {
            var task = body();
            while (true)
            {
                context.Drain();
                if (task.IsCompleted)
                {
                    return task.GetAwaiter().GetResult();
                }

                if (!clock.FireNext() && !context.WaitForWork(stuckAfter ?? StuckAfter))
                {
                    throw new InvalidOperationException($"virtual time: the run waits on nothing (no timer, no work for {(stuckAfter ?? StuckAfter).TotalSeconds} s): a backend awaited something outside virtual time");
                }
            }
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(previous);
        }
    }

    /// <summary>Runs <paramref name="work"/> on the thread pool and blocks until it completes; virtual time stands still meanwhile.</summary>
    public static T RunOutside<T>(Func<Task<T>> work) => Task.Run(work).GetAwaiter().GetResult();

    private sealed class LoopContext : SynchronizationContext
    {
        private readonly object _gate = new();
        private readonly Queue<(SendOrPostCallback Callback, object? State)> _queue = new();
        private readonly int _thread = Environment.CurrentManagedThreadId;

        public override void Post(SendOrPostCallback d, object? state)
        {
            lock (_gate)
            {
                _queue.Enqueue((d, state));
                if (Environment.CurrentManagedThreadId != _thread)
                {
                    Monitor.PulseAll(_gate);
                }
            }
        }

        public override void Send(SendOrPostCallback d, object? state)
        {
            ArgumentNullException.ThrowIfNull(d);
            if (Environment.CurrentManagedThreadId == _thread)
            {
                d(state);
            }
            else
            {
                using var done = new ManualResetEventSlim();
                Post(s => { d(s); done.Set(); }, state);
                done.Wait();
            }
        }

        public override SynchronizationContext CreateCopy() => this;

        public void Drain()
        {
            while (true)
            {
                (SendOrPostCallback Callback, object? State) item;
                lock (_gate)
                {
                    if (!_queue.TryDequeue(out item))
                    {
                        return;
                    }
                }

                item.Callback(item.State);
            }
        }

        public bool WaitForWork(TimeSpan timeout)
        {
            lock (_gate)
            {
                return _queue.Count > 0 || (Monitor.Wait(_gate, timeout) && _queue.Count > 0) || _queue.Count > 0;
            }
        }
    }
}
