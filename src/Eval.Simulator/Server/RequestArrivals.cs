using static Spark.Eval.Core.Native.LinuxSockets;
using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Spark.Eval.Core.Native;

namespace Spark.Eval.Simulator.Server;

/// <summary>
/// The kernel's arrival time of each request serve-sim receives (HTTP/1.1), so a simulated schedule starts when the request
/// reached the machine rather than when its handler got a core. Kestrel's socket transport reads without the kernel's
/// ancillary data, and in a burst (64 requests at once on 2 cores) the last handler starts milliseconds after its bytes
/// arrived; a schedule counted from the handler was late by that much while serve-sim's own lateness (measured from the
/// handler) saw nothing. One thread (epoll, edge-triggered, real-time priority where permitted, below the emission
/// threads) peeks at each connection whenever bytes arrive on it: the peek takes nothing (Kestrel reads the bytes as before)
/// and returns the newest queued segment's arrival (<c>SO_TIMESTAMPNS</c>), so the connection's next request is stamped with
/// the arrival of its last byte, the moment a client's <c>request_sent</c> (the transmit of its last byte) corresponds to.
/// </summary>
public sealed partial class RequestArrivals : IDisposable
{
    /// <summary>The peeking thread's real-time priority where permitted (the emission threads' is 30).</summary>
    public const int RealTimePriority = 29;

    private const int SolSocket = 1;
    private const int SoTimestampNs = 35;
    private const int MsgPeek = 0x2;
    private const int MsgDontWait = 0x40;
    private const uint EpollIn = 0x001;
    private const uint EpollRdHup = 0x2000;
    private const uint EpollEt = 1u << 31;
    private const int EpollCtlAdd = 1;
    private const int EpollCtlDel = 2;
    private const int EIntr = 4;
    private const int MaxEvents = 128;
    // A request larger than this is stamped with the arrival of the newest segment within its first 64 KiB queued.
    private const int PeekBytes = 64 * 1024;

    private readonly ConcurrentDictionary<long, Connection> _connections = new();
    private readonly int _epollFd;
    private readonly int _wakeFd;
    private readonly Thread? _thread;
    private volatile bool _stopping;
    private long _nextId;
    private long _stamped;

    private RequestArrivals(int epollFd, int wakeFd)
    {
        _epollFd = epollFd;
        _wakeFd = wakeFd;
        var ready = new ManualResetEventSlim();
        _thread = new Thread(() =>
        {
            Scheduling = LinuxThreadClock.RaiseToFifo(RealTimePriority);
            ready.Set();
            Loop();
        })
        {
            IsBackground = true,
            Name = "serve-sim arrivals",
        };
        _thread.UnsafeStart();
        ready.Wait();
        ready.Dispose();
    }

    /// <summary>How the thread runs (e.g. "SCHED_FIFO priority 29").</summary>
    public string Scheduling { get; private set; } = string.Empty;

    /// <summary>Requests whose schedule started at the kernel's arrival stamp so far.</summary>
    public long Stamped => Interlocked.Read(ref _stamped);

