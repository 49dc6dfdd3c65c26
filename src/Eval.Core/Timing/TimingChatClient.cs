using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;
using Spark.Eval.Core.Backends;

namespace Spark.Eval.Core.Timing;

/// <summary>
/// Stamps every streamed update with a monotonic timestamp as it is enumerated, classifies it
/// (content, reasoning, tool call, usage, empty) and keeps the text and usage on the attempt's recorder.
/// </summary>
public sealed class TimingChatClient : DelegatingChatClient
{
    public TimingChatClient(IChatClient innerClient) : base(innerClient) { }

    public override async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var recorder = AttemptRecorder.From(options);
        if (recorder is null)
        {
            await foreach (var update in base.GetStreamingResponseAsync(messages, options, cancellationToken))
            {
                yield return update;
            }

            yield break;
        }

        if (!AttemptContext.Scheduled(options) && InnerClient.GetService(typeof(IAttemptStartThread)) is IAttemptStartThread startThread)
        {
            // The backend begins its attempts on a thread of its own: the start stamp is taken there, right before its send
            // (an attempt with a scheduled start begins where its dispatcher called it: its lateness is its schedule lag).
            // The wait for that thread is recorded apart (start_wait_ms): harness overhead before the attempt, in no latency.
            var handedOver = recorder.Time.GetTimestamp();
            await new AttemptStartSwitch(startThread);
            recorder.Start(handedOver);
        }
        else
        {
            recorder.Start();
        }

        var time = recorder.Time;
        try
        {
            // Resumed where the backend yields, not posted back to a captured context: the stamp is taken with no hop in between,
            // and in virtual time a hop through the loop's queue per token costs more than the token (docs/benchmarks.md, issue 18).
            // A caller that reads no update lets a backend right below hand its text chunks straight to the recorder, stamped as the
            // updates they stand for would be (ITextStreamSource).
            var stream = InnerClient is ITextStreamSource direct && AttemptContext.UnreadUpdates(options)
                ? direct.GetStreamingResponseAsync(messages, options, (text, modelId) => StampText(recorder, text, modelId), cancellationToken)
                : base.GetStreamingResponseAsync(messages, options, cancellationToken);
            await foreach (var update in stream.ConfigureAwait(false))
            {
                // Stamp first, before any classification work, so the timestamp is the arrival moment (or the transport's
                // own, earlier record of it).
                var now = recorder.ArrivalOr(time.GetTimestamp());
                var (kind, chars) = Classify(update, recorder);
                recorder.MarkAt(now, kind, chars);
                recorder.ModelId ??= update.ModelId;
                yield return update;
            }
        }
        finally
        {
            recorder.Mark(StreamEventKind.End);
        }
    }

    public override async Task<ChatResponse> GetResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var recorder = AttemptRecorder.From(options);
        if (recorder is not null && !AttemptContext.Scheduled(options) && InnerClient.GetService(typeof(IAttemptStartThread)) is IAttemptStartThread startThread)
        {
            var handedOver = recorder.Time.GetTimestamp();
            await new AttemptStartSwitch(startThread);
            recorder.Start(handedOver);
        }
        else
        {
            recorder?.Start();
        }

        try
        {
            var response = await base.GetResponseAsync(messages, options, cancellationToken);
            if (recorder is not null)
            {
                var now = recorder.Time.GetTimestamp();
                var chars = 0;
                foreach (var message in response.Messages)
                {
                    var update = new ChatResponseUpdate(message.Role, message.Contents);
                    chars += Classify(update, recorder).Chars;
                }

                recorder.MarkAt(now, chars > 0 ? StreamEventKind.Content : StreamEventKind.Empty, chars);
                if (response.Usage is { } usage)
                {
                    recorder.SetUsage(usage);
                }

                recorder.ModelId ??= response.ModelId;
            }

            return response;
        }
        finally
        {
            recorder?.Mark(StreamEventKind.End);
        }
    }

    /// <summary>What the loop above does for an update of one text and nothing else (<see cref="ITextStreamSource"/>).</summary>
    internal static void StampText(AttemptRecorder recorder, string text, string? modelId)
    {
        var now = recorder.ArrivalOr(recorder.Time.GetTimestamp());
        if (text.Length > 0)
        {
            recorder.AppendAnswer(text);
            recorder.MarkAt(now, StreamEventKind.Content, text.Length);
        }
        else
        {
            recorder.MarkAt(now, StreamEventKind.Empty, 0);
        }

        recorder.ModelId ??= modelId;
    }

    internal static (StreamEventKind Kind, int Chars) Classify(ChatResponseUpdate update, AttemptRecorder recorder)
    {
        int content = 0, reasoning = 0;
        bool tool = false, usage = false;
        var contents = update.Contents;
        for (var i = 0; i < contents.Count; i++)
        {
            switch (contents[i])
            {
                case TextContent text when !string.IsNullOrEmpty(text.Text):
                    content += text.Text.Length;
                    recorder.AppendAnswer(text.Text);
                    break;
                case TextReasoningContent thought when !string.IsNullOrEmpty(thought.Text):
                    reasoning += thought.Text.Length;
                    recorder.AppendReasoning(thought.Text);
                    break;
                case FunctionCallContent:
                    tool = true;
                    break;
                case UsageContent u:
                    usage = true;
                    recorder.SetUsage(u.Details);
                    break;
                default:
                    break;
            }
        }

        if (content > 0)
        {
            return (StreamEventKind.Content, content);
        }

        if (reasoning > 0)
        {
            return (StreamEventKind.Reasoning, reasoning);
        }

        return tool ? (StreamEventKind.ToolCall, 0) : usage ? (StreamEventKind.Usage, 0) : (StreamEventKind.Empty, 0);
    }
}

/// <summary>Adds the timing middleware to a chat client pipeline.</summary>
public static class TimingChatClientBuilderExtensions
{
    /// <summary>Stamps every streamed update; place it outermost so that it times what the caller sees.</summary>
    public static ChatClientBuilder UseTiming(this ChatClientBuilder builder) =>
        builder.Use(inner => new TimingChatClient(inner));
}
