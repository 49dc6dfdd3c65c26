using static Spark.Eval.Core.Native.LinuxSockets;
using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Threading.Tasks.Sources;
using Spark.Eval.Core.Native;

namespace Spark.Eval.Backends.Remote;

/// <summary>
/// One thread per process that takes streamed bytes out of the client's sockets as they arrive (an edge-triggered epoll set
/// over every connection of <see cref="KernelReceiveStream"/>), each read with its kernel arrival stamps, and queues them
/// for the connection's reader (the HTTP layer) to take at its own pace.
/// <para>
/// Why: Linux merges in-order segments that wait in a socket's receive queue into one buffer and keeps the newest one's
/// arrival stamp (<c>tcp_try_coalesce</c>), so a first token the client reads late (its thread-pool continuation waiting
/// for a core behind other work) carried a later token's arrival, 10, 20, 30 … ms late at 100 tokens/s. This thread reads
/// each socket when the kernel says it became readable, where permitted at real-time priority (<c>SCHED_FIFO</c>, below
/// serve-sim's emission threads), so segments leave the queue before the next one arrives and every read keeps its own
/// stamps, whatever the HTTP layer's threads are doing.
/// </para>
/// </summary>
internal static partial class ReceiveReader
{
    /// <summary>The reader thread's real-time priority where permitted (serve-sim's emission threads use 30: the server first).</summary>
    public const int RealTimePriority = 20;

    /// <summary>Bytes a connection may have queued and not yet taken before the thread stops reading it (the kernel's buffer then holds the rest).</summary>
    public const int QueueLimitBytes = 1 << 20;

    private const int EpollCtlAdd = 1;
    private const int EpollCtlDel = 2;
    private const int EpollCtlMod = 3;
    private const uint EpollIn = 0x001;
    private const uint EpollRdHup = 0x2000;
    private const uint EpollEt = 1u << 31;
    private const uint Interest = EpollIn | EpollRdHup | EpollEt;
    private const int MaxEvents = 256;
    private const int ScratchBytes = 64 * 1024;
    // Reads of one connection per wake before the others get their turn (each read takes what is queued; more than a few
    // means the server sends faster than one read drains): the connection is re-armed and read again on the next wake.
    private const int ReadsPerWake = 16;
    private const int EIntr = 4;
    private const int EAgain = 11;
    private const int SchedFifo = 1;

    private static readonly ConcurrentDictionary<long, ReceiveQueue> s_queues = new();
    private static readonly Lazy<Started> s_started = new(Start, LazyThreadSafetyMode.ExecutionAndPublication);
    private static long s_nextId;
    private static long s_reads;

    private sealed record Started(int EpollFd, string Description, string? Error);

    /// <summary>How the thread runs ("SCHED_FIFO priority 20", or normal priority and why), once started; null before.</summary>
    public static string? Description => s_started.IsValueCreated ? s_started.Value.Description : null;

    /// <summary>Reads the thread has made since the process started (tests see that it, not the HTTP layer, read).</summary>
    public static long Reads => Interlocked.Read(ref s_reads);

    /// <summary>Connections being read now.</summary>
    public static int Connections => s_queues.Count;

    /// <summary>
    /// Starts reading <paramref name="socket"/> (connected, owned by the caller) on the thread: its bytes and their stamps are
    /// queued on the returned queue; null when the thread cannot run here (the caller then reads the socket itself).
    /// </summary>
    public static ReceiveQueue? Register(Socket socket)
    {
        var started = s_started.Value;
        if (started.Error is not null)
        {
            return null;
        }

        var queue = new ReceiveQueue(socket, Interlocked.Increment(ref s_nextId));
        s_queues[queue.Id] = queue;
        if (!Control(started.EpollFd, EpollCtlAdd, queue))
        {
            s_queues.TryRemove(queue.Id, out _);
            return null;
        }

        return queue;
    }

    /// <summary>Stops reading the queue's socket (before it is closed) and wakes a reader waiting on it.</summary>
    public static void Unregister(ReceiveQueue queue)
    {
        if (s_queues.TryRemove(queue.Id, out _))
        {
            Control(s_started.Value.EpollFd, EpollCtlDel, queue);
        }

        queue.Close();
    }

    /// <summary>Asks the thread to read the queue's socket again (after its reader made room in a full queue).</summary>
    internal static void Rearm(ReceiveQueue queue)
    {
        if (s_queues.ContainsKey(queue.Id))
        {
            Control(s_started.Value.EpollFd, EpollCtlMod, queue);
        }
    }

