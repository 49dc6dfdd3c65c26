using System.Buffers;
using System.Globalization;
using System.Runtime.CompilerServices;
using Spark.Eval.Core.Backends;

namespace Spark.Eval.Backends.Remote;

/// <summary>
/// Reads Server-Sent Events from a stream, one event per <see cref="ReadAsync"/>, without allocating per event:
/// <see cref="Data"/> and <see cref="EventName"/> point into reused buffers and stay valid until the next read. The buffers
/// are rented from the shared array pool (a stream per request would otherwise allocate ~20 KB each) and go back on
/// <see cref="Dispose"/>, after which nothing read may be used.
/// Follows the WHATWG framing: fields <c>data</c> (joined by '\n'), <c>event</c>, comments (':'), blank line ends an event;
/// llama-server's non-standard <c>error:</c> field is read as data of an event named <c>error</c>.
/// </summary>
public sealed class SseReader : IDisposable
{
    private readonly Stream _stream;
    private readonly TimeProvider? _time;
    private byte[] _buffer;
    private int _start;
    private int _end;
    private byte[] _data = ArrayPool<byte>.Shared.Rent(4096);
    private int _dataLength;
    private bool _hasData;
    private readonly byte[] _event = new byte[256];
    private int _eventLength;
    private bool _disposed;

    /// <param name="stream">The response body.</param>
    /// <param name="time">When given, the moment the first body bytes arrived is stamped into <see cref="FirstByteTimestamp"/>.</param>
    /// <param name="bufferSize">Initial read buffer size; it grows for longer lines.</param>
    public SseReader(Stream stream, TimeProvider? time = null, int bufferSize = 16 * 1024)
    {
        _stream = stream;
        _time = time;
        ArgumentOutOfRangeException.ThrowIfLessThan(bufferSize, 1);
        _buffer = ArrayPool<byte>.Shared.Rent(bufferSize);
    }

    /// <summary>The data of the last event read (its data lines joined by '\n').</summary>
    public ReadOnlySpan<byte> Data => _data.AsSpan(0, _dataLength);

    /// <summary>The same as <see cref="Data"/>, as memory.</summary>
    public ReadOnlyMemory<byte> DataMemory => _data.AsMemory(0, _dataLength);

    /// <summary>The <c>event:</c> field of the last event read; empty when it had none.</summary>
    public ReadOnlySpan<byte> EventName => _event.AsSpan(0, _eventLength);

    /// <summary>Where a kernel-stamped transport leaves the arrival of the bytes it read for this response; null: stamp when read.</summary>
    internal ArrivalSink? Arrivals { get; init; }

    /// <summary>Longest line (bytes, without its newline) before the read fails as <c>sse_line_too_long</c>.</summary>
    public int MaxLineBytes { get; init; } = Array.MaxLength / 2;

    /// <summary>Largest event data (bytes) before the read fails as <c>sse_event_too_large</c>.</summary>
    public int MaxEventBytes { get; init; } = Array.MaxLength / 2;

    /// <summary>Body bytes, comments included, before the read fails as <c>response_too_large</c>.</summary>
    public long MaxBodyBytes { get; init; } = long.MaxValue;

    /// <summary>Called after every read that brought bytes, comments included (the client's stall timer: a stall is no bytes).</summary>
    public Action? BytesReceived { get; init; }

    /// <summary>The <see cref="TimeProvider"/> timestamp when the first body bytes arrived; 0 before.</summary>
    public long FirstByteTimestamp { get; private set; }

    /// <summary>Total body bytes read.</summary>
    public long BytesRead { get; private set; }

    /// <summary>True when the stream ended inside an event (data without the closing blank line).</summary>
    public bool EndedInsideEvent { get; private set; }

