using System.Buffers;
using System.Text;
using Microsoft.Extensions.AI;

namespace Spark.Eval.Core.Timing;

/// <summary>
/// Collects the timed events, text and usage of one attempt. The runner puts one into the request's
/// <see cref="ChatOptions.AdditionalProperties"/>; the timing middleware and transport-aware backends write to it.
/// </summary>
public sealed class AttemptRecorder
{
    /// <summary>The key under which the recorder travels in <see cref="ChatOptions.AdditionalProperties"/>.</summary>
    public const string OptionsKey = "spark.recorder";

    private readonly TimeProvider _time;
    // From a shared pool and back to it on Release: an attempt stamps ~200 events (a 100-developer day ~8 M), and a list grown per
    // attempt was a third of what a session run in virtual time allocated.
    private (long Timestamp, StreamEventKind Kind, int Chars)[] _events = ArrayPool<(long, StreamEventKind, int)>.Shared.Rent(128);
    private int _count;
    private readonly StringBuilder _answer = new();
    private readonly StringBuilder _reasoning = new();
    private readonly Lock _gate = new();
    private long _offeredArrival;

    public AttemptRecorder(TimeProvider time)
    {
        _time = time;
    }

    /// <summary>The timestamp (in <see cref="TimeProvider"/> ticks) that t = 0 refers to; set by <see cref="Start()"/>.</summary>
    public long StartTimestamp { get; private set; }

    public bool Started { get; private set; }

    public TimeProvider Time => _time;

    public UsageDetails? Usage { get; private set; }

    public string? ModelId { get; set; }

    /// <summary>Set by a transport when the server said its timings are modelled (serve-sim hosting a simulated backend).</summary>
    public bool ServerSimulated { get; set; }

    /// <summary>Retries the transport made before the try that served the answer.</summary>
    public int Retries { get; private set; }

    /// <summary>
    /// Of <see cref="Retries"/>, those made at once on a fresh connection because a pooled keep-alive connection turned out
    /// closed by the server before any response byte (no back-off: the request never reached a live connection).
    /// </summary>
    public int StaleConnectionRetries { get; private set; }

    /// <summary>Stamps a retry on a fresh connection after a stale pooled one (see <see cref="StaleConnectionRetries"/>).</summary>
    public void MarkStaleConnectionRetry()
    {
        lock (_gate)
        {
            StaleConnectionRetries++;
        }

        Mark(StreamEventKind.Retry);
    }

    /// <summary>Streamed updates stamped with an arrival time their transport offered (<see cref="OfferArrival"/>).</summary>
    public int ArrivalStamped { get; private set; }

    public string Answer => _answer.ToString();

    public string Reasoning => _reasoning.ToString();

    /// <summary>Stamps t = 0. Called once by the timing middleware just before the backend is called.</summary>
    /// <summary>
    /// Harness overhead before the attempt began, µs: from its hand-over to the backend's start thread to its start stamp
    /// (<see cref="Start(long)"/>); null when it began where it was called. In no latency.
    /// </summary>
    public long? StartWaitMicroseconds { get; private set; }

    /// <summary>Stamps the attempt's start on a start thread it was handed to at <paramref name="handedOverTimestamp"/>.</summary>
    public void Start(long handedOverTimestamp)
    {
        Start();
        StartWaitMicroseconds = Math.Max(0, (StartTimestamp - handedOverTimestamp) * 1_000_000 / _time.TimestampFrequency);
    }

    public void Start()
    {
        lock (_gate)
        {
            StartTimestamp = _time.GetTimestamp();
            Started = true;
            _count = 0;
            Add((StartTimestamp, StreamEventKind.RequestStart, 0));
        }
    }

    /// <summary>Stamps a moment now. Backends call this for transport moments (headers, first byte, retry).</summary>
    public void Mark(StreamEventKind kind, int chars = 0) => MarkAt(_time.GetTimestamp(), kind, chars);

