using System.Runtime.ExceptionServices;
using System.Threading.Tasks.Sources;
using Spark.Eval.Core.Sessions;
using Spark.Eval.Core.Timing;
using Spark.Eval.Simulator.Latency;
using Spark.Eval.Simulator.Load;

namespace Spark.Eval.Simulator.Backend;

/// <summary>
/// The one simulated inference engine behind an <c>hwsim</c> client: every request the client streams, in process or through
/// <c>serve-sim</c>, shares its steps on the injected clock, as requests share a real server's GPU. A request joins the engine's
/// queue after its request overhead and half the round trip; admission is FIFO when its whole sequence fits the KV cache; each
/// step is formed and priced as the load simulator forms it (<see cref="EngineStep"/>, chunked prefill as the hardware profile's
/// serving stack), and each token becomes visible half a round trip after the step that produced it ends. So a prompt that
/// arrives while others decode waits for the step in progress and shares the next one with them, and a sweep against
/// <c>serve-sim</c> shows the queueing that <c>spark-eval simulate</c> predicts for the same profile (docs/simulator.md).
/// Steps follow one another on an absolute schedule: a late wake-up does not push later steps back.
/// </summary>
internal sealed class HwSimEngine
{
    private readonly TimeProvider _time;
    private readonly LatencyModel _model;
    private readonly bool _chunkedPrefill;
    private readonly Lock _gate = new();
    private readonly PriorityQueue<Sequence, (long Join, long Order)> _pending = new();
    private readonly Queue<Sequence> _waiting = new();
    private readonly List<int> _running = [];
    private readonly Sequence?[] _slots;
    private readonly int[] _prefillLeft;
    private readonly int[] _input;
    private readonly int[] _chunk;
    private readonly Stack<int> _free = new();
    private readonly List<Sequence> _signal = [];
    private long _order;
    private int _inFlight;
    private long _kvReserved;
    private double _decodeContext;
    private bool _looping;
    private bool _decodeThisStep;

    // The execution context of the engine's owner, outside any request: its loop must not run on the request that started
    // it (serve-sim keeps each request's timer slot in an AsyncLocal, which ends with the request).
    private readonly ExecutionContext? _root;

    // Real time: a step's tokens are handed out when it is formed (each stream then waits on its own timer); virtual time:
    // at its end (nothing real to spread, and a timer per stream and token would only cost).
    private readonly bool _handOutAhead;

    // Engine time: the moment the next step may start (the end of the last one), on the clock's timestamp scale.
    private long _clock = long.MinValue;

    // The end of the last step: no step starts before it, whatever a late submission says.
    private long _stepEnd = long.MinValue;

    /// <summary>An engine for <paramref name="model"/> on <paramref name="time"/>, its loop on <paramref name="root"/>: the execution context its owner captured outside any request (default: the caller's).</summary>
    public HwSimEngine(TimeProvider time, LatencyModel model, ExecutionContext? root = null)
    {
        _root = root ?? ExecutionContext.Capture();
        _time = time;
        _model = model;
        _chunkedPrefill = model.Hardware.ChunkedPrefill;
        _handOutAhead = time is not VirtualTimeProvider;
        var slots = Math.Max(1, model.Hardware.MaxBatch);
        _slots = new Sequence?[slots];
        _prefillLeft = new int[slots];
        _input = new int[slots];
        _chunk = new int[slots + 1];
        for (var i = slots - 1; i >= 0; i--)
        {
            _free.Push(i);
        }
    }

    /// <summary>Requests submitted and not yet handed back (<see cref="Leave"/>): what a load balancer in front of several engines reads.</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>
    /// Queues a request of <paramref name="inputTokens"/> prompt tokens and <paramref name="outputTokens"/> (≥ 1) answer tokens
    /// that joins the engine at <paramref name="joinTimestamp"/>; read its tokens with <see cref="Sequence.NextAsync"/> and
    /// hand it back with <see cref="Leave"/> whether it finished or not.
    /// </summary>
    public Sequence Submit(int inputTokens, int outputTokens, long joinTimestamp)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(outputTokens, 1);
        var sequence = new Sequence(this, Math.Max(1, inputTokens), outputTokens);
        Interlocked.Increment(ref _inFlight);
        bool start;
        lock (_gate)
        {
            _pending.Enqueue(sequence, (joinTimestamp, _order++));
            start = !_looping;
            _looping = true;
        }

