using System.Globalization;
using System.Text;
using Microsoft.Extensions.AI;
using Spark.Eval.Core.Backends;

namespace Spark.Eval.Backends.Remote;

/// <summary>
/// What one attempt may take from a server before it ends as a classified failure: a server is untrusted, and without
/// these an endless valid stream grew the client by ~110 MB/s. A null setting is derived from the request's maximum
/// output tokens (<see cref="Resolve"/>); the table with defaults is in docs/remote.md ("Limits").
/// </summary>
public sealed record StreamLimits
{
    /// <summary>Tokens assumed when a request sets no maximum.</summary>
    public const int AssumedMaxTokens = 32_768;

    /// <summary>Longest SSE line (bytes, without its newline); null = the event limit.</summary>
    public int? MaxLineBytes { get; init; }

    /// <summary>Largest SSE event's data, or WebSocket message (bytes); null = 1 MiB + 8 × the answer limit.</summary>
    public int? MaxEventBytes { get; init; }

    /// <summary>Response body bytes, comments and framing included; null = 4 MiB + 2 KiB per token.</summary>
    public long? MaxResponseBytes { get; init; }

    /// <summary>Answer bytes (UTF-8 of content, reasoning and tool-call arguments); null = 64 KiB + 64 per token.</summary>
    public long? MaxAnswerBytes { get; init; }

    /// <summary>Events dispatched (SSE events or WebSocket messages); null = 256 + 4 per token.</summary>
    public int? MaxEvents { get; init; }

    /// <summary>The limits for one request, each set value as given and each null one derived from <paramref name="maxOutputTokens"/>.</summary>
    public ResolvedStreamLimits Resolve(int? maxOutputTokens)
    {
        long tokens = maxOutputTokens is > 0 and var t ? t : AssumedMaxTokens;
        var answer = MaxAnswerBytes ?? (64 * 1024) + (64 * tokens);
        var eventBytes = MaxEventBytes ?? (int)Math.Min(Array.MaxLength - 1, (1024 * 1024) + (8 * answer));
        return new ResolvedStreamLimits(
            MaxLineBytes ?? eventBytes,
            eventBytes,
            MaxResponseBytes ?? (4L * 1024 * 1024) + (2048 * tokens),
            answer,
            MaxEvents ?? (int)Math.Min(int.MaxValue, 256 + (4 * tokens)));
    }

    /// <summary>Reads <c>max_sse_line_bytes</c>, <c>max_sse_event_bytes</c>, <c>max_response_bytes</c>, <c>max_answer_bytes</c>, <c>max_events</c>.</summary>
    public static StreamLimits Parse(BackendSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        const double MaxBuffer = 1024.0 * 1024 * 1024;
        return new StreamLimits
        {
            MaxLineBytes = Optional(spec, "max_sse_line_bytes", 64, MaxBuffer) is { } line ? (int)line : null,
            MaxEventBytes = Optional(spec, "max_sse_event_bytes", 64, MaxBuffer) is { } e ? (int)e : null,
            MaxResponseBytes = Optional(spec, "max_response_bytes", 1024, 1e15) is { } r ? (long)r : null,
            MaxAnswerBytes = Optional(spec, "max_answer_bytes", 1, 1e15) is { } a ? (long)a : null,
            MaxEvents = Optional(spec, "max_events", 1, int.MaxValue) is { } n ? (int)n : null,
        };
    }

    /// <summary>The spec keys <see cref="Parse"/> reads.</summary>
    public static IReadOnlyList<string> Keys { get; } = ["max_sse_line_bytes", "max_sse_event_bytes", "max_response_bytes", "max_answer_bytes", "max_events"];

    private static double? Optional(BackendSpec spec, string key, double min, double max) =>
        spec.GetString(key) is null ? null : Math.Floor(spec.GetDouble(key, 0, min, max));
}

/// <summary>The limits in force for one request (see <see cref="StreamLimits"/>).</summary>
public sealed record ResolvedStreamLimits(int MaxLineBytes, int MaxEventBytes, long MaxResponseBytes, long MaxAnswerBytes, int MaxEvents);

/// <summary>Counts what one stream has delivered against its <see cref="ResolvedStreamLimits"/>; throws a classified <see cref="BackendException"/> past one.</summary>
internal sealed class StreamBudget(ResolvedStreamLimits limits)
{
    private long _answerBytes;
    private long _responseBytes;
    private int _events;

    public ResolvedStreamLimits Limits { get; } = limits;

    /// <summary>Called once per event dispatched, before it is parsed.</summary>
    public void OnEvent()
    {
        if (++_events > Limits.MaxEvents)
        {
            throw new BackendException("too_many_events", string.Create(CultureInfo.InvariantCulture,
                $"the server sent more than {Limits.MaxEvents} events (max_events; by default 256 + 4 per requested token). Fix: raise max_events in the backend spec if this server really sends that many"));
        }
    }

    /// <summary>Called as a WebSocket message grows: a message is an event, bounded like one; the bytes count toward the response.</summary>
    public void OnMessageBytes(int messageBytes, int received)
    {
        _responseBytes += received;
        if (messageBytes > Limits.MaxEventBytes)
        {
            throw new BackendException("sse_event_too_large", string.Create(CultureInfo.InvariantCulture,
                $"a WebSocket message passed {Limits.MaxEventBytes} bytes (max_sse_event_bytes). Fix: if this server is trusted and really sends that much, raise the limit in the backend spec"));
        }

        CheckBody(_responseBytes, Limits);
    }

    /// <summary>Throws <c>response_too_large</c> when <paramref name="bytes"/> of one response pass the limit.</summary>
    public static void CheckBody(long bytes, ResolvedStreamLimits limits)
    {
        ArgumentNullException.ThrowIfNull(limits);
        if (bytes > limits.MaxResponseBytes)
        {
            throw new BackendException("response_too_large", string.Create(CultureInfo.InvariantCulture,
                $"the response body passed {limits.MaxResponseBytes} bytes (max_response_bytes; by default 4 MiB + 2 KiB per requested token). Fix: if this server is trusted and really sends that much, raise the limit in the backend spec"));
        }
    }

    /// <summary>Adds the answer text an update carries.</summary>
    public void OnUpdate(ChatResponseUpdate update)
    {
        foreach (var content in update.Contents)
        {
            _answerBytes += content switch
            {
                TextContent text => Encoding.UTF8.GetByteCount(text.Text),
                TextReasoningContent reasoning => Encoding.UTF8.GetByteCount(reasoning.Text),
                FunctionCallContent call => Encoding.UTF8.GetByteCount(call.Name) + (call.Arguments?.Count ?? 0),
                _ => 0,
            };
        }

        if (_answerBytes > Limits.MaxAnswerBytes)
        {
            throw new BackendException("answer_too_large", string.Create(CultureInfo.InvariantCulture,
                $"the answer passed {Limits.MaxAnswerBytes} bytes (max_answer_bytes; by default 64 KiB + 64 per requested token). Fix: lower the answer's max tokens, or raise max_answer_bytes in the backend spec"));
        }
    }
}
