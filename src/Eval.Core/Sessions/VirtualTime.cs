using System.Runtime.CompilerServices;
using System.Threading.Tasks.Sources;
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
    private readonly Stack<PooledDelay> _delays = new();
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
    public ValueTask DelayAsync(TimeSpan delay, CancellationToken cancellationToken)
    {
        PooledDelay? pooled;
        lock (_gate)
        {
            _delays.TryPop(out pooled);
        }

        return (pooled ?? new PooledDelay(this)).Start(delay, cancellationToken);
    }

    /// <summary>The timers' order: due time, then the order they were set in (a plain comparer: the tuple's default one costs more than the rest of a timer).</summary>
    private sealed class DueThenOrder : IComparer<(long Due, long Order)>
    {
        public static readonly DueThenOrder Instance = new();

        public int Compare((long Due, long Order) x, (long Due, long Order) y) =>
            x.Due != y.Due ? (x.Due < y.Due ? -1 : 1) : x.Order.CompareTo(y.Order);
    }

    private void Return(PooledDelay delay)
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

    /// <summary>One wait of <see cref="DelayAsync"/>, reused: its own timer, its cancellation registration and the awaiter's continuation.</summary>
    private sealed class PooledDelay : IValueTaskSource, IDisposable
    {
        private const int Pending = 0, Succeeded = 1, Canceled = 2;
        private static readonly string CanceledMessage = new TaskCanceledException().Message;
        private static readonly Action<object?> CompletedSentinel = static _ => { };

        private readonly VirtualTimeProvider _clock;
        private readonly VirtualTimer _timer;
        private CancellationTokenRegistration _registration;
        private CancellationToken _token;
        private short _version;
        private int _state;
        private Action<object?>? _continuation;
        private object? _continuationState;
        private object? _scheduler;
        private ExecutionContext? _executionContext;

        public PooledDelay(VirtualTimeProvider clock)
        {
            _clock = clock;
            _timer = new VirtualTimer(clock, static s => ((PooledDelay)s!).Complete(Succeeded), this);
        }

        public ValueTask Start(TimeSpan delay, CancellationToken cancellationToken)
        {
            _state = Pending;
            _token = cancellationToken;
            _continuation = null;
            _continuationState = null;
            _scheduler = null;
            _executionContext = null;
            _registration = cancellationToken.CanBeCanceled
                ? cancellationToken.UnsafeRegister(static (s, _) => ((PooledDelay)s!).Complete(Canceled), this)
                : default;
            _timer.Change(delay, Timeout.InfiniteTimeSpan);
            if (Volatile.Read(ref _state) != Pending)
            {
                _timer.Dispose(); // cancelled while registering
            }

            return new ValueTask(this, _version);
        }

        private void Complete(int outcome)
        {
            if (Interlocked.CompareExchange(ref _state, outcome, Pending) != Pending)
            {
                return;
            }

            if (outcome == Succeeded)
            {
                _registration.Dispose();
            }
            else
            {
                _timer.Dispose();
            }

            var continuation = Volatile.Read(ref _continuation) ?? Interlocked.CompareExchange(ref _continuation, CompletedSentinel, null);
            if (continuation is not null)
            {
                Continue(continuation);
            }
        }

        // As a task's awaiter continues: inline unless a context was captured that is not the current one.
        private void Continue(Action<object?> continuation)
        {
            var state = _continuationState;
            switch (_scheduler)
            {
                case SynchronizationContext context when context != SynchronizationContext.Current || !RuntimeHelpers.TryEnsureSufficientExecutionStack():
                    context.Post(static s => { var (c, st, ec) = ((Action<object?>, object?, ExecutionContext?))s!; Run(c, st, ec); }, (continuation, state, _executionContext));
                    break;
                case TaskScheduler scheduler:
                    _ = Task.Factory.StartNew(static s => { var (c, st, ec) = ((Action<object?>, object?, ExecutionContext?))s!; Run(c, st, ec); }, (continuation, state, _executionContext),
                        CancellationToken.None, TaskCreationOptions.DenyChildAttach, scheduler);
                    break;
                default:
                    Run(continuation, state, _executionContext);
                    break;
            }
        }

        private static void Run(Action<object?> continuation, object? state, ExecutionContext? context)
        {
            if (context is null)
            {
                continuation(state);
            }
            else
            {
                ExecutionContext.Run(context, static s => { var (c, st) = ((Action<object?>, object?))s!; c(st); }, (continuation, state));
            }
        }

        public ValueTaskSourceStatus GetStatus(short token)
        {
            Check(token);
            return Volatile.Read(ref _state) switch
            {
                Succeeded => ValueTaskSourceStatus.Succeeded,
                Canceled => ValueTaskSourceStatus.Canceled,
                _ => ValueTaskSourceStatus.Pending,
            };
        }

        public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        {
            Check(token);
            if ((flags & ValueTaskSourceOnCompletedFlags.FlowExecutionContext) != 0)
            {
                _executionContext = ExecutionContext.Capture();
            }

            if ((flags & ValueTaskSourceOnCompletedFlags.UseSchedulingContext) != 0)
            {
                var context = SynchronizationContext.Current;
                _scheduler = context is not null && context.GetType() != typeof(SynchronizationContext) ? context
                    : TaskScheduler.Current != TaskScheduler.Default ? TaskScheduler.Current : null;
            }

            _continuationState = state;
            if (ReferenceEquals(Interlocked.CompareExchange(ref _continuation, continuation, null), CompletedSentinel))
            {
                Continue(continuation); // completed meanwhile
            }
        }

        public void GetResult(short token)
        {
            Check(token);
            var outcome = Volatile.Read(ref _state);
            if (outcome == Pending)
            {
                throw new InvalidOperationException("virtual time: a delay's result was read before it completed");
            }

            var cancelled = _token;
            _version++;
            _continuation = null;
            _continuationState = null;
            _scheduler = null;
            _executionContext = null;
            _registration = default;
            _clock.Return(this);
            if (outcome == Canceled)
            {
                throw new TaskCanceledException(CanceledMessage, null, cancelled);
            }
        }

        public void Dispose() => _timer.Dispose();

        private void Check(short token)
        {
            if (token != _version)
            {
                throw new InvalidOperationException("virtual time: a delay was awaited twice or after its result was read");
            }
        }
    }

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
