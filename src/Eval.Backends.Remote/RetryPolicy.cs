using System.Globalization;
using System.Net.Http.Headers;
using Microsoft.Extensions.Http.Resilience;
using Polly;

namespace Spark.Eval.Backends.Remote;

/// <summary>
/// The retry strategy of the HTTP pipeline. Polly applies <c>MaxDelay</c> to its own back-off only, not to a
/// <c>Retry-After</c> delay, so a server's <c>Retry-After: 100000</c> was waited out until the TTFT timeout hid the 429.
/// Here a wait is never longer than <see cref="OpenAIBackendOptions.RetryMaxDelay"/>, and a response whose asked wait is
/// longer, or would outlast the attempt's time-to-first-token or total budget, is not retried: the 429/503 is reported,
/// with the reason (<see cref="AttemptTimeouts.RetryDeclined"/>).
/// </summary>
internal static class RetryPolicy
{
    private static readonly ResiliencePropertyKey<AttemptTimeouts?> TimeoutsKey = new("spark.timeouts");

    public static HttpRetryStrategyOptions Create(OpenAIBackendOptions options, TimeProvider time, ProtocolMismatch.Evidence protocol) => new()
    {
        MaxRetryAttempts = options.MaxRetries,
        BackoffType = DelayBackoffType.Exponential,
        UseJitter = true,
        Delay = options.RetryBaseDelay,
        MaxDelay = options.RetryMaxDelay,
        ShouldRetryAfterHeader = false,
        ShouldHandle = args => ValueTask.FromResult(ShouldRetry(args.Outcome, args.Context, options, protocol, time)),
        DelayGenerator = args => ValueTask.FromResult(
            RetryAfter(args.Outcome.Result, time) is { } asked ? (TimeSpan?)Min(asked, options.RetryMaxDelay) : null),
    };

    private static bool ShouldRetry(Outcome<HttpResponseMessage> outcome, ResilienceContext context, OpenAIBackendOptions options, ProtocolMismatch.Evidence protocol, TimeProvider time)
    {
        // A server that does not speak the HTTP version asked for will not on a second try either.
        if (ProtocolMismatch.Is(outcome.Exception, options.Http2, protocol.Http2Answered) || !HttpClientResiliencePredicates.IsTransient(outcome))
        {
            return false;
        }

        if (RetryAfter(outcome.Result, time) is not { } asked)
        {
            return true;
        }

        var timeouts = context.Properties.TryGetValue(TimeoutsKey, out var t) ? t : null;
        var askedText = asked.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture);
        if (asked > options.RetryMaxDelay)
        {
            Decline(timeouts, $"Retry-After {askedText} s is longer than the {options.RetryMaxDelay.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s a retry may wait (retry_max_ms): not retried");
            return false;
        }

        if (timeouts is not null && asked >= timeouts.Remaining)
        {
            Decline(timeouts, $"Retry-After {askedText} s would outlast the attempt's remaining time-to-first-token or total budget: not retried");
            return false;
        }

        return true;
    }

    private static void Decline(AttemptTimeouts? timeouts, string reason)
    {
        if (timeouts is not null)
        {
            timeouts.RetryDeclined = reason;
        }
    }

    /// <summary>The wait a response asks for (Retry-After as seconds or as a date); null when it names none.</summary>
    public static TimeSpan? RetryAfter(HttpResponseMessage? response, TimeProvider time)
    {
        if (response?.Headers.RetryAfter is not RetryConditionHeaderValue header)
        {
            return null;
        }

        var wait = header.Delta ?? (header.Date is { } date ? date - time.GetUtcNow() : null);
        return wait is { } w ? (w < TimeSpan.Zero ? TimeSpan.Zero : w) : null;
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;
}
