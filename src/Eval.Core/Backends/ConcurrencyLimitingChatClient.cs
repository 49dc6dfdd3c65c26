using System.Globalization;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;

namespace Spark.Eval.Core.Backends;

/// <summary>
/// Lets at most a fixed number of requests through to the inner client at once (a rate-limit guard, e.g. the openai
/// backend's <c>max_concurrency</c>); a streamed request holds its slot until its stream ends. A request that waits longer
/// than <see cref="MaxWait"/> for a slot fails as <c>ttft_timeout</c>, the class a slow first token gets.
/// </summary>
public sealed class ConcurrencyLimitingChatClient : DelegatingChatClient
{
    private readonly SemaphoreSlim _slots;

    public ConcurrencyLimitingChatClient(IChatClient innerClient, int maxConcurrency, TimeSpan maxWait, TimeProvider time) : base(innerClient)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxConcurrency);
        _slots = new SemaphoreSlim(maxConcurrency, maxConcurrency);
        MaxConcurrency = maxConcurrency;
        MaxWait = maxWait;
        Time = time;
    }

    public int MaxConcurrency { get; }

    public TimeSpan MaxWait { get; }

    private TimeProvider Time { get; }

    public override async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        await AcquireAsync(cancellationToken);
        try
        {
            return await base.GetResponseAsync(messages, options, cancellationToken);
        }
        finally
        {
            _slots.Release();
        }
    }

    public override async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await AcquireAsync(cancellationToken);
        try
        {
            await foreach (var update in base.GetStreamingResponseAsync(messages, options, cancellationToken).WithCancellation(cancellationToken))
            {
                yield return update;
            }
        }
        finally
        {
            _slots.Release();
        }
    }

    private async Task AcquireAsync(CancellationToken cancellationToken)
    {
        using var wait = new CancellationTokenSource(MaxWait, Time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, wait.Token);
        try
        {
            await _slots.WaitAsync(linked.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new BackendException("ttft_timeout", string.Create(CultureInfo.InvariantCulture,
                $"no first token within {MaxWait.TotalMilliseconds:0} ms while waiting for a concurrency slot ({MaxConcurrency} in flight)"));
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _slots.Dispose();
        }

        base.Dispose(disposing);
    }
}
