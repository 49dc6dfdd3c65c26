using System.Runtime.CompilerServices;
using LLama;
using Microsoft.Extensions.AI;
using Spark.Eval.Core.Backends;

namespace Spark.Eval.Backends.Local;

/// <summary>
/// Streams a local llama.cpp model as an <see cref="IChatClient"/>: one update per generated token piece, then one
/// usage update with the exact prompt and output token counts. Each request starts from an empty KV cache.
/// </summary>
public sealed class LocalChatClient : IChatClient
{
    /// <summary>Output cap when the request sets none.</summary>
    public const int DefaultMaxOutputTokens = 256;

    private readonly LocalModel _model;
    private readonly bool _ownsModel;
    private readonly ChatClientMetadata _metadata;

    public LocalChatClient(LocalModel model, bool ownsModel = true)
    {
        ArgumentNullException.ThrowIfNull(model);
        _model = model;
        _ownsModel = ownsModel;
        _metadata = new ChatClientMetadata("llama.cpp", new Uri(Path.GetFullPath(model.Path)), model.Name);
    }

    public LocalModel Model => _model;

    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
        await GetStreamingResponseAsync(messages, options, cancellationToken).ToChatResponseAsync(cancellationToken);

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        await _model.Gate.WaitAsync(cancellationToken);
        try
        {
            var prompt = _model.Tokenize(_model.FormatPrompt(messages));
            var room = _model.ContextSize - prompt.Length;
            if (room <= 0)
            {
                throw new BackendException("context_overflow",
                    $"the prompt has {prompt.Length} tokens but the context holds {_model.ContextSize}. Fix: raise ctx= in the local backend spec");
            }

            var limit = Math.Min(options?.MaxOutputTokens ?? DefaultMaxOutputTokens, room);
            var modelId = options?.ModelId ?? _model.Name;

            // A fresh cache and a fresh sampler per request: nothing of an earlier attempt can leak into this one.
            _model.ClearKvCache();
            using var sampler = LocalModel.CreateSampler(options?.Temperature, AttemptContext.Seed(options));
            var vocab = _model.Weights.Vocab;
            var decoder = new StreamingTokenDecoder(_model.Context);
            var logits = _model.Prefill(prompt);
            var position = prompt.Length;
            var produced = 0;
            while (produced < limit)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var token = sampler.Sample(_model.Context.NativeHandle, logits);
                if (token.IsEndOfGeneration(vocab))
                {
                    break;
                }

                produced++;
                decoder.Add(token);
                var text = decoder.Read();

                // A token that ends inside a multi-byte character yields no text yet; its bytes arrive with the next piece.
                if (text.Length > 0)
                {
                    yield return new ChatResponseUpdate(ChatRole.Assistant, text) { ModelId = modelId };
                }

                if (produced < limit)
                {
                    _model.DecodeOne(token, position++);
                    logits = 0;
                }
            }

            yield return new ChatResponseUpdate
            {
                Role = ChatRole.Assistant,
                ModelId = modelId,
                FinishReason = produced == limit ? ChatFinishReason.Length : ChatFinishReason.Stop,
                Contents = [new UsageContent(new UsageDetails { InputTokenCount = prompt.Length, OutputTokenCount = produced, TotalTokenCount = prompt.Length + produced })],
            };
        }
        finally
        {
            _model.Gate.Release();
        }
    }

    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        return serviceKey is not null ? null
            : serviceType == typeof(ChatClientMetadata) ? _metadata
            : serviceType.IsInstanceOfType(this) ? this
            : serviceType.IsInstanceOfType(_model) ? _model
            : null;
    }

    public void Dispose()
    {
        if (_ownsModel)
        {
            _model.Dispose();
        }
    }
}
