using System.Globalization;
using System.Net;
using Spark.Eval.Core.Backends;

namespace Spark.Eval.Backends.Remote;

/// <summary>
/// Redirects, decided here rather than by <see cref="SocketsHttpHandler"/> (whose automatic redirects are off): not
/// followed unless <c>follow_redirects=true</c>, and then only 307/308 (a POST stays a POST), at most
/// <see cref="MaxHops"/>, never from https to http, and without credentials when the target is another origin.
/// A redirect not followed reaches the backend as a 3xx response, which <see cref="ResponseChecks"/> classifies.
/// </summary>
internal sealed class RedirectHandler(HttpMessageHandler inner, bool follow, RequestSecrets secrets, IEnumerable<string> plainHeaderNames) : DelegatingHandler(inner)
{
    public const int MaxHops = 5;

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var response = await base.SendAsync(request, cancellationToken);
        for (var hop = 0; follow && hop < MaxHops; hop++)
        {
            if (response.StatusCode is not (HttpStatusCode.TemporaryRedirect or HttpStatusCode.PermanentRedirect)
                || response.Headers.Location is not { } location || request.RequestUri is not { } from)
            {
                break;
            }

            var target = location.IsAbsoluteUri ? location : new Uri(from, location);
            if (target.Scheme != Uri.UriSchemeHttps && (target.Scheme != Uri.UriSchemeHttp || from.Scheme == Uri.UriSchemeHttps))
            {
                break;
            }

            if (!SameOrigin(from, target))
            {
                secrets.Strip(request, plainHeaderNames);
            }

            response.Dispose();
            request.RequestUri = target;
            response = await base.SendAsync(request, cancellationToken);
        }

        return response;
    }

    public static bool SameOrigin(Uri a, Uri b) =>
        string.Equals(a.Scheme, b.Scheme, StringComparison.OrdinalIgnoreCase)
        && string.Equals(a.IdnHost, b.IdnHost, StringComparison.OrdinalIgnoreCase)
        && a.Port == b.Port;
}

/// <summary>Responses that must not be read as an answer: redirects, compressed bodies nobody asked for; and why a 429/503 was not retried.</summary>
internal static class ResponseChecks
{
    /// <summary>A classified failure for a redirect or an encoded body; null when the response may be read.</summary>
    public static BackendException? Classify(HttpResponseMessage response, Uri endpoint, RequestSecrets secrets, bool followRedirects)
    {
        var code = (int)response.StatusCode;
        if (code is >= 300 and < 400)
        {
            var location = response.Headers.Location is { } l ? (l.IsAbsoluteUri ? l : new Uri(endpoint, l)).GetLeftPart(UriPartial.Path) : "(no Location)";
            var why = followRedirects
                ? $"only 307/308 to http(s) are followed (https never to http), at most {RedirectHandler.MaxHops} hops"
                : "redirects are not followed: the prompt would go to another server and its timing be recorded as this one's";
            return new BackendException("redirect", secrets.Redact(string.Create(CultureInfo.InvariantCulture,
                $"HTTP {code} from {endpoint} redirects to {location}; {why}. Fix: put the final URL in url=, or allow redirects with follow_redirects=true (credentials are dropped when the target is another origin)")));
        }

        if (response.IsSuccessStatusCode && response.Content.Headers.ContentEncoding.Any(e => !string.Equals(e, "identity", StringComparison.OrdinalIgnoreCase)))
        {
            var encoding = string.Join(", ", response.Content.Headers.ContentEncoding);
            return new BackendException("unsupported_encoding", secrets.Redact(
                $"{endpoint} sent its body with Content-Encoding: {encoding}, which the request did not accept (it sends no Accept-Encoding, so that every event is timed as it arrives). Fix: turn response compression off for this endpoint on the server or proxy"));
        }

        return null;
    }
}