        if (start)
        {
            if (_root is null)
            {
                _ = LoopAsync();
            }
            else
            {
                // On the root context, but on this thread and its synchronisation context (virtual time's loop).
                ExecutionContext.Run(_root, static state => _ = ((HwSimEngine)state!).LoopAsync(), this);
            }
        }

        return sequence;
    }

    /// <summary>
    /// Takes a sequence out of the engine (its reader stopped: done, cancelled or failed). A queued one is skipped where it
    /// waits; a running one gives back its place and KV cache when the step in progress ends, as a server notices an abort.
    /// </summary>
    public void Leave(Sequence sequence)
    {
        ArgumentNullException.ThrowIfNull(sequence);
        lock (_gate)
        {
            sequence.State = SequenceState.Done;
        }

        Interlocked.Decrement(ref _inFlight);
    }

    private async Task LoopAsync()
    {
        try
        {
            while (true)
            {
                long wake;
                bool stepping;
                lock (_gate)
                {
                    if (!Plan(out wake, out stepping))
                    {
                        _looping = false;
                        return;
                    }

                    // In real time what a step yields is handed out when the step is formed, due at its end, and each stream
                    // waits for that moment on its own timer (under serve-sim, on its own emission-clock lane), so the
                    // streams of a batch do not flush one after another on this thread when the step ends. The next step is
                    // still formed at this one's end, from the state as it will be then.
                    if (stepping && _handOutAhead)
                    {
                        Update(wake);
                        _clock = _stepEnd = wake;
                    }
                }

                SignalAll();
                if (stepping && _handOutAhead)
                {
                    lock (_gate)
                    {
                        // Nothing left after this step: stop now rather than wait for its end, which only the streams await.
                        if (_running.Count == 0 && !HasWaiting() && !TryPeekPending(out _))
                        {
                            _looping = false;
                            return;
                        }
                    }
                }

                if (_time.GetTimestamp() < wake)
                {
                    await PreciseDelay.DelayUntilValueAsync(_time, wake, CancellationToken.None);
                }

                if (stepping && !_handOutAhead)
                {
                    // Virtual time: the step's tokens at its end, read inline (no timer per stream and token; no time passes).
                    lock (_gate)
                    {
                        Update(wake);
                        _clock = _stepEnd = wake;
                    }

                    SignalAll();
                }
            }
        }
        catch (Exception ex)
        {
            List<Sequence> all;
            lock (_gate)
            {
                all = [.. _running.Select(s => _slots[s]!), .. _waiting, .. _pending.UnorderedItems.Select(i => i.Element)];
                _running.Clear();
                _waiting.Clear();
                _pending.Clear();
                _looping = false;
            }

            foreach (var sequence in all)
            {
                sequence.Fail(ex);
            }
        }
    }

    /// <summary>
    /// Under the lock: the next thing the loop waits for. A step (<paramref name="stepping"/>) starting at the engine's clock and
    /// ending at <paramref name="wake"/>; or, when idle, the moment the next request joins (the engine starts with it, not with
    /// the thread that wakes up for it); false when nothing is left.
    /// </summary>
    private bool Plan(out long wake, out bool stepping)
    {
        Update(stepEnd: null);
        var t = _clock;
        if (_running.Count == 0 && !HasWaiting())
        {
            if (!TryPeekPending(out var join))
            {
                wake = 0;
                stepping = false;
                return false;
            }

            if (join > t)
            {
                _clock = join;
                wake = join;
                stepping = false;
                return true;
            }

            // Idle, and the first request joined at or before now. Requests are submitted in the order their handlers reach
            // the engine, not of their arrival: one submitted after this wait was planned may have joined before the moment
            // it was planned for. The step starts at the first join, never before the last step's end, and takes only the
            // requests that had joined by then, as it would have had the engine woken for that request.
            t = Math.Max(_stepEnd, join);
            _clock = t;
        }

        while (TryPeekPending(out var due) && due <= t)
        {
            _waiting.Enqueue(_pending.Dequeue());
        }

        Admit();
        var dt = EngineStep.Form(_model, _running, _prefillLeft, _input, _chunk, _chunkedPrefill, asyncScheduling: false, _decodeContext, out _decodeThisStep);
        wake = PreciseDelay.TimestampAfter(_time, t, TimeSpan.FromSeconds(dt));
        stepping = true;
        return true;
    }

    private void SignalAll()
    {
        foreach (var sequence in _signal)
        {
            sequence.Signal();
        }

        _signal.Clear();
    }

    private bool HasWaiting()
    {
        while (_waiting.Count > 0 && _waiting.Peek().State is SequenceState.Done)
        {
            _waiting.Dequeue();
        }

        return _waiting.Count > 0;
    }

    private bool TryPeekPending(out long join)
    {
        while (_pending.TryPeek(out var sequence, out var key))
        {
            if (sequence.State is not SequenceState.Done)
            {
                join = key.Join;
                return true;
            }

            _pending.Dequeue();
        }

        join = 0;
        return false;
    }

    // FIFO: a request enters when its whole sequence fits the KV budget (no preemption); one alone always enters.
    private void Admit()
    {
        while (HasWaiting() && _free.Count > 0)
        {
            var next = _waiting.Peek();
            var need = _model.KvTokensFor(next.Input + (long)next.Output);
            if (_kvReserved + need > _model.KvCapacityTokens && _running.Count > 0)
            {
                break;
            }

            _waiting.Dequeue();
            var slot = _free.Pop();
            next.Slot = slot;
            next.KvTokens = need;
            next.State = SequenceState.Running;
            _kvReserved += need;
            _slots[slot] = next;
            _prefillLeft[slot] = next.Input;
            _input[slot] = next.Input;
            _running.Add(slot);
        }
    }

    /// <summary>
    /// Sequences whose reader left (cancelled or failed) give back their place and KV cache. With <paramref name="stepEnd"/>,
    /// the step that ended then is applied as well: prompt chunks advance, a finished prompt yields the first token, each
    /// decoding sequence one more, and a sequence with all its tokens leaves.
    /// </summary>
    private void Update(long? stepEnd)
    {
        var write = 0;
        for (var k = 0; k < _running.Count; k++)
        {
            var slot = _running[k];
            var sequence = _slots[slot]!;
            if (sequence.State is SequenceState.Done)
            {
                Release(sequence);
                continue;
            }

            if (stepEnd is { } end && Advance(k, slot, sequence, end))
            {
                Release(sequence);
                sequence.State = SequenceState.Done;
                continue;
            }

            _running[write++] = slot;
        }

        _running.RemoveRange(write, _running.Count - write);
    }

    // One running sequence through the step that ended at `end`; true when it has all its tokens.
    private bool Advance(int k, int slot, Sequence sequence, long end)
    {
        var produced = false;
        if (_chunk[k] > 0)
        {
            _prefillLeft[slot] -= _chunk[k];
            if (_prefillLeft[slot] == 0)
            {
                sequence.Generated = 1;
                _decodeContext += sequence.Input + 1;
                produced = true;
            }
        }
        else if (_prefillLeft[slot] == 0 && _decodeThisStep && sequence.Generated > 0)
        {
            sequence.Generated++;
            _decodeContext++;
            produced = true;
        }

        if (produced)
        {
            sequence.Produce(sequence.Generated, end);
            _signal.Add(sequence);
        }

        return sequence.Generated >= sequence.Output;
    }

    private void Release(Sequence sequence)
    {
        _kvReserved -= sequence.KvTokens;
        if (sequence.Generated > 0)
        {
            _decodeContext -= sequence.Input + sequence.Generated;
        }

        _slots[sequence.Slot] = null;
        _free.Push(sequence.Slot);
        sequence.Slot = -1;
    }

    internal enum SequenceState
    {
        Queued,
        Running,
        Done,
    }

    /// <summary>
    /// One request in the engine: how many of its tokens the engine has produced and when the last of them is due (the end
    /// of the step that yields it). Its reader awaits <see cref="NextAsync"/>, one wait at a time, without an allocation per
    /// wait. A reader on the synchronisation context the engine runs on (virtual time's loop), or on none (real time), resumes
    /// inline when its tokens are handed out (real time: when the step is formed, and it then waits for the due moment on its
    /// own timer; virtual time: at the step's end); one on another context is posted to it.
    /// </summary>
    internal sealed class Sequence(HwSimEngine engine, int input, int output) : IValueTaskSource<(int Produced, long At)>
    {
        private int _produced;
        private long _producedAt;

        // What ends every later read: the engine's failure or the reader's cancellation.
        private Exception? _stop;

        // The wait in progress, under the engine's lock.
        private short _version;
        private bool _armed;
        private bool _completed;
        private (int, long) _result;
        private Exception? _error;
        private Action<object?>? _continuation;
        private object? _continuationState;
        private SynchronizationContext? _context;

        public int Input { get; } = input;

        public int Output { get; } = output;

        // Engine state, under the engine's lock.
        internal int Slot { get; set; } = -1;

        internal long KvTokens { get; set; }

        internal int Generated { get; set; }

        internal SequenceState State { get; set; }

        /// <summary>The count of tokens produced so far and the moment the last was, once it exceeds <paramref name="consumed"/>; throws what stopped the sequence.</summary>
        public ValueTask<(int Produced, long At)> NextAsync(int consumed)
        {
            lock (engine._gate)
            {
                if (_produced > consumed)
                {
                    return new((_produced, _producedAt));
                }

                if (_stop is not null)
                {
                    return ValueTask.FromException<(int, long)>(_stop);
                }

                _version++;
                _armed = true;
                _completed = false;
                _error = null;
                _continuation = null;
                return new(this, _version);
            }
        }

        /// <summary>Ends the wait in progress and every later one with <see cref="OperationCanceledException"/> when <paramref name="cancellationToken"/> fires.</summary>
        public CancellationTokenRegistration Watch(CancellationToken cancellationToken) =>
            cancellationToken.UnsafeRegister(static (state, token) => ((Sequence)state!).Stop(new OperationCanceledException(token)), this);

        // Under the engine's lock.
        internal void Produce(int produced, long at)
        {
            _produced = produced;
            _producedAt = at;
        }

        // Outside the engine's lock, on the engine's loop: wakes the reader if it waits.
        internal void Signal() => Complete(error: null, inline: true);

        internal void Fail(Exception ex)
        {
            lock (engine._gate)
            {
                State = SequenceState.Done;
            }

            Stop(ex);
        }

        // Never inline: a canceller's own call must not run the reader's code.
        private void Stop(Exception ex)
        {
            lock (engine._gate)
            {
                _stop ??= ex;
            }

            Complete(ex, inline: false);
        }

        private void Complete(Exception? error, bool inline)
        {
            Action<object?>? continuation;
            object? state;
            SynchronizationContext? context;
            lock (engine._gate)
            {
                if (!_armed)
                {
                    return;
                }

                _armed = false;
                _completed = true;
                _error = error;
                _result = (_produced, _producedAt);
                (continuation, state, context) = (_continuation, _continuationState, _context);
                _continuation = null;
            }

            if (continuation is null)
            {
                return;
            }

            if (inline && context == SynchronizationContext.Current)
            {
                continuation(state);
            }
            else
            {
                Dispatch(continuation, state, context);
            }
        }

        private static void Dispatch(Action<object?> continuation, object? state, SynchronizationContext? context)
        {
            if (context is null)
            {
                ThreadPool.UnsafeQueueUserWorkItem(continuation, state, preferLocal: true);
            }
            else
            {
                context.Post(static s =>
                {
                    var (c, st) = ((Action<object?>, object?))s!;
                    c(st);
                }, (continuation, state));
            }
        }

        public (int Produced, long At) GetResult(short token)
        {
            lock (engine._gate)
            {
                if (token != _version || !_completed)
                {
                    throw new InvalidOperationException("hwsim: a token read was awaited twice or read before it completed");
                }

                if (_error is not null)
                {
                    ExceptionDispatchInfo.Throw(_error);
                }

                return _result;
            }
        }

        public ValueTaskSourceStatus GetStatus(short token)
        {
            lock (engine._gate)
            {
                return !_completed || token != _version ? ValueTaskSourceStatus.Pending
                    : _error is null ? ValueTaskSourceStatus.Succeeded
                    : _error is OperationCanceledException ? ValueTaskSourceStatus.Canceled
                    : ValueTaskSourceStatus.Faulted;
            }
        }

        public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        {
            var context = (flags & ValueTaskSourceOnCompletedFlags.UseSchedulingContext) != 0 && SynchronizationContext.Current is { } current
                && current.GetType() != typeof(SynchronizationContext) ? current : null;
            lock (engine._gate)
            {
                if (!_completed)
                {
                    (_continuation, _continuationState, _context) = (continuation, state, context);
                    return;
                }
            }

            // Completed between the check and the registration: never inline here (no stack dive).
            Dispatch(continuation, state, context);
        }
    }
}
