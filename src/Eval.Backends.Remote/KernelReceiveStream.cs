using static Spark.Eval.Core.Native.LinuxSockets;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Spark.Eval.Core.Native;

namespace Spark.Eval.Backends.Remote;

/// <summary>
/// Where the socket reads made on behalf of one attempt leave the kernel's arrival time of the bytes they returned. The
/// backend sets <see cref="Current"/> before it sends the request; the connection's stream takes it up with the reads that
/// bring the headers and keeps it for the rest of that response.
/// </summary>
internal sealed class ArrivalSink
{
    private static readonly AsyncLocal<ArrivalSink?> s_current = new();

    /// <summary>The sink of the read in progress on this flow, if the backend set one.</summary>
    public static ArrivalSink? Current
    {
        get => s_current.Value;
        set => s_current.Value = value;
    }

    /// <summary>Arrival (TimeProvider.System ticks) of the last segment the latest read returned; 0 before the first read.</summary>
    public long Timestamp { get; set; }

    /// <summary>Arrival of the first segment the latest read returned (its first byte's): earlier than <see cref="Timestamp"/> when the read took several.</summary>
    public long FirstTimestamp { get; set; }

    /// <summary>
    /// The kernel's transmit time (TimeProvider.System ticks) of the last byte of the latest write made for this attempt
    /// (<c>SO_TIMESTAMPING</c> software transmit stamp); 0 when the kernel gave none for it.
    /// </summary>
    public long TransmitTimestamp { get; set; }

    /// <summary>Socket reads made for this attempt so far: a change tells the reader of events that a new read began.</summary>
    public int Reads { get; set; }

    /// <summary>
    /// The arrival of the next event the caller completed, given the <see cref="Reads"/> count it saw at its previous event:
    /// the first event a new read completes takes the read's first segment (exact when the event ended in that segment, as
    /// it does when the server sends one event per write), later events the last segment (an upper bound: the kernel
    /// stamps a read with its newest segment, so a client that fell behind and read several events at once would otherwise
    /// stamp them all with the last one's arrival). 0 when no read was stamped.
    /// </summary>
    public long NextEventArrival(ref int seenReads)
    {
        var first = Reads != seenReads;
        seenReads = Reads;
        return first && FirstTimestamp > 0 ? FirstTimestamp : Timestamp;
    }
}

/// <summary>
/// A TCP transport stream for <see cref="System.Net.Http.SocketsHttpHandler"/> (HTTP/1.1) that reads with
/// <c>recvmsg</c> and <c>SO_TIMESTAMPNS</c>, so every read also returns when the kernel received its bytes. A client busy
/// with other streams (256 streams whose chunks come due together) then still stamps each chunk at its arrival, not at
/// the moment its thread got round to it. A read's stamp is its newest segment's, so each read is preceded by a one-byte
/// peek for the first segment's (<see cref="ArrivalSink.FirstTimestamp"/>). Linux only; <see cref="IsSupported"/> says
/// whether it can be used.
/// </summary>
internal sealed partial class KernelReceiveStream : Stream
{
    private const int SolSocket = 1;
    private const int SoTimestampNs = 35; // SO_TIMESTAMPNS_OLD on x86-64 and arm64: a struct timespec of CLOCK_REALTIME
    private const int MsgPeek = 0x2;
    private const int MsgDontWait = 0x40;
    private const int EAgain = 11;
    private const int EIntr = 4;
    // Room for SO_TIMESTAMPNS (32 bytes) and the SCM_TIMESTAMPING a socket with transmit stamps also gets on reads (64).
    private const int ControlSize = 128;
    private const int SoTimestamping = 37; // SO_TIMESTAMPING_OLD = SCM_TIMESTAMPING: struct scm_timestamping, ts[0] software, CLOCK_REALTIME
    private const int TimestampingTxSoftware = 1 << 1;
    private const int TimestampingSoftware = 1 << 4;
    private const int TimestampingOptId = 1 << 7;
    private const int TimestampingOptTsOnly = 1 << 11;
    private const int MsgErrQueue = 0x2000;

