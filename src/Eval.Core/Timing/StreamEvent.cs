using System.Text.Json.Serialization;

namespace Spark.Eval.Core.Timing;

/// <summary>What happened at a stamped moment of one attempt.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<StreamEventKind>))]
public enum StreamEventKind : byte
{
    /// <summary>The request was handed to the backend pipeline (t = 0 by definition).</summary>
    [JsonStringEnumMemberName("request_start")] RequestStart,
    /// <summary>Transport: the request's bytes were sent.</summary>
    [JsonStringEnumMemberName("request_sent")] RequestSent,
    /// <summary>Transport: response headers arrived.</summary>
    [JsonStringEnumMemberName("response_headers")] ResponseHeaders,
    /// <summary>Transport: the first byte of the response body arrived.</summary>
    [JsonStringEnumMemberName("first_byte")] FirstByte,
    /// <summary>Transport: a retry was started (the events before it belong to the failed try).</summary>
    [JsonStringEnumMemberName("retry")] Retry,
    /// <summary>A streamed update carrying answer text.</summary>
    [JsonStringEnumMemberName("content")] Content,
    /// <summary>A streamed update carrying reasoning text only.</summary>
    [JsonStringEnumMemberName("reasoning")] Reasoning,
    /// <summary>A streamed update carrying a tool call.</summary>
    [JsonStringEnumMemberName("tool_call")] ToolCall,
    /// <summary>A streamed update carrying only usage counts.</summary>
    [JsonStringEnumMemberName("usage")] Usage,
    /// <summary>A streamed update with nothing in it (keep-alive, role-only delta).</summary>
    [JsonStringEnumMemberName("empty")] Empty,
    /// <summary>The stream ended, normally or not.</summary>
    [JsonStringEnumMemberName("end")] End,
}

/// <summary>One stamped moment of an attempt: microseconds since the attempt's request start, its kind, and the characters it carried.</summary>
public readonly record struct StreamEvent(
    [property: JsonPropertyName("t_us")] long OffsetMicroseconds,
    [property: JsonPropertyName("kind")] StreamEventKind Kind,
    [property: JsonPropertyName("chars")] int Characters = 0)
{
    /// <summary>True for updates that count as streamed output chunks (content, reasoning, tool call).</summary>
    [JsonIgnore]
    public bool IsOutputChunk => Kind is StreamEventKind.Content or StreamEventKind.Reasoning or StreamEventKind.ToolCall;

    /// <summary>True for any streamed update, empty and usage-only ones included.</summary>
    [JsonIgnore]
    public bool IsUpdate => IsOutputChunk || Kind is StreamEventKind.Usage or StreamEventKind.Empty;
}