    /// <summary>An epoll_ctl on the queue's descriptor, its handle held for the call (a socket closed meanwhile is not touched).</summary>
    private static unsafe bool Control(int epollFd, int operation, ReceiveQueue queue)
    {
        var handle = queue.Socket.SafeHandle;
        var added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            var ev = stackalloc byte[16];
            *(uint*)ev = Interest;
            *(long*)(ev + DataOffset) = queue.Id;
            return EpollCtl(epollFd, operation, (int)handle.DangerousGetHandle(), ev) == 0;
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    // struct epoll_event is packed on x86-64 (12 bytes: u32 events, u64 data), naturally aligned elsewhere (16 bytes).
    private static int DataOffset => RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 4 : 8;

    private static int EventSize => RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 12 : 16;

#pragma warning disable CA1031 // The thread must not die: a failure to start is reported and the streams read for themselves.
    private static Started Start()
    {
        if (!KernelReceiveStream.IsSupported)
        {
            return new Started(-1, "not used (not 64-bit Linux)", "unsupported");
        }

        int epollFd;
        try
        {
            epollFd = EpollCreate1(0x80000); // EPOLL_CLOEXEC
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return new Started(-1, "not used (no epoll)", ex.Message);
        }

        if (epollFd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            return new Started(-1, string.Create(CultureInfo.InvariantCulture, $"not used (epoll_create1 failed with errno {errno})"), "epoll");
        }

        var ready = new ManualResetEventSlim();
        string? scheduling = null;
        var thread = new Thread(() =>
        {
            scheduling = LinuxThreadClock.RaiseToFifo(RealTimePriority);
            ready.Set();
            Loop(epollFd);
        })
        {
            IsBackground = true,
            Name = "spark receive reader",
        };
        thread.UnsafeStart();
        ready.Wait();
        ready.Dispose();
        return new Started(epollFd, "one receive thread (epoll), " + scheduling, null);
    }

    private static unsafe void Loop(int epollFd)
    {
        var events = new byte[MaxEvents * EventSize];
        var scratch = GC.AllocateUninitializedArray<byte>(ScratchBytes, pinned: true);
        var dataOffset = DataOffset;
        var eventSize = EventSize;
        while (true)
        {
            int n;
            fixed (byte* buffer = events)
            {
                n = EpollWait(epollFd, buffer, MaxEvents, -1);
            }

            if (n < 0)
            {
                if (Marshal.GetLastPInvokeError() != EIntr)
                {
                    Thread.Sleep(1); // Not expected; never spin at real-time priority.
                }

                continue;
            }

            for (var i = 0; i < n; i++)
            {
                var id = BitConverter.ToInt64(events, (i * eventSize) + dataOffset);
                if (s_queues.TryGetValue(id, out var queue))
                {
                    try
                    {
                        Drain(queue, scratch, epollFd);
                    }
                    catch (Exception ex)
                    {
                        queue.Fail(new IOException($"the receive thread failed reading the socket: {ex.Message}", ex));
                    }
                }
            }
        }
    }
#pragma warning restore CA1031

    /// <summary>Reads the socket until the kernel has nothing more for it (edge-triggered: the next arrival wakes the thread again).</summary>
    private static void Drain(ReceiveQueue queue, byte[] scratch, int epollFd)
    {
        for (var i = 0; i < ReadsPerWake; i++)
        {
            if (queue.Closed)
            {
                return;
            }

            if (!queue.HasRoom())
            {
                return; // Paused: its reader re-arms it when it has taken enough.
            }

            var result = queue.ReceiveOnce(scratch, out var first, out var last, out var errno);
            if (result > 0)
            {
                Interlocked.Increment(ref s_reads);
                var data = ArrayPool<byte>.Shared.Rent(result);
                scratch.AsSpan(0, result).CopyTo(data);
                queue.Add(new ReceiveQueue.Chunk(data, result, first, last, 0));
                continue;
            }

            if (result == 0)
            {
                queue.Add(new ReceiveQueue.Chunk(null, 0, 0, 0, 0)); // end of stream
                StopWatching(queue, epollFd);
                return;
            }

            if (errno == EAgain)
            {
                return;
            }

            if (errno == EIntr)
            {
                continue;
            }

            queue.Add(new ReceiveQueue.Chunk(null, 0, 0, 0, errno));
            StopWatching(queue, epollFd);
            return;
        }

        // Still data after the bound: be woken for it again.
        Control(epollFd, EpollCtlMod, queue);
    }

    private static void StopWatching(ReceiveQueue queue, int epollFd)
    {
        if (s_queues.TryRemove(queue.Id, out _))
        {
            Control(epollFd, EpollCtlDel, queue);
        }
    }
}

/// <summary>
/// What <see cref="ReceiveReader"/>'s thread took from one connection and its reader has not yet: one chunk per socket read,
/// with the kernel arrival of its first and last segment. One reader (the HTTP layer's, one read at a time) and one writer
/// (the thread); the reader waits without a lock for the writer's next chunk.
/// </summary>
internal sealed class ReceiveQueue : IValueTaskSource
{
    /// <summary>One socket read: bytes (pooled; null at the end of the stream or on an error), their count, the arrival of their first and last segment, errno on failure.</summary>
    public readonly record struct Chunk(byte[]? Data, int Count, long First, long Last, int Error);