    private readonly Socket _socket;
    private ArrivalSink? _sink;
    private bool _waitFirst;
    private ConnectionUse? _lastUse;
    private int _requests;
    private readonly bool _transmitStamps;
    private long _written;

    // Set when ReceiveReader's thread reads this socket: the reads below take its chunks instead of the socket's bytes.
    private readonly ReceiveQueue? _queue;
    private ReceiveQueue.Chunk _current;
    private int _currentOffset;
    private bool _ended;

    private KernelReceiveStream(Socket socket, bool transmitStamps, ReceiveQueue? queue)
    {
        _socket = socket;
        _transmitStamps = transmitStamps;
        _queue = queue;
    }

    /// <summary>True when <see cref="ReceiveReader"/>'s thread reads this connection (false: the HTTP layer's reads do).</summary>
    public bool ReadByReceiveThread => _queue is not null;

    /// <summary>True when this connection's writes are stamped by the kernel on transmit (<see cref="ArrivalSink.TransmitTimestamp"/>).</summary>
    public bool TransmitStamps => _transmitStamps;

    /// <summary>True on 64-bit Linux where the system clock's timestamps are CLOCK_MONOTONIC nanoseconds (what the stamps are converted to).</summary>
    public static bool IsSupported { get; } = Probe();

    /// <summary>
    /// Turns kernel receive timestamps on for the connected <paramref name="socket"/>, and software transmit timestamps
    /// where the kernel allows (each stamp keyed by the offset of the last byte of its write, <c>SOF_TIMESTAMPING_OPT_ID</c>,
    /// without the packet's bytes, <c>OPT_TSONLY</c>), and wraps it; the stream owns the socket.
    /// </summary>
    public static KernelReceiveStream Create(Socket socket, bool receiveThread = false)
    {
        socket.SetRawSocketOption(SolSocket, SoTimestampNs, BitConverter.GetBytes(1));
        var transmit = true;
        try
        {
            // After connect: the kernel starts the byte count (OPT_ID) at the connection's next byte.
            socket.SetRawSocketOption(SolSocket, SoTimestamping, BitConverter.GetBytes(TimestampingTxSoftware | TimestampingSoftware | TimestampingOptId | TimestampingOptTsOnly));
        }
        catch (SocketException)
        {
            transmit = false;
        }

        return new KernelReceiveStream(socket, transmit, receiveThread ? ReceiveReader.Register(socket) : null);
    }

    public override bool CanRead => true;

    public override bool CanWrite => true;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    // One async method per read, its state machine boxes pooled: a reader that keeps up suspends here once per chunk, and a
    // fresh box each time was, with the HTTP and SSE layers' own, a third of the client's allocation at 256 streams.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        // The request's sink comes with the flow that sent it (the backend sets it before SendAsync, whose reads bring the
        // headers); the body's reads, made from the caller's flow, fall back to it. An HTTP/1.1 connection carries one
        // request at a time, and each request's headers are read on its own flow, so the sink kept here is always the
        // current request's. (Setting the AsyncLocal before every event instead cost an execution context per chunk.)
        var sink = ArrivalSink.Current;
        if (sink is not null)
        {
            _sink = sink;
        }
        else
        {
            sink = _sink;
        }

        if (_queue is not null)
        {
            return await ReadQueuedAsync(_queue, buffer, sink, cancellationToken);
        }

        try
        {
            if (buffer.IsEmpty)
            {
                // A zero-byte read waits for data without taking it (SocketsHttpHandler uses these on idle connections).
                await _socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None, cancellationToken);
                return 0;
            }

