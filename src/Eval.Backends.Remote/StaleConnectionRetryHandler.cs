using System.Net;
using System.Net.Sockets;
using Spark.Eval.Core.Timing;

namespace Spark.Eval.Backends.Remote;

/// <summary>
/// Which connection one try went out on, as the connection's stream saw it: set per try (an <see cref="AsyncLocal{T}"/>,
/// as <see cref="ArrivalSink"/>), read by the stream on the try's first write.
/// </summary>
internal sealed class ConnectionUse
{
    private static readonly AsyncLocal<ConnectionUse?> s_current = new();

    public static ConnectionUse? Current
    {
        get => s_current.Value;
        set => s_current.Value = value;
    }

    /// <summary>True when the connection had carried a request before this try's (a pooled keep-alive connection).</summary>
    public bool Reused { get; private set; }

    /// <summary>Called by a connection stream on every write: the first write of a new try tells it whether the connection was reused.</summary>
    public static void NoteWrite(ref ConnectionUse? last, ref int requests)
    {
        var use = Current;
        if (!ReferenceEquals(use, last))
        {
            last = use;
            requests++;
            if (use is not null)
            {
                use.Reused = requests > 1;
            }
        }
    }
}

/// <summary>A plain socket stream that notes, per try, whether its connection was reused (see <see cref="ConnectionUse"/>); reads are untouched.</summary>
internal sealed class ConnectionUseStream(Socket socket) : NetworkStream(socket, ownsSocket: true)
{
    private ConnectionUse? _last;
    private int _requests;

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ConnectionUse.NoteWrite(ref _last, ref _requests);
        return base.WriteAsync(buffer, cancellationToken);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        ConnectionUse.NoteWrite(ref _last, ref _requests);
        base.Write(buffer);
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
}

/// <summary>
/// Retries a request at once, on a connection opened for it, when it failed on a pooled HTTP/1.1 keep-alive connection that
/// the server had closed (no response byte: the request never reached a live connection). A server that closes after every
/// response while advertising keep-alive (llama.cpp's llama-server does) loses that race now and then; a browser resends
/// such a request at once, and so does this, instead of waiting out the retry strategy's back-off. The retry is stamped
/// (<see cref="AttemptRecorder.MarkStaleConnectionRetry"/>) and counted on the attempt; the attempt's latency still runs from
/// the first try's start. Runs inside the resilience pipeline (once per try) and outside the socket handler.
/// </summary>
internal sealed class StaleConnectionRetryHandler(HttpMessageHandler pooled, HttpMessageInvoker fresh) : DelegatingHandler(pooled)
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var use = new ConnectionUse();
        ConnectionUse.Current = use;
        try
        {
            return await base.SendAsync(request, cancellationToken);
        }
        catch (HttpRequestException ex) when (use.Reused && IsClosedBeforeResponse(ex) && !cancellationToken.IsCancellationRequested)
        {
            ConnectionUse.Current = null;
            if (request.GetResilienceContext() is { } context && context.Properties.TryGetValue(OpenAICompatibleChatClient.RecorderKey, out var recorder))
            {
                recorder?.MarkStaleConnectionRetry();
            }

            return await fresh.SendAsync(request, cancellationToken);
        }
        finally
        {
            ConnectionUse.Current = null;
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            fresh.Dispose();
        }

        base.Dispose(disposing);
    }

    /// <summary>The connection ended, was reset or refused the write before the response's status line (never a connect failure).</summary>
    private static bool IsClosedBeforeResponse(HttpRequestException ex) =>
        ex.HttpRequestError is HttpRequestError.ResponseEnded or HttpRequestError.Unknown
        && ex.InnerException is IOException;

    /// <summary>The handler that opens a connection per request (never pooled), for the retry.</summary>
    public static SocketsHttpHandler FreshConnections(SocketsHttpHandler pooled) => new()
    {
        // Lifetime zero: a connection is never returned to the pool, so each request through here opens its own.
        PooledConnectionLifetime = TimeSpan.Zero,
        MaxConnectionsPerServer = int.MaxValue,
        ConnectTimeout = pooled.ConnectTimeout,
        AutomaticDecompression = DecompressionMethods.None,
        UseCookies = false,
        UseProxy = false,
        AllowAutoRedirect = pooled.AllowAutoRedirect,
        ConnectCallback = pooled.ConnectCallback,
    };
}
