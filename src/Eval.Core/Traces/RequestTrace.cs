namespace Spark.Eval.Core.Traces;

/// <summary>One request of a production trace: when it arrived (µs from the trace's start) and its token lengths.</summary>
/// <param name="TimestampUs">Arrival, µs after the trace's (or the window's) start.</param>
/// <param name="InputTokens">Prompt tokens the request carried.</param>
/// <param name="OutputTokens">Tokens the service generated for it; replay caps the answer at this many.</param>
/// <param name="HashIds">Mooncake's 512-token prefix blocks (equal ids = shared prefix); null for traces without them.</param>
/// <param name="Line">The line of the source file it came from, for messages.</param>
public sealed record TraceRequest(long TimestampUs, int InputTokens, int OutputTokens, IReadOnlyList<long>? HashIds = null, int Line = 0);

/// <summary>A request trace in arrival order, as read from a file, optionally cut to a window and rescaled in time.</summary>
public sealed record RequestTrace(string Source, string Format, IReadOnlyList<TraceRequest> Requests)
{
    /// <summary>
    /// The requests arriving in [<paramref name="startSeconds"/>, <paramref name="endSeconds"/>) of the trace, with
    /// timestamps re-based to the window's start.
    /// </summary>
    public RequestTrace Window(double startSeconds, double endSeconds)
    {
        if (startSeconds < 0 || endSeconds <= startSeconds)
        {
            throw new InputException($"--window {startSeconds}..{endSeconds}: needs 0 ≤ start < end (seconds from the trace's start). Fix: write e.g. --window 0..60");
        }

        var start = (long)Math.Round(startSeconds * 1e6);
        var end = (long)Math.Round(endSeconds * 1e6);
        var kept = Requests.Where(r => r.TimestampUs >= start && r.TimestampUs < end).Select(r => r with { TimestampUs = r.TimestampUs - start }).ToList();
        return this with { Requests = kept };
    }

    /// <summary>Multiplies every timestamp by <paramref name="scale"/>: 0.5 replays twice as fast, 2 half as fast.</summary>
    public RequestTrace Scale(double scale)
    {
        if (!(scale > 0) || double.IsInfinity(scale))
        {
            throw new InputException($"--time-scale {scale}: must be a positive number (0.5 replays twice as fast). Fix: write e.g. --time-scale 0.1");
        }

        return this with { Requests = Requests.Select(r => r with { TimestampUs = (long)Math.Round(r.TimestampUs * scale) }).ToList() };
    }

    /// <summary>Seconds from the first to the last arrival.</summary>
    public double SpanSeconds => Requests.Count < 2 ? 0 : (Requests[^1].TimestampUs - Requests[0].TimestampUs) / 1e6;
}
