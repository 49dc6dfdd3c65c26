using System.Globalization;
using System.Text.Json.Serialization;
using Spark.Eval.Core.Metrics;

namespace Spark.Eval.Simulator.Server;

/// <summary>Percentiles of one lateness distribution, ms (flush − due time of the emission-clock timer that released the write).</summary>
public sealed record LatenessStatistics(
    [property: JsonPropertyName("count")] long Count,
    [property: JsonPropertyName("p50_ms")] double P50Ms,
    [property: JsonPropertyName("p99_ms")] double P99Ms,
    [property: JsonPropertyName("max_ms")] double MaxMs);

/// <summary>
/// How late serve-sim's scheduled writes went out over some stretch of requests: every write an emission-clock timer
/// released (<c>writes</c>) and, among them, each request's first token (<c>first_token</c>: its due time is the request's
/// arrival plus the backend's TTFT, so this is serve-sim's own TTFT error). Writes no timer released (the emission clock
/// off, or tokens already due when the backend looked) are counted as unscheduled.
/// </summary>
public sealed record LatenessReport(
    [property: JsonPropertyName("requests")] long Requests,
    [property: JsonPropertyName("scheduled_writes")] long ScheduledWrites,
    [property: JsonPropertyName("unscheduled_writes")] long UnscheduledWrites,
    [property: JsonPropertyName("first_token")] LatenessStatistics? FirstToken,
    [property: JsonPropertyName("writes")] LatenessStatistics? Writes)
{
    /// <summary>One line for serve-sim's log.</summary>
    public string Describe()
    {
        static string F(LatenessStatistics? s) => s is null ? "none scheduled"
            : string.Create(CultureInfo.InvariantCulture, $"p50 {s.P50Ms:0.000} / p99 {s.P99Ms:0.000} / max {s.MaxMs:0.000} ms");
        return string.Create(CultureInfo.InvariantCulture,
            $"{Requests} requests; first token late {F(FirstToken)}; every scheduled write late {F(Writes)} ({ScheduledWrites} writes, {UnscheduledWrites} unscheduled)");
    }
}

/// <summary>What <c>GET /v1/_spark/lateness</c> answers: since serve-sim started (after its warm-up) and since its last printed report.</summary>
public sealed record LatenessSnapshot(
    [property: JsonPropertyName("format_version")] int FormatVersion,
    [property: JsonPropertyName("definition")] string Definition,
    [property: JsonPropertyName("total")] LatenessReport Total,
    [property: JsonPropertyName("since_last_report")] LatenessReport SinceLastReport);

[JsonSourceGenerationOptions(WriteIndented = false)]
[JsonSerializable(typeof(LatenessSnapshot))]
public sealed partial class LatenessJsonContext : JsonSerializerContext;

/// <summary>
/// serve-sim's own event lateness, accumulated from each finished request's log entry: in total and in a window that a
/// report (printed when serve-sim goes idle after a burst, and at shutdown) takes and restarts. Histograms, so memory stays
/// bounded however long serve-sim runs.
/// </summary>
public sealed class EmissionLateness
{
    /// <summary>What the figures mean, as the endpoint and docs state it.</summary>
    public const string Definition = "lateness = serve-sim's flush time − the due time of the emission-clock timer that released the write, on one monotonic clock; first_token: each request's first scheduled write (due = arrival + TTFT)";

    private readonly Lock _gate = new();
    private Window _total = new();
    private Window _window = new();
    private int _inFlight;

    /// <summary>Requests being served now.</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    internal void Started() => Interlocked.Increment(ref _inFlight);

    internal void Finished() => Interlocked.Decrement(ref _inFlight);

    /// <summary>Adds one finished request's scheduled writes.</summary>
    public void Add(ServerRequestLog entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        lock (_gate)
        {
            _total.Add(entry);
            _window.Add(entry);
        }
    }

    /// <summary>Since start (or the last <see cref="Reset"/>).</summary>
    public LatenessReport Total()
    {
        lock (_gate)
        {
            return _total.Report();
        }
    }

    /// <summary>The window since the last report; null when no request finished in it.</summary>
    public LatenessReport? PeekWindow()
    {
        lock (_gate)
        {
            return _window.Requests == 0 ? null : _window.Report();
        }
    }

    /// <summary>The window since the last report, restarting it; null when no request finished in it.</summary>
    public LatenessReport? TakeWindow()
    {
        lock (_gate)
        {
            if (_window.Requests == 0)
            {
                return null;
            }

            var report = _window.Report();
            _window = new Window();
            return report;
        }
    }

    public LatenessSnapshot Snapshot()
    {
        lock (_gate)
        {
            return new LatenessSnapshot(1, Definition, _total.Report(), _window.Report());
        }
    }

    /// <summary>Forgets everything (after serve-sim's own warm-up).</summary>
    public void Reset()
    {
        lock (_gate)
        {
            _total = new Window();
            _window = new Window();
        }
    }

    private sealed class Window
    {
        private readonly LogHistogram _first = new();
        private readonly LogHistogram _writes = new();

        public long Requests { get; private set; }

        private long _unscheduled;

        public void Add(ServerRequestLog entry)
        {
            Requests++;
            var first = true;
            foreach (var e in entry.Events)
            {
                if (e.DueNs is { } due)
                {
                    // Microseconds, rounded up: the histogram is exact below 2 ms, which is where the targets are.
                    var lateUs = (e.MonotonicNs - due + 999) / 1000;
                    _writes.Add(lateUs);
                    if (first)
                    {
                        _first.Add(lateUs);
                        first = false;
                    }
                }
                else if (e.Kind is "content" or "reasoning")
                {
                    _unscheduled++;
                }
            }
        }

        public LatenessReport Report() => new(Requests, _writes.Count, _unscheduled, Stats(_first), Stats(_writes));

        private static LatenessStatistics? Stats(LogHistogram h) =>
            h.Count == 0 ? null : new LatenessStatistics(h.Count, h.Percentile(0.50) / 1000, h.Percentile(0.99) / 1000, h.Max / 1000.0);
    }
}
