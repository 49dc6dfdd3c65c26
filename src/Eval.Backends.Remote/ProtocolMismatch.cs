namespace Spark.Eval.Backends.Remote;

/// <summary>
/// Tells a server that does not speak the HTTP version asked for (http_version=2 against an HTTP/1.1-only server: it
/// answers the HTTP/2 preface with GOAWAY HTTP_1_1_REQUIRED, an HTTP/1.1 error or a closed connection) from a transient
/// failure: retrying cannot help, so it is classified <c>protocol_mismatch</c> and never retried.
/// </summary>
internal static class ProtocolMismatch
{
    public const string ErrorClass = "protocol_mismatch";

    public static bool Is(Exception? exception, bool http2) =>
        http2 && exception is HttpRequestException { HttpRequestError: HttpRequestError.HttpProtocolError or HttpRequestError.InvalidResponse or HttpRequestError.VersionNegotiationError };

    public static string Describe(Exception exception) =>
        $"the server does not speak HTTP/2 as asked ({exception.Message}). Fix: use http_version=1.1, or a server with HTTP/2 (h2c prior knowledge on http://)";
}