    /// <summary>Starts the thread; null where it cannot run (not 64-bit Linux with a nanosecond monotonic clock, no epoll).</summary>
    public static RequestArrivals? TryStart()
    {
        if (!OperatingSystem.IsLinux() || !Environment.Is64BitProcess || System.Diagnostics.Stopwatch.Frequency != 1_000_000_000L)
        {
            return null;
        }

        try
        {
            var epollFd = EpollCreate1(0x80000);
            if (epollFd < 0)
            {
                return null;
            }

            var wakeFd = EventFd(0, 0x80000 | 0x800);
            if (wakeFd < 0 || !Control(epollFd, EpollCtlAdd, wakeFd, -1))
            {
                _ = Close(epollFd);
                return null;
            }

            return new RequestArrivals(epollFd, wakeFd);
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
    }

    /// <summary>Watches an accepted connection's socket (before Kestrel reads it); null when the socket refuses receive stamps.</summary>
    public Connection? Watch(Socket socket)
    {
        try
        {
            socket.SetRawSocketOption(SolSocket, SoTimestampNs, BitConverter.GetBytes(1));
        }
        catch (SocketException)
        {
            return null;
        }

        var connection = new Connection(this, socket, Interlocked.Increment(ref _nextId));
        _connections[connection.Id] = connection;
        if (!connection.Control(EpollCtlAdd))
        {
            _connections.TryRemove(connection.Id, out _);
            return null;
        }

        return connection;
    }

    internal void Forget(Connection connection)
    {
        if (_connections.TryRemove(connection.Id, out _))
        {
            connection.Control(EpollCtlDel);
        }
    }

    internal void CountStamped() => Interlocked.Increment(ref _stamped);

    public void Dispose()
    {
        if (_stopping)
        {
            return;
        }

        _stopping = true;
        var one = BitConverter.GetBytes(1L);
        _ = Write(_wakeFd, one, one.Length);
        _thread?.Join(TimeSpan.FromSeconds(5));
        _ = Close(_wakeFd);
        _ = Close(_epollFd);
    }

    /// <summary>The kernel's arrival (TimeProvider.System ticks) of the request in flight, null when none was peeked for it.</summary>
    public sealed record Arrival(long? Kernel);

    /// <summary>One connection's arrival stamp: the newest segment queued at the latest arrival, until a request takes it.</summary>
    public sealed class Connection
    {
        private readonly RequestArrivals _owner;
        private long _stamp;
        private long _notBefore;

        internal Connection(RequestArrivals owner, Socket socket, long id)
        {
            _owner = owner;
            Socket = socket;
            Id = id;
        }

        internal Socket Socket { get; }

        internal long Id { get; }

        /// <summary>
        /// The kernel's arrival (TimeProvider.System ticks) of the request whose handler starts now (<paramref name="now"/>):
        /// the stamp the thread peeked since the previous request ended, or null (none, or not plausible).
        /// </summary>
        public long? Take(long now)
        {
            var stamp = Interlocked.Exchange(ref _stamp, 0);
            if (stamp <= Volatile.Read(ref _notBefore) || stamp > now || now - stamp > 10 * System.Diagnostics.Stopwatch.Frequency)
            {
                return null;
            }

            _owner.CountStamped();
            return stamp;
        }

        /// <summary>
        /// The request's handler ended at <paramref name="now"/>: what the thread peeked until now belongs to it (a body that
        /// came in a later segment), not to the next request, which the client sends only after the whole response.
        /// </summary>
        public void Done(long now)
        {
            Volatile.Write(ref _notBefore, now);
            var stamp = Volatile.Read(ref _stamp);
            if (stamp != 0 && stamp <= now)
            {
                Interlocked.CompareExchange(ref _stamp, 0, stamp);
            }
        }

        /// <summary>Stops watching (the connection closed).</summary>
        public void Forget() => _owner.Forget(this);

        internal void Invalidate() => Volatile.Write(ref _stamp, 0);

        internal void Offer(long stamp)
        {
            if (stamp > Volatile.Read(ref _notBefore))
            {
                Volatile.Write(ref _stamp, stamp);
            }
        }

        internal bool Control(int operation)
        {
            var handle = Socket.SafeHandle;
            var added = false;
            try
            {
                handle.DangerousAddRef(ref added);
                return RequestArrivals.Control(_owner._epollFd, operation, (int)handle.DangerousGetHandle(), Id);
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

        /// <summary>Peeks at what is queued (taking nothing): the newest segment's arrival (monotonic ns), 0 when nothing is queued or no stamp came.</summary>
        internal unsafe long Peek(byte* scratch, int scratchLength)
        {
            var handle = Socket.SafeHandle;
            var added = false;
            try
            {
                handle.DangerousAddRef(ref added);
                var control = stackalloc byte[128];
                var iov = new IoVec { Base = scratch, Length = (nuint)scratchLength };
                var header = new MsgHdr { Iov = &iov, IovLength = 1, Control = control, ControlLength = 128 };
                if (RecvMsg((int)handle.DangerousGetHandle(), &header, MsgPeek | MsgDontWait) <= 0)
                {
                    return 0;
                }

                var offset = 0;
                while (offset + 16 <= (int)header.ControlLength)
                {
                    var length = (int)*(nuint*)(control + offset);
                    if (length < 16)
                    {
                        break;
                    }

                    if (*(int*)(control + offset + 8) == SolSocket && *(int*)(control + offset + 12) == SoTimestampNs && length >= 32)
                    {
                        return LinuxThreadClock.RealtimeToMonotonicNs((*(long*)(control + offset + 16) * 1_000_000_000L) + *(long*)(control + offset + 24));
                    }

                    offset += (length + 7) & ~7;
                }

                return 0;
            }
            catch (ObjectDisposedException)
            {
                return 0;
            }
            finally
            {
                if (added)
                {
                    handle.DangerousRelease();
                }
            }
        }
    }

#pragma warning disable CA1031 // The thread must not die; a failed peek leaves the handler's own time in place.
    private unsafe void Loop()
    {
        var eventSize = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 12 : 16;
        var dataOffset = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 4 : 8;
        var events = new byte[MaxEvents * eventSize];
        var scratch = GC.AllocateUninitializedArray<byte>(PeekBytes, pinned: true);
        while (!_stopping)
        {
            int n;
            fixed (byte* buffer = events)
            {
                n = EpollWait(_epollFd, buffer, MaxEvents, -1);
            }

            if (n < 0)
            {
                if (Marshal.GetLastPInvokeError() != EIntr)
                {
                    Thread.Sleep(1); // never spin at real-time priority
                }

                continue;
            }

            for (var i = 0; i < n; i++)
            {
                var id = BitConverter.ToInt64(events, (i * eventSize) + dataOffset);
                if (_connections.TryGetValue(id, out var connection))
                {
                    try
                    {
                        long stamp;
                        fixed (byte* peek = scratch)
                        {
                            stamp = connection.Peek(peek, scratch.Length);
                        }

                        if (stamp > 0)
                        {
                            connection.Offer(stamp);
                        }
                        else if ((BitConverter.ToUInt32(events, i * eventSize) & EpollIn) != 0)
                        {
                            // Bytes came that Kestrel took before the peek: their arrival is unknown, and an older stamp
                            // would date the request too early; the handler's start is used instead.
                            connection.Invalidate();
                        }
                    }
                    catch (Exception)
                    {
                        // The handler's own start stays the arrival.
                    }
                }
            }
        }
    }

#pragma warning restore CA1031

    private static unsafe bool Control(int epollFd, int operation, int fd, long id)
    {
        var ev = stackalloc byte[16];
        *(uint*)ev = EpollIn | EpollRdHup | EpollEt;
        *(long*)(ev + (RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 4 : 8)) = id;
        return EpollCtl(epollFd, operation, fd, ev) == 0;
    }

    [LibraryImport("libc", EntryPoint = "eventfd", SetLastError = true)]
    private static partial int EventFd(uint initial, int flags);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    private static partial nint Write(int fd, byte[] buffer, nint count);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}