    /// <summary>Records a moment stamped earlier (a transport layer that took the timestamp itself).</summary>
    public void MarkAt(long timestamp, StreamEventKind kind, int chars = 0)
    {
        lock (_gate)
        {
            Add((timestamp, kind, chars));
            if (kind == StreamEventKind.Retry)
            {
                Retries++;
            }
        }
    }

    /// <summary>
    /// A transport that knows when the bytes of the update it is about to yield arrived (a kernel receive timestamp) offers
    /// that moment; the timing middleware stamps the update with it instead of the moment it got the update.
    /// </summary>
    public void OfferArrival(long timestamp) => _offeredArrival = timestamp;

    /// <summary>The stamp for an update the middleware got at <paramref name="now"/>: the offered arrival when it lies between the start and now.</summary>
    internal long ArrivalOr(long now)
    {
        var offered = _offeredArrival;
        _offeredArrival = 0;
        if (offered >= StartTimestamp && offered <= now && offered != 0)
        {
            ArrivalStamped++;
            return offered;
        }

        return now;
    }

    internal void AppendAnswer(string text) => _answer.Append(text);

    internal void AppendReasoning(string text) => _reasoning.Append(text);

    /// <summary>Replaces each secret in the collected answer and reasoning (a backend whose server may echo its key calls this at the end).</summary>
    public void RedactText(IReadOnlyCollection<string> secrets)
    {
        Backends.SecretRedaction.Redact(_answer, secrets);
        Backends.SecretRedaction.Redact(_reasoning, secrets);
    }

    internal void SetUsage(UsageDetails usage)
    {
        if (Usage is null)
        {
            Usage = usage;
        }
        else
        {
            Usage.Add(usage);
        }
    }

    /// <summary>
    /// The recorded events as offsets from t = 0, in the order they were stamped, with non-decreasing offsets. Most stamps
    /// are taken in user space after the fact (request_sent once the write returned, an update once it was parsed): each is
    /// an upper bound of its moment. A transport's kernel receive stamp is exact and may therefore precede an earlier
    /// event's user-space stamp (response_headers before request_sent, when the reply arrived before the sending thread ran
    /// on). Such an earlier event is lowered to the later event's stamp — the tightest bound consistent with both — so
    /// every record's events are in time order (docs/metrics.md, "Raw events").
    /// </summary>
    public IReadOnlyList<StreamEvent> Events()
    {
        lock (_gate)
        {
            var result = new StreamEvent[_count];
            var later = long.MaxValue;
            for (var i = _count - 1; i >= 0; i--)
            {
                var (ts, kind, chars) = _events[i];
                var us = Math.Min(later, Math.Max(0, (long)Math.Round((ts - StartTimestamp) * 1_000_000.0 / _time.TimestampFrequency)));
                result[i] = new StreamEvent(us, kind, chars);
                later = us;
            }

            return result;
        }
    }

    /// <summary>
    /// Gives the event buffer back to the shared pool once the attempt's record is built (<see cref="Events"/> read): the events are
    /// gone then, and a later stamp (a transport still finishing) starts a new buffer.
    /// </summary>
    public void Release()
    {
        lock (_gate)
        {
            var events = _events;
            _events = [];
            _count = 0;
            if (events.Length > 0)
            {
                ArrayPool<(long, StreamEventKind, int)>.Shared.Return(events);
            }
        }
    }

    // Under _gate.
    private void Add((long Timestamp, StreamEventKind Kind, int Chars) stamp)
    {
        if (_count == _events.Length)
        {
            var grown = ArrayPool<(long, StreamEventKind, int)>.Shared.Rent(Math.Max(128, _count * 2));
            Array.Copy(_events, grown, _count);
            if (_events.Length > 0)
            {
                ArrayPool<(long, StreamEventKind, int)>.Shared.Return(_events);
            }

            _events = grown;
        }

        _events[_count++] = stamp;
    }

    /// <summary>Finds the recorder in a request's options, if the runner attached one.</summary>
    public static AttemptRecorder? From(ChatOptions? options) =>
        options?.AdditionalProperties is { } props && props.TryGetValue(OptionsKey, out var value) ? value as AttemptRecorder : null;
}
