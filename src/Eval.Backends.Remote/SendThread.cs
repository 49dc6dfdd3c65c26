using System.Collections.Concurrent;
using Spark.Eval.Core.Timing;

namespace Spark.Eval.Backends.Remote;

/// <summary>
/// One thread per process that begins the client's attempts (<c>tx_thread=on</c>, the default with the system clock): the
/// timing layer hands each attempt over before its start stamp (<see cref="IAttemptStartThread"/>), and this thread takes the
/// stamp, builds the request and runs the HTTP stack up to the socket write — on a warm pooled HTTP/1.1 connection within
/// the same call — then goes on to the next; the response is awaited elsewhere, as before.
/// <para>
/// Why: the client's send delay (attempt start → the kernel's transmit stamp of the request, <c>send_delay_ms</c>) had a tail
/// of 0.7–5 ms at 64 streams against serve-sim while its median was 0.1 ms. A closed loop begins its next attempt where the
/// previous one ended — on its last token, while serve-sim (raised: nice −10, real-time timer threads) writes the other
/// streams' tokens of the same tick — so the attempt's thread-pool thread, at normal priority, could be preempted between
/// its start stamp and its write (by serve-sim's burst, by the machine's other work). Where permitted this thread runs at
/// real-time priority (<c>SCHED_FIFO</c>, the receive thread's, below serve-sim's emission threads): once it has taken an
/// attempt's stamp, normal-priority work cannot come between the stamp and the write. Elsewhere it runs at normal
/// priority and says so. Attempts handed over together wait their turn before their stamp, as they waited for a pool
/// thread before.
/// </para>
/// </summary>
internal sealed class SendThread : IAttemptStartThread
{
    /// <summary>The thread's real-time priority where permitted: the receive thread's (<see cref="ReceiveReader.RealTimePriority"/>), below serve-sim's emission threads.</summary>
    public const int RealTimePriority = ReceiveReader.RealTimePriority;

    /// <summary>The process's one send thread (started on first use).</summary>
    public static SendThread Instance { get; } = new();

    private readonly ConcurrentQueue<Action> _queue = new();
    // No spinning before the wait: a thread at real-time priority that spins keeps normal-priority work off its core.
    private static readonly AutoResetEvent s_wake = new(false);
    private readonly Lazy<string> _started;
    private long _taken;
    private int _managedThreadId = -1;

    private SendThread() => _started = new Lazy<string>(Start, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>How the thread runs ("one send thread, SCHED_FIFO priority 20", or at normal priority and why); starts it.</summary>
    public string Description => _started.Value;

    /// <summary>Attempts the thread has begun since the process started (tests see that it, not the caller, sent).</summary>
    public long Taken => Interlocked.Read(ref _taken);

    /// <summary>True on the send thread itself.</summary>
    public bool IsOnSendThread => Environment.CurrentManagedThreadId == Volatile.Read(ref _managedThreadId);

    /// <summary>
    /// True where an attempt may begin without a hand-over: on the send thread, or on another thread already at real-time
    /// priority (a session's wake-up thread, which starts its attempts itself).
    /// </summary>
    public bool IsCurrent => IsOnSendThread || (OperatingSystem.IsLinux() && Core.Native.LinuxThreadClock.CurrentThreadIsRealTime());

    public void Post(Action continuation)
    {
        ArgumentNullException.ThrowIfNull(continuation);
        _ = _started.Value;
        _queue.Enqueue(continuation);
        s_wake.Set();
    }

    private string Start()
    {
        using var ready = new ManualResetEventSlim();
        string? scheduling = null;
        var thread = new Thread(() =>
        {
            Volatile.Write(ref _managedThreadId, Environment.CurrentManagedThreadId);
            scheduling = OperatingSystem.IsLinux() ? Core.Native.LinuxThreadClock.RaiseToFifo(RealTimePriority) : "normal priority (not Linux)";
            ready.Set();
            Loop();
        })
        {
            IsBackground = true,
            Name = "spark send thread",
        };
        thread.UnsafeStart();
        ready.Wait();
        return "one send thread, " + scheduling;
    }

    private void Loop()
    {
        while (true)
        {
            while (_queue.TryDequeue(out var continuation))
            {
                Interlocked.Increment(ref _taken);
                // An async method's continuation: it runs to the attempt's first wait and returns (its exceptions go to its task).
                continuation();
            }

            // A hand-over between the last TryDequeue and this wait left the event set: the wait returns at once.
            s_wake.WaitOne();
        }
    }
}
