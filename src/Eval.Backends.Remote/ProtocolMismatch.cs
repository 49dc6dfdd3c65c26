namespace Spark.Eval.Backends.Remote;

/// <summary>
/// Tells a server that does not speak the HTTP version asked for (http_version=2 against an HTTP/1.1-only server: it
/// answers the HTTP/2 preface with GOAWAY HTTP_1_1_REQUIRED, an HTTP/1.1 error or a closed connection) from a transient
/// failure: retrying cannot help, so it is classified <c>protocol_mismatch</c> and never retried.
/// </summary>
internal static class ProtocolMismatch
{
    /// <summary>Per client: set once any response came back in HTTP/2 (read by the retry policy and the error mapping).</summary>
    internal sealed class Evidence
    {
        private volatile bool _http2Answered;

        public bool Http2Answered => _http2Answered;

        public void Saw(HttpResponseMessage? response)
        {
            if (response?.Version.Major == 2)
            {
                _http2Answered = true;
            }
        }
    }

    public const string ErrorClass = "protocol_mismatch";

    /// <summary>True when <paramref name="exception"/> means the server does not speak HTTP/2 as asked (<paramref name="http2"/>); <paramref name="http2Answered"/>: whether this client ever had an HTTP/2 response from it.</summary>
    public static bool Is(Exception? exception, bool http2, bool http2Answered) =>
        http2 && exception is HttpRequestException ex
        && (ex.HttpRequestError is HttpRequestError.HttpProtocolError or HttpRequestError.InvalidResponse or HttpRequestError.VersionNegotiationError
            // Before any HTTP/2 answer from this server, a connection that was made and then failed in any other way (an
            // HTTP/1.1-only server's error reply lost to the reset that follows it, say) is the same mismatch: a retry meets
            // it again. Connect and TLS failures are not; after one HTTP/2 answer, a failure is the transient kind.
            || (!http2Answered && ex.HttpRequestError is not (HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError
                or HttpRequestError.SecureConnectionError or HttpRequestError.ProxyTunnelError or HttpRequestError.UserAuthenticationError)));

    public static string Describe(Exception exception) =>
        $"the server does not speak HTTP/2 as asked ({exception.Message}). Fix: use http_version=1.1, or a server with HTTP/2 (h2c prior knowledge on http://)";
}
