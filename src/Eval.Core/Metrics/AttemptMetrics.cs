using Spark.Eval.Core.Results;
using Spark.Eval.Core.Timing;

namespace Spark.Eval.Core.Metrics;

/// <summary>
/// Per-attempt metrics derived from the raw events alone (formulas in docs/metrics.md). Times are in milliseconds from
/// the attempt's start (t = 0, the first try's start): the wait a developer had, failed tries and back-off included. The
/// try that served the answer (from the last retry mark) is measured beside it (<see cref="TtftServingTryMs"/>, …).
/// </summary>
public readonly record struct AttemptMetrics
{
    /// <summary>Time from the attempt's start to the first update carrying non-empty answer content (retries included).</summary>
    public double? TtftMs { get; init; }
    /// <summary>Time from the start of the try that served the answer (the last retry mark, else t = 0) to its first content.</summary>
    public double? TtftServingTryMs { get; init; }
    /// <summary>Time from the start of the serving try to the end of the stream.</summary>
    public double? E2eServingTryMs { get; init; }
    /// <summary>
    /// The client's own send delay: the attempt's start to the first try's <c>request_sent</c> (taking a connection, opening
    /// one if none is warm, writing the request). Harness overhead, not server latency; null when the backend marks no send.
    /// </summary>
    public double? SendDelayMs { get; init; }
    /// <summary>The wait for the backend's start thread before the attempt's start stamp (<see cref="AttemptRecord.StartWaitMs"/>): harness overhead, in no latency.</summary>
    public double? StartWaitMs { get; init; }
    /// <summary>True when the attempt retried (the serving-try figures then differ from the attempt's).</summary>
    public bool Retried { get; init; }
    /// <summary>Time to the first streamed update of any kind (empty, usage-only and reasoning included).</summary>
    public double? TtftAnyMs { get; init; }
    /// <summary>Time from the serving try's start to its response headers, when the backend reports them (a transport figure).</summary>
    public double? ResponseHeadersMs { get; init; }
    /// <summary>Time from the attempt's start to the end of the stream (retries included).</summary>
    public double? E2eMs { get; init; }
    /// <summary>The same as <see cref="E2eMs"/> (kept: before retries counted in every latency, only this one included them).</summary>
    public double? E2eWithRetriesMs { get; init; }
    /// <summary>(E2E − TTFT) / (answer tokens − 1); undefined (null) for answers of fewer than two tokens.</summary>
    public double? TpotMs { get; init; }
    /// <summary>Answer tokens / E2E in seconds.</summary>
    public double? OutputTokensPerSecond { get; init; }
    public long AnswerTokens { get; init; }

    public static AttemptMetrics Compute(AttemptRecord record) => Compute(record, null);

    /// <summary>
    /// Computes the metrics in one pass over the events and, when <paramref name="chunkGaps"/> is given, adds the
    /// attempt's inter-chunk gaps to it (see <see cref="AddChunkGaps"/>).
    /// </summary>
    public static AttemptMetrics Compute(AttemptRecord record, LogHistogram? chunkGaps)
    {
        ArgumentNullException.ThrowIfNull(record);
        var events = record.Events;
        long tryStart = 0;
        long? firstContent = null, firstAny = null, headers = null, end = null, previousChunk = null, sent = null;

        // Gaps are held until the end: a later retry mark would make them belong to a failed try.
        var gaps = events.Count <= 512 ? stackalloc long[events.Count] : new long[events.Count];
        var gapCount = 0;
        for (var i = 0; i < events.Count; i++)
        {
            var e = events[i];
            var t = e.OffsetMicroseconds;
            switch (e.Kind)
            {
                case StreamEventKind.Retry:
                    tryStart = t;
                    firstContent = firstAny = headers = previousChunk = null;
                    gapCount = 0;
                    break;
                case StreamEventKind.Content:
                    firstContent ??= t;
                    firstAny ??= t;
                    if (previousChunk is { } pc)
                    {
                        gaps[gapCount++] = t - pc;
                    }

                    previousChunk = t;
                    break;
                case StreamEventKind.Reasoning or StreamEventKind.ToolCall:
                    firstAny ??= t;
                    if (previousChunk is { } pr)
                    {
                        gaps[gapCount++] = t - pr;
                    }

                    previousChunk = t;
                    break;
                case StreamEventKind.Usage or StreamEventKind.Empty:
                    firstAny ??= t;
                    break;
                case StreamEventKind.ResponseHeaders:
                    headers ??= t;
                    break;
                case StreamEventKind.RequestSent:
                    sent ??= t;
                    break;
                case StreamEventKind.End:
                    end = t;
                    break;
                default:
                    break;
            }
        }

        if (chunkGaps is not null)
        {
            for (var i = 0; i < gapCount; i++)
            {
                chunkGaps.Add(gaps[i]);
            }
        }

        var tokens = record.Tokens.AnswerTokens;
        double? ttft = Ms(firstContent);
        double? e2e = Ms(end);
        double? tpot = ttft is { } tt && e2e is { } e2 && tokens >= 2 ? (e2 - tt) / (tokens - 1) : null;
        double? tps = e2e is > 0 ? tokens / (e2e.Value / 1000.0) : null;
        return new AttemptMetrics
        {
            TtftMs = ttft,
            TtftServingTryMs = Ms(firstContent - tryStart),
            E2eServingTryMs = Ms(end - tryStart),
            Retried = tryStart > 0 || record.Retries > 0,
            TtftAnyMs = Ms(firstAny),
            SendDelayMs = Ms(sent),
            StartWaitMs = record.StartWaitMs,
            ResponseHeadersMs = Ms(headers - tryStart),
            E2eMs = e2e,
            E2eWithRetriesMs = Ms(end),
            TpotMs = tpot,
            OutputTokensPerSecond = tps,
            AnswerTokens = tokens,
        };
    }

    /// <summary>
    /// Inter-token latency samples of one attempt, in µs: the gap between consecutive non-empty output chunks
    /// (content, reasoning or tool call) of the serving try. Empty and usage-only updates are excluded.
    /// </summary>
    public static void AddChunkGaps(AttemptRecord record, LogHistogram into) => Compute(record, into);

    private static double? Ms(long? us) => us is { } v ? v / 1000.0 : null;
}
