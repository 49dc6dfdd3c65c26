using System.Runtime.CompilerServices;
using System.Threading.Tasks.Sources;

namespace Spark.Eval.Core.Timing;

/// <summary>
/// One wait on a <see cref="TimeProvider"/>, reused for wait after wait: its own timer (made once, moved with
/// <see cref="ITimer.Change"/>), its cancellation registration and the awaiter's continuation, so a wait makes no task,
/// timer or continuation object. It behaves as <see cref="PreciseDelay.DelayAsync"/> does on the same clock: cancellation
/// registered first, then one timer set; the continuation runs where a task's would — inline on the thread whose timer
/// fired unless a context was captured that is not the current one; a <see cref="TaskCanceledException"/> on cancellation.
/// Used by the virtual clock (hwsim waits once per token: a 100-developer day is ~8 M waits) and by serve-sim's emission
/// clock (one per request, so a token's release allocates nothing on the timer thread).
/// </summary>
public sealed class ReusableDelay : IValueTaskSource, IDisposable
{
    private const int Idle = -1, Pending = 0, Succeeded = 1, Canceled = 2;
    private static readonly string CanceledMessage = new TaskCanceledException().Message;
    private static readonly Action<object?> CompletedSentinel = static _ => { };

    private readonly ITimer _timer;
    private readonly TimeProvider _clock;
    private readonly Action<ReusableDelay>? _done;
    private CancellationTokenRegistration _registration;
    private CancellationToken _token;
    private short _version;
    private int _state = Idle;
    private Action<object?>? _continuation;
    private object? _continuationState;
    private object? _scheduler;
    private ExecutionContext? _executionContext;

    /// <param name="clock">The clock whose timer the waits use (made here once).</param>
    /// <param name="done">Called when a wait's result has been read and the delay can be used again (e.g. to pool it).</param>
    public ReusableDelay(TimeProvider clock, Action<ReusableDelay>? done = null)
    {
        ArgumentNullException.ThrowIfNull(clock);
        _done = done;
        _clock = clock;
        _timer = clock.CreateTimer(static s => ((ReusableDelay)s!).Complete(Succeeded), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>True while a wait is under way (started, its result not yet read): <see cref="Start"/> would throw.</summary>
    public bool Busy => Volatile.Read(ref _state) != Idle;

    /// <summary>Begins a wait of <paramref name="delay"/> (positive); the returned task must be awaited once.</summary>
    public ValueTask Start(TimeSpan delay, CancellationToken cancellationToken) => Begin(delay, 0, absolute: false, cancellationToken);

    /// <summary>
    /// Begins a wait that ends at <paramref name="dueTimestamp"/> on the clock's own scale; the returned task must be awaited once.
    /// A timer that takes moments (<see cref="IAbsoluteTimer"/>) is given the moment itself; any other, the delay to it from now.
    /// </summary>
    public ValueTask StartAt(long dueTimestamp, CancellationToken cancellationToken) => Begin(default, dueTimestamp, absolute: true, cancellationToken);

    private ValueTask Begin(TimeSpan delay, long dueTimestamp, bool absolute, CancellationToken cancellationToken)
    {
        if (Interlocked.CompareExchange(ref _state, Pending, Idle) != Idle)
        {
            throw new InvalidOperationException("a reusable delay was started while its previous wait was under way");
        }

        _token = cancellationToken;
        _continuation = null;
        _continuationState = null;
        _scheduler = null;
        _executionContext = null;
        _registration = cancellationToken.CanBeCanceled
            ? cancellationToken.UnsafeRegister(static (s, _) => ((ReusableDelay)s!).Complete(Canceled), this)
            : default;
        if (!absolute)
        {
            _timer.Change(delay, Timeout.InfiniteTimeSpan);
        }
        else if (_timer is IAbsoluteTimer at)
        {
            at.ChangeAt(dueTimestamp);
        }
        else
        {
            var left = _clock.GetElapsedTime(_clock.GetTimestamp(), dueTimestamp);
            _timer.Change(left > TimeSpan.Zero ? left : TimeSpan.Zero, Timeout.InfiniteTimeSpan);
        }

        if (Volatile.Read(ref _state) == Canceled)
        {
            _ = _timer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan); // cancelled while registering
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
            _ = _timer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }

        // Completion is published by this exchange, not by the state above: until the sentinel is in, the awaiter sees the wait
        // pending, so it cannot read the result, start the next wait and register that wait's continuation, which this call
        // would otherwise take for its own (the timer fires on another thread than the one that awaits).
        var continuation = Interlocked.Exchange(ref _continuation, CompletedSentinel);
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
        if (!ReferenceEquals(Volatile.Read(ref _continuation), CompletedSentinel))
        {
            return ValueTaskSourceStatus.Pending;
        }

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
        if (outcome is not (Succeeded or Canceled) || !ReferenceEquals(Volatile.Read(ref _continuation), CompletedSentinel))
        {
            throw new InvalidOperationException("a delay's result was read before it completed");
        }

        var cancelled = _token;
        _version++;
        _continuationState = null;
        _scheduler = null;
        _executionContext = null;
        _registration = default;
        _token = default;
        Volatile.Write(ref _state, Idle);
        _done?.Invoke(this);
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
            throw new InvalidOperationException("a delay was awaited twice or after its result was read");
        }
    }
}