    private readonly ConcurrentQueue<Chunk> _chunks = new();
    private ManualResetValueTaskSourceCore<bool> _signal = new() { RunContinuationsAsynchronously = true };
    private CancellationTokenRegistration _cancellation;
    private long _queuedBytes;
    private int _paused;
    private int _waiting;
    private volatile bool _closed;
    private Exception? _failure;

    public ReceiveQueue(Socket socket, long id)
    {
        Socket = socket;
        Id = id;
    }

    public Socket Socket { get; }

    public long Id { get; }

    public bool Closed => _closed;

    /// <summary>True when a chunk (or the end) is queued: a zero-byte read may complete.</summary>
    public bool HasChunk => !_chunks.IsEmpty;

    public bool TryTake(out Chunk chunk) => _chunks.TryDequeue(out chunk);

    /// <summary>The reader gives back what it took (its bytes to the pool): the thread reads again if it had paused.</summary>
    public void Release(Chunk chunk)
    {
        if (chunk.Data is { } data)
        {
            ArrayPool<byte>.Shared.Return(data);
        }

        var queued = Interlocked.Add(ref _queuedBytes, -chunk.Count);
        if (queued <= ReceiveReader.QueueLimitBytes / 2 && Volatile.Read(ref _paused) == 1 && Interlocked.Exchange(ref _paused, 0) == 1)
        {
            ReceiveReader.Rearm(this);
        }
    }

    /// <summary>The thread's check before a read: false (and paused) while the reader has a full queue to take.</summary>
    public bool HasRoom()
    {
        if (Interlocked.Read(ref _queuedBytes) < ReceiveReader.QueueLimitBytes)
        {
            return true;
        }

        Interlocked.Exchange(ref _paused, 1);
        // The reader may have taken enough between the check and the flag: then read on rather than wait for a re-arm.
        return Interlocked.Read(ref _queuedBytes) < ReceiveReader.QueueLimitBytes && Interlocked.Exchange(ref _paused, 0) == 1;
    }

    /// <summary>One peek (the first segment's arrival) and one read (the last's) into <paramref name="scratch"/>: bytes, 0 at the end, −1 with errno.</summary>
    public int ReceiveOnce(byte[] scratch, out long first, out long last, out int errno) =>
        KernelReceiveStream.ReceiveStamped(Socket, scratch, out first, out last, out errno);

    public void Add(Chunk chunk)
    {
        Interlocked.Add(ref _queuedBytes, chunk.Count);
        _chunks.Enqueue(chunk);
        Wake();
    }

    public void Fail(Exception failure)
    {
        _failure = failure;
        _closed = true;
        Wake();
    }

    public void Close()
    {
        _closed = true;
        Wake();
        while (_chunks.TryDequeue(out var chunk))
        {
            if (chunk.Data is { } data)
            {
                ArrayPool<byte>.Shared.Return(data);
            }
        }
    }

    /// <summary>The failure that ended the thread's reading, if any (thrown to the reader once the queue is empty).</summary>
    public Exception? Failure => _failure;

    private void Wake()
    {
        if (Volatile.Read(ref _waiting) == 1 && Interlocked.Exchange(ref _waiting, 0) == 1)
        {
            _signal.SetResult(true);
        }
    }

    /// <summary>Completes when a chunk is queued or the queue is closed (at once if one is); one waiter at a time.</summary>
    public ValueTask WaitAsync(CancellationToken cancellationToken)
    {
        _signal.Reset();
        Interlocked.Exchange(ref _waiting, 1);
        if (!_chunks.IsEmpty || _closed)
        {
            if (Interlocked.Exchange(ref _waiting, 0) == 1)
            {
                return ValueTask.CompletedTask;
            }

            // The thread took the wait and completes it: await that.
        }
        else if (cancellationToken.CanBeCanceled)
        {
            _cancellation = cancellationToken.UnsafeRegister(static (state, token) =>
            {
                var queue = (ReceiveQueue)state!;
                if (Interlocked.Exchange(ref queue._waiting, 0) == 1)
                {
                    queue._signal.SetException(new OperationCanceledException(token));
                }
            }, this);
        }

        return new ValueTask(this, _signal.Version);
    }

    void IValueTaskSource.GetResult(short token)
    {
        _cancellation.Dispose();
        _cancellation = default;
        _signal.GetResult(token);
    }

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _signal.GetStatus(token);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _signal.OnCompleted(continuation, state, token, flags);
}