    /// <summary>Reads the next event; false at the end of the stream.</summary>
    /// <remarks>Its state machine boxes are pooled: a stream that keeps up suspends here once per event.</remarks>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<bool> ReadAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _dataLength = 0;
        _eventLength = 0;
        _hasData = false;
        while (true)
        {
            if (ParseBuffered())
            {
                return true;
            }

            if (_start > 0)
            {
                // Keep the unfinished line; move it to the front so the buffer has room.
                Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
                _end -= _start;
                _start = 0;
            }

            if (_end - _start > MaxLineBytes)
            {
                throw LimitExceeded("sse_line_too_long", $"an SSE line passed {MaxLineBytes} bytes without a newline (max_sse_line_bytes)");
            }

            if (_end == _buffer.Length)
            {
                Grow(ref _buffer, (int)Math.Min((long)_buffer.Length * 2, (long)MaxLineBytes + 1), _end);
            }

            var n = await _stream.ReadAsync(_buffer.AsMemory(_end), cancellationToken);
            if (n == 0)
            {
                EndedInsideEvent = _hasData || _end > _start;
                return false;
            }

            if (FirstByteTimestamp == 0 && _time is not null)
            {
                // A kernel-stamped transport knows when these bytes arrived (the first segment of the read: the body's first
                // bytes begin a read, or came with the headers); otherwise stamp now.
                FirstByteTimestamp = Arrivals is { FirstTimestamp: > 0 } arrival ? arrival.FirstTimestamp : _time.GetTimestamp();
            }

            BytesRead += n;
            _end += n;
            BytesReceived?.Invoke();
            if (BytesRead > MaxBodyBytes)
            {
                throw LimitExceeded("response_too_large", $"the response body passed {MaxBodyBytes} bytes (max_response_bytes)");
            }
        }
    }

    /// <summary>Parses complete lines in the buffer; true when an event was completed.</summary>
    private bool ParseBuffered()
    {
        while (_start < _end)
        {
            var span = _buffer.AsSpan(_start, _end - _start);
            var newline = span.IndexOf((byte)'\n');
            if (newline < 0)
            {
                return false;
            }

            var line = span[..newline];
            _start += newline + 1;
            if (line.Length > 0 && line[^1] == (byte)'\r')
            {
                line = line[..^1];
            }

            if (line.IsEmpty)
            {
                if (_hasData)
                {
                    return true;
                }

                // A blank line after an event: or comments alone, dispatches nothing.
                _eventLength = 0;
                continue;
            }

            if (line[0] == (byte)':')
            {
                continue;
            }

            var colon = line.IndexOf((byte)':');
            var field = colon < 0 ? line : line[..colon];
            var value = colon < 0 ? [] : line[(colon + 1)..];
            if (value.Length > 0 && value[0] == (byte)' ')
            {
                value = value[1..];
            }

            if (field.SequenceEqual("data"u8))
            {
                AppendData(value);
            }
            else if (field.SequenceEqual("event"u8))
            {
                var length = Math.Min(value.Length, _event.Length);
                value[..length].CopyTo(_event);
                _eventLength = length;
            }
            else if (field.SequenceEqual("error"u8))
            {
                // Not an SSE field: llama.cpp's llama-server (before mid-2025) sends an in-stream failure as `error: {json}`
                // followed by `data: [DONE]`. Read it as an event named "error" so that it cannot pass unseen.
                AppendData(value);
                "error"u8.CopyTo(_event);
                _eventLength = 5;
            }

            // id and retry are not used by OpenAI-compatible streams; unknown fields are ignored as the spec says.
        }

        return false;
    }

    private void AppendData(ReadOnlySpan<byte> value)
    {
        var needed = (long)_dataLength + value.Length + (_hasData ? 1 : 0);
        if (needed > MaxEventBytes)
        {
            throw LimitExceeded("sse_event_too_large", $"an SSE event's data passed {MaxEventBytes} bytes (max_sse_event_bytes)");
        }

        if (needed > _data.Length)
        {
            Grow(ref _data, (int)Math.Min(Math.Max(needed, (long)_data.Length * 2), MaxEventBytes), _dataLength);
        }

        if (_hasData)
        {
            _data[_dataLength++] = (byte)'\n';
        }

        value.CopyTo(_data.AsSpan(_dataLength));
        _dataLength += value.Length;
        _hasData = true;
    }

    private static BackendException LimitExceeded(string errorClass, string what) =>
        new(errorClass, string.Create(CultureInfo.InvariantCulture, $"{what}: the stream was ended there. Fix: if this server is trusted and really sends that much, raise the limit in the backend spec (docs/remote.md, Limits)"));

    /// <summary>Replaces <paramref name="array"/> with a pooled one of at least <paramref name="size"/> bytes holding its first <paramref name="used"/>.</summary>
    private static void Grow(ref byte[] array, int size, int used)
    {
        var larger = ArrayPool<byte>.Shared.Rent(size);
        array.AsSpan(0, used).CopyTo(larger);
        ArrayPool<byte>.Shared.Return(array);
        array = larger;
    }

    /// <summary>Returns the buffers to the pool; <see cref="Data"/> and <see cref="EventName"/> are invalid from here on.</summary>
    public void Dispose()
    {
        if (!_disposed)
        {
            _disposed = true;
            ArrayPool<byte>.Shared.Return(_buffer);
            ArrayPool<byte>.Shared.Return(_data);
            _buffer = [];
            _data = [];
            _start = _end = _dataLength = 0;
        }
    }
}
