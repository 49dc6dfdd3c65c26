using Microsoft.Extensions.AI;

namespace Spark.Eval.Core.Timing;

/// <summary>
/// A streaming backend that can hand each plain text chunk straight to the timing layer right above it, at the moment it would
/// yield it, instead of yielding an update per chunk: the same stamps, text and order with no update, no enumerator step and no
/// continuation per chunk (hwsim in virtual time, where 100 developer-days stream ~8 M tokens; docs/benchmarks.md, issue 18).
/// <see cref="TimingChatClient"/> uses it only when the caller reads no update (<see cref="Backends.AttemptContext.UnreadUpdatesKey"/>).
/// </summary>
public interface ITextStreamSource
{
    /// <summary>
    /// The stream of <see cref="IChatClient.GetStreamingResponseAsync"/>, except that each update that would carry one text and
    /// nothing else (role assistant) is not yielded: <paramref name="onText"/> gets its text and model id at the moment it would
    /// have been yielded. Every other update (usage, the end) is yielded as ever.
    /// </summary>
    IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options, Action<string, string?> onText,
        CancellationToken cancellationToken);
}