            // A reader that keeps up finds the socket empty each time: wait for data first rather than spend a system call
            // (on this VM the costliest part of a chunk) learning that. One that falls behind finds data queued: read at once.
            var waited = false;
            if (_waitFirst)
            {
                // (The waits are inlined: a helper would add an async state machine per chunk.)
                var readable = _socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None, cancellationToken);
                waited = !readable.IsCompleted;
                await readable;
            }

            while (true)
            {
                // A one-byte peek first (only when someone takes the stamps): its stamp is the first queued segment's
                // arrival; the read's own is the newest segment's.
                var first = 0L;
                var arrival = 0L;
                var errno = 0;
                var peeked = sink is null ? 1 : PeekFirst(out first, out errno);
                var received = peeked > 0 ? Receive(buffer.Span, MsgDontWait, out arrival, out errno) : peeked;
                if (received >= 0)
                {
                    if (sink is not null && received > 0)
                    {
                        sink.Timestamp = arrival;
                        sink.FirstTimestamp = first > 0 && first <= arrival ? first : arrival;
                        sink.Reads++;
                    }

                    _waitFirst = waited;
                    return received;
                }

                if (errno == EIntr)
                {
                    continue;
                }

                if (errno != EAgain)
                {
                    throw new SocketException(errno);
                }

                // Nothing buffered: wait until the socket is readable, then read with recvmsg again.
                var ready = _socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None, cancellationToken);
                waited |= !ready.IsCompleted;
                await ready;
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // As NetworkStream does: HTTP layers expect transport failures as IOException.
            throw new IOException($"reading the socket failed: {ex.Message}", ex);
        }
    }

    /// <summary>
    /// A read from the receive thread's chunks: at most one chunk's bytes per read, so the read's stamps are that socket
    /// read's (its first and last segment's arrival). The rest of a chunk larger than the buffer comes with the next read,
    /// stamped with the chunk's last arrival for both (an upper bound: which segment its first byte came in is not known).
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<int> ReadQueuedAsync(ReceiveQueue queue, Memory<byte> buffer, ArrivalSink? sink, CancellationToken cancellationToken)
    {
        while (true)
        {
            if (_current.Data is { } data && _currentOffset < _current.Count)
            {
                if (buffer.IsEmpty)
                {
                    return 0;
                }

                var n = Math.Min(buffer.Length, _current.Count - _currentOffset);
                data.AsSpan(_currentOffset, n).CopyTo(buffer.Span);
                if (sink is not null)
                {
                    sink.Timestamp = _current.Last;
                    sink.FirstTimestamp = _currentOffset == 0 && _current.First > 0 && _current.First <= _current.Last ? _current.First : _current.Last;
                    sink.Reads++;
                }

                _currentOffset += n;
                if (_currentOffset == _current.Count)
                {
                    var done = _current;
                    _current = default;
                    _currentOffset = 0;
                    queue.Release(done);
                }

                return n;
            }

            if (_ended)
            {
                return 0;
            }

            if (buffer.IsEmpty ? queue.HasChunk : queue.TryTake(out _current))
            {
                if (buffer.IsEmpty)
                {
                    return 0; // Data (or the end) is there; a zero-byte read does not take it.
                }

                if (_current.Data is null)
                {
                    var error = _current.Error;
                    _current = default;
                    if (error != 0)
                    {
                        throw new IOException($"reading the socket failed: {new SocketException(error).Message}", new SocketException(error));
                    }

                    _ended = true;
                    return 0;
                }

                continue;
            }

            if (queue.Closed)
            {
                throw queue.Failure ?? new IOException("reading the socket failed: the connection was closed", new ObjectDisposedException(nameof(KernelReceiveStream)));
            }

            await queue.WaitAsync(cancellationToken);
        }
    }

    /// <summary>
    /// One non-blocking peek and read of <paramref name="socket"/> into <paramref name="buffer"/> (the receive thread's):
    /// bytes (0 at the end of the stream, −1 with errno) and the arrival of the first and last segment they came from.
    /// </summary>
    internal static int ReceiveStamped(Socket socket, byte[] buffer, out long first, out long last, out int errno)
    {
        first = 0;
        last = 0;
        var handle = socket.SafeHandle;
        var added = false;
        try
        {
            handle.DangerousAddRef(ref added);
        }
        catch (ObjectDisposedException)
        {
            errno = 9; // EBADF: closed meanwhile
            return -1;
        }

        try
        {
            var fd = (int)handle.DangerousGetHandle();
            var peeked = ReceiveFd(stackalloc byte[1], MsgDontWait | MsgPeek, fd, out first, out errno);
            return peeked > 0 ? ReceiveFd(buffer, MsgDontWait, fd, out last, out errno) : peeked;
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    private static unsafe int ReceiveFd(Span<byte> buffer, int flags, int fd, out long arrival, out int errno)
    {
        var control = stackalloc byte[ControlSize];
        return Receive(buffer, flags, fd, control, out arrival, out errno);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ConnectionUse.NoteWrite(ref _lastUse, ref _requests);
        try
        {
            while (!buffer.IsEmpty)
            {
                var sent = await _socket.SendAsync(buffer, SocketFlags.None, cancellationToken);
                buffer = buffer[sent..];
                _written += sent;
            }
        }
        catch (SocketException ex)
        {
            throw new IOException($"writing to the socket failed: {ex.Message}", ex);
        }

        if (_transmitStamps)
        {
            // The request's writer (HTTP/1.1 writes on the flow that sent it) finds its sink here, as reads do.
            var stamp = TakeTransmitStamp();
            if (ArrivalSink.Current is { } sink)
            {
                sink.TransmitTimestamp = stamp;
            }
        }
    }

    /// <summary>
    /// Drains the socket's error queue (transmit stamps only: nothing else is asked for) and returns the stamp of the last
    /// byte written so far, 0 when the kernel has not given it yet (a send it deferred): stamps of earlier writes that come
    /// late are dropped by their key, never taken for this one. Loopback and most drivers stamp within the send call.
    /// </summary>
    private unsafe long TakeTransmitStamp()
    {
        var expectedKey = unchecked((uint)(_written - 1));
        var control = stackalloc byte[ControlSize];
        var handle = _socket.SafeHandle;
        var added = false;
        long found = 0;
        handle.DangerousAddRef(ref added);
        try
        {
            var fd = (int)handle.DangerousGetHandle();
            // Bounded: each write queues one stamp; a few left from deferred sends are drained with it.
            for (var i = 0; i < 64; i++)
            {
                var header = new MsgHdr { Control = control, ControlLength = ControlSize };
                if (RecvMsg(fd, &header, MsgErrQueue | MsgDontWait) < 0)
                {
                    break;
                }

                if (ParseTransmitStamp(control, (int)header.ControlLength) is ({ } key, var stamp) && key == expectedKey && stamp > 0)
                {
                    found = stamp;
                }
            }
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }

        return found;
    }

    /// <summary>The key (<c>ee_data</c>) and software stamp (monotonic ticks) of one error-queue message, or (null, 0).</summary>
    private static unsafe (uint? Key, long Stamp) ParseTransmitStamp(byte* control, int length)
    {
        uint? key = null;
        long stamp = 0;
        var offset = 0;
        while (offset + 16 <= length)
        {
            var cmsgLength = (int)*(nuint*)(control + offset);
            if (cmsgLength < 16 || offset + cmsgLength > length)
            {
                break;
            }

            var level = *(int*)(control + offset + 8);
            var type = *(int*)(control + offset + 12);
            if (level == SolSocket && type == SoTimestamping && cmsgLength >= 16 + 16)
            {
                stamp = LinuxThreadClock.RealtimeToMonotonicNs((*(long*)(control + offset + 16) * 1_000_000_000L) + *(long*)(control + offset + 24));
            }
            else if (((level == SolIp && type == IpRecvErr) || (level == SolIpv6 && type == Ipv6RecvErr)) && cmsgLength >= 16 + 16)
            {
                // struct sock_extended_err: u32 ee_errno; u8 ee_origin, ee_type, ee_code, ee_pad; u32 ee_info; u32 ee_data.
                var origin = *(control + offset + 16 + 4);
                if (origin == SoEeOriginTimestamping)
                {
                    key = *(uint*)(control + offset + 16 + 12);
                }
            }

            offset += (cmsgLength + 7) & ~7;
        }

        return (key, stamp);
    }

    private const int SolIp = 0;
    private const int IpRecvErr = 11;
    private const int SolIpv6 = 41;
    private const int Ipv6RecvErr = 25;
    private const byte SoEeOriginTimestamping = 4;

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override void Flush()
    {
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            if (_queue is not null)
            {
                ReceiveReader.Unregister(_queue);
                if (_current.Data is { } data)
                {
                    System.Buffers.ArrayPool<byte>.Shared.Return(data);
                    _current = default;
                }
            }

            _socket.Dispose();
        }

        base.Dispose(disposing);
    }

    /// <summary>Peeks at the first queued byte without taking it: 1 (0 at end of stream, −1 with errno) and its segment's arrival.</summary>
    private int PeekFirst(out long arrival, out int errno) => Receive(stackalloc byte[1], MsgDontWait | MsgPeek, out arrival, out errno);

    /// <summary>One non-blocking recvmsg: bytes read (0 at end of stream) and the arrival of the last segment they came from in TimeProvider.System ticks (0 when the kernel gave none), or −1 with errno.</summary>
    private unsafe int Receive(Span<byte> buffer, int flags, out long arrival, out int errno)
    {
        arrival = 0;
        errno = 0;
        var control = stackalloc byte[ControlSize];
        // Hold a reference on the handle for the call: a socket disposed meanwhile throws instead of its descriptor
        // number, perhaps reused by another connection, being read.
        var handle = _socket.SafeHandle;
        var added = false;
        handle.DangerousAddRef(ref added);
        try
        {
            return Receive(buffer, flags, (int)handle.DangerousGetHandle(), control, out arrival, out errno);
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    private static unsafe int Receive(Span<byte> buffer, int flags, int fd, byte* control, out long arrival, out int errno)
    {
        arrival = 0;
        errno = 0;
        fixed (byte* data = buffer)
        {
            var iov = new IoVec { Base = data, Length = (nuint)buffer.Length };
            var header = new MsgHdr { Iov = &iov, IovLength = 1, Control = control, ControlLength = ControlSize };
            var n = RecvMsg(fd, &header, flags);
            if (n < 0)
            {
                errno = Marshal.GetLastPInvokeError();
                return -1;
            }

            // cmsghdr: size_t len, int level, int type, then the data aligned to 8 bytes.
            var offset = 0;
            while (offset + 16 <= (int)header.ControlLength)
            {
                var length = (int)*(nuint*)(control + offset);
                if (length < 16)
                {
                    break;
                }

                if (*(int*)(control + offset + 8) == SolSocket && *(int*)(control + offset + 12) == SoTimestampNs && length >= 16 + 16)
                {
                    var seconds = *(long*)(control + offset + 16);
                    var nanoseconds = *(long*)(control + offset + 24);
                    arrival = LinuxThreadClock.RealtimeToMonotonicNs((seconds * 1_000_000_000L) + nanoseconds);
                }

                offset += (length + 7) & ~7;
            }

            return (int)n;
        }
    }

    private static bool Probe()
    {
        if (!OperatingSystem.IsLinux() || !Environment.Is64BitProcess || System.Diagnostics.Stopwatch.Frequency != 1_000_000_000L)
        {
            return false;
        }

        try
        {
            var before = TimeProvider.System.GetTimestamp();
            var monotonic = LinuxThreadClock.MonotonicNs();
            var after = TimeProvider.System.GetTimestamp();
            return monotonic >= before && monotonic <= after;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }
}
