using System.Net;
using System.Net.Sockets;

namespace Spark.Eval.Backends.Remote.Tests;

/// <summary>
/// Linux stamps received segments only while some socket asks for stamps, and when none did, turns stamping on in a deferred
/// work item (late on a loaded machine): segments that arrive before it ran carry no stamp, and the stream then reports none
/// (stamp 0; the client falls back to its own). CI: "no update carried a kernel arrival stamp" for a two-token stream. A test
/// about kernel stamps holds one of these while it measures: a loopback pair whose reads carry stamps, kept open.
/// </summary>
internal sealed class KernelStampingOn : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly Socket _server;
    private readonly KernelReceiveStream _stream;

    private KernelStampingOn(TcpListener listener, Socket server, KernelReceiveStream stream)
    {
        _listener = listener;
        _server = server;
        _stream = stream;
    }

    /// <summary>Returns once a read on a stamping socket came with a kernel stamp (at most 5 s; then the test meets the absence itself).</summary>
    public static async Task<KernelStampingOn> WaitAsync(CancellationToken ct)
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var client = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await client.ConnectAsync((IPEndPoint)listener.LocalEndpoint, ct);
        var server = await listener.AcceptSocketAsync(ct);
        var stream = KernelReceiveStream.Create(client);
        var previous = ArrivalSink.Current;
        var sink = new ArrivalSink();
        ArrivalSink.Current = sink;
        try
        {
            var buffer = new byte[1];
            var started = TimeProvider.System.GetTimestamp();
            do
            {
                sink.Timestamp = 0;
                await server.SendAsync(new byte[] { 1 }, SocketFlags.None, ct);
                if (await stream.ReadAsync(buffer, ct) == 0)
                {
                    break;
                }

                if (sink.Timestamp > 0)
                {
                    break;
                }

                await Task.Delay(10, ct);
            }
            while (TimeProvider.System.GetElapsedTime(started) < TimeSpan.FromSeconds(5));
        }
        finally
        {
            ArrivalSink.Current = previous;
        }

        return new KernelStampingOn(listener, server, stream);
    }

    public async ValueTask DisposeAsync()
    {
        await _stream.DisposeAsync();
        _server.Dispose();
        _listener.Stop();
        _listener.Dispose();
    }
}
