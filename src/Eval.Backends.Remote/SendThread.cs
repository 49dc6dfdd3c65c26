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
    /// True where an attempt may begin without a hand-over: on the send thread only. Another real-time thread is handed over
    /// too: a closed loop's next attempt is begun where its previous one ended — on the receive thread, whose reads of every
    /// other connection would wait behind an inline send, and without the fresh allocation context taken here before each
    /// stamp (<see cref="FreshAllocationContext"/>). Attempts with a scheduled start (sessions, open loop) never come here.
    /// </summary>
    public bool IsCurrent => IsOnSendThread;

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

    /// <summary>The probe's array length: with its 24-byte header, 512 bytes.</summary>
    private const int ProbeLength = 488;

    /// <summary>The heap size of one probe array on a 64-bit runtime.</summary>
    private const int ProbeBytes = 512;

    // Probes escape here, so that the JIT cannot place them on the stack.
    private static byte[]? s_probe;

    /// <summary>
    /// Before an attempt's start stamp: makes this thread take a fresh allocation context, so that the attempt's send (about
    /// 4 KB allocated between its start stamp and its write) does not need another.
    /// <para>
    /// Why: the runtime hands each thread its allocation space 8 KB at a time (the GC's allocation quantum), under one
    /// process-wide lock. A thread that finds the lock held spins, and after some 30 rounds sleeps 5 ms (the GC's
    /// <c>WaitLonger</c>); a real-time thread's spin cannot let a holder on its own core run, and a holder on the other core
    /// may be preempted by serve-sim's real-time threads. So an attempt whose send needed new space at such a moment waited
    /// 5–6 ms between its start stamp and its write: the ~5 ms send delays that decided @64's TTFT p99 in 2 of 9 quiet runs
    /// (docs/benchmarks.md). Here the thread allocates 512-byte probes until two are not adjacent — a new allocation context
    /// began between them — and leaves the rest of that context (~7.5 KB) to the send. A wait for the lock now falls before
    /// the stamp: the attempt begins later, its latency is not stretched. Costs up to 8 KB of short-lived garbage per attempt.
    /// </para>
    /// </summary>
    internal static void FreshAllocationContext()
    {
        var previous = new byte[ProbeLength];
        s_probe = previous;
        for (var i = 0; i < 64; i++)
        {
            var next = new byte[ProbeLength];
            s_probe = next;
            if (Address(next) != Address(previous) + ProbeBytes)
            {
                return;
            }

            previous = next;
        }
    }

    private static nint Address(byte[] array) => System.Runtime.CompilerServices.Unsafe.As<byte[], nint>(ref array);

    private void Loop()
    {
        while (true)
        {
            while (_queue.TryDequeue(out var continuation))
            {
                Interlocked.Increment(ref _taken);
                FreshAllocationContext();
                // An async method's continuation: it runs to the attempt's first wait and returns (its exceptions go to its task).
                continuation();
            }

            // A hand-over between the last TryDequeue and this wait left the event set: the wait returns at once.
            s_wake.WaitOne();
        }
    }
}

