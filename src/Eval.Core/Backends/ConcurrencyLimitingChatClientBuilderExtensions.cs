using Microsoft.Extensions.AI;

namespace Spark.Eval.Core.Backends;

/// <summary>Adds <see cref="ConcurrencyLimitingChatClient"/> to a chat client pipeline.</summary>
public static class ConcurrencyLimitingChatClientBuilderExtensions
{
    /// <summary>At most <paramref name="maxConcurrency"/> requests in flight through this layer; waiting longer than <paramref name="maxWait"/> (default: no bound but the caller's) fails as ttft_timeout.</summary>
    public static ChatClientBuilder UseConcurrencyLimit(this ChatClientBuilder builder, int maxConcurrency, TimeSpan? maxWait = null, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.Use(inner => new ConcurrencyLimitingChatClient(inner, maxConcurrency, maxWait ?? Timeout.InfiniteTimeSpan, time ?? TimeProvider.System));
    }
}
