using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Spark.Eval.Simulator.Server;

/// <summary>
/// One event serve-sim flushed, stamped after the flush returned: monotonic nanoseconds, kind, characters and, when an
/// <see cref="EmissionClock"/> timer released it, the time that timer was due (its schedule), on the same clock.
/// </summary>
public readonly record struct ServerEvent(
    [property: JsonPropertyName("t_ns")] long MonotonicNs,
    [property: JsonPropertyName("kind")] string Kind,
    [property: JsonPropertyName("chars")] int Characters = 0,
    [property: JsonPropertyName("due_ns")] long? DueNs = null);

/// <summary>
/// What serve-sim did for one request, with server-side timestamps on the machine's monotonic clock
/// (<see cref="TimeProvider.GetTimestamp"/> in nanoseconds, CLOCK_MONOTONIC on Linux), so that a client on the
/// same machine can subtract its own stamps from them.
/// </summary>
public sealed class ServerRequestLog
{
    [JsonPropertyName("format_version")] public int FormatVersion { get; init; } = 1;
    [JsonPropertyName("request_id")] public required string RequestId { get; init; }
    [JsonPropertyName("path")] public required string Path { get; init; }
    /// <summary>The request's HTTP version as Kestrel saw it (HTTP/1.1, HTTP/2).</summary>
    [JsonPropertyName("protocol")] public string? Protocol { get; init; }
    [JsonPropertyName("stream")] public bool Stream { get; set; }
    [JsonPropertyName("fault")] public string Fault { get; set; } = "none";
    [JsonPropertyName("status")] public int Status { get; set; }
    [JsonPropertyName("received_ns")] public long ReceivedNs { get; init; }
    /// <summary>The same moment as <see cref="ReceivedNs"/> in the server clock's own ticks: a simulated backend's schedule starts here.</summary>
    [JsonIgnore] public long ArrivalTimestamp { get; init; }
    /// <summary>When the request's handler started, where <see cref="ReceivedNs"/> is the kernel's arrival of its bytes (null: the same moment).</summary>
    [JsonPropertyName("handler_ns")] public long? HandlerNs { get; init; }
    [JsonPropertyName("headers_ns")] public long? HeadersNs { get; set; }
    [JsonPropertyName("end_ns")] public long? EndNs { get; set; }
    [JsonPropertyName("events")] public List<ServerEvent> Events { get; init; } = new(64);
}

[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ServerRequestLog))]
internal sealed partial class ServerLogJsonContext : JsonSerializerContext;

/// <summary>
/// The per-request log of serve-sim: kept in memory for <c>GET /v1/_spark/log</c> as a ring bounded both in entries and
/// in logged events (an entry is ~40 bytes per event; the old bound of 200,000 entries let it reach ~800 MB), and
/// optionally appended, whole, to a JSONL file.
/// </summary>
public sealed class ServerLogStore : IDisposable
{
    /// <summary>Entries kept in memory by default (the oldest go first).</summary>
    public const int DefaultCapacity = 10_000;

    /// <summary>Events kept in memory over all entries by default (≈ 40 MB).</summary>
    public const int DefaultEventCapacity = 1_000_000;

    private readonly Queue<ServerRequestLog> _entries = new();
    private readonly Lock _gate = new();
    private readonly int _capacity;
    private readonly int _eventCapacity;
    private readonly StreamWriter? _file;
    private readonly Lock _fileGate = new();
    private readonly EmissionLateness? _lateness;
    private long _events;

    /// <param name="jsonlPath">A JSONL file that receives every entry, or null.</param>
    /// <param name="capacity">Entries kept in memory.</param>
    /// <param name="eventCapacity">Events kept in memory over all entries.</param>
    /// <param name="lateness">Takes every added entry's scheduled writes (serve-sim's lateness report); kept whole, unlike the ring.</param>
    public ServerLogStore(string? jsonlPath, int capacity = DefaultCapacity, int eventCapacity = DefaultEventCapacity, EmissionLateness? lateness = null)
    {
        _lateness = lateness;
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(eventCapacity, 1);
        _capacity = capacity;
        _eventCapacity = eventCapacity;
        if (jsonlPath is not null)
        {
            _file = new StreamWriter(jsonlPath, append: true, new UTF8Encoding(false)) { AutoFlush = true };
        }
    }

    /// <summary>Entries in memory now.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _entries.Count;
            }
        }
    }

    /// <summary>Events held by the entries in memory now.</summary>
    public long EventCount
    {
        get
        {
            lock (_gate)
            {
                return _events;
            }
        }
    }

    /// <summary>Converts a <see cref="TimeProvider"/> timestamp to nanoseconds of the same clock.</summary>
    public static long ToNanoseconds(long timestamp, long frequency) =>
        frequency == 1_000_000_000 ? timestamp : (long)(timestamp * (1e9 / frequency));

    public void Add(ServerRequestLog entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        _lateness?.Add(entry);
        lock (_gate)
        {
            _entries.Enqueue(entry);
            _events += entry.Events.Count;
            // The newest entry stays even when it alone is over the event budget.
            while (_entries.Count > 1 && (_entries.Count > _capacity || _events > _eventCapacity))
            {
                _events -= _entries.Dequeue().Events.Count;
            }
        }

        if (_file is not null)
        {
            var line = JsonSerializer.Serialize(entry, ServerLogJsonContext.Default.ServerRequestLog);
            lock (_fileGate)
            {
                _file.WriteLine(line);
            }
        }
    }

    /// <summary>The entries for one request id, or all when null.</summary>
    public IReadOnlyList<ServerRequestLog> Find(string? requestId)
    {
        lock (_gate)
        {
            return requestId is null ? _entries.ToArray() : _entries.Where(e => e.RequestId == requestId).ToArray();
        }
    }

    public void Clear()
    {
        lock (_gate)
        {
            _entries.Clear();
            _events = 0;
        }
    }

    public static string ToJsonLine(ServerRequestLog entry) => JsonSerializer.Serialize(entry, ServerLogJsonContext.Default.ServerRequestLog);

    public static ServerRequestLog? FromJsonLine(string line) => JsonSerializer.Deserialize(line, ServerLogJsonContext.Default.ServerRequestLog);

    public void Dispose() => _file?.Dispose();
}
