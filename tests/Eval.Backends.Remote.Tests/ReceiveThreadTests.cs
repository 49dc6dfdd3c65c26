using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.AI;
using Spark.Eval.Core.Backends;
using Spark.Eval.Core.Timing;
using Spark.Eval.Core.Tokens;
using Spark.Eval.Simulator.Server;
using Spark.Eval.TestSupport;

namespace Spark.Eval.Backends.Remote.Tests;

/// <summary>
/// The receive thread (<see cref="ReceiveReader"/>, <c>rx_thread=on</c>, the default): it takes a connection's bytes as they
/// arrive, each read with its own kernel stamps, so a first token the HTTP layer reads late keeps its own arrival instead of
/// the arrival of a later token the kernel merged it with.
/// </summary>
public sealed class ReceiveThreadTests
{
    private const int PauseMs = 250;

    [Fact]
    public async Task Stream_ClientBusyWhileFirstTokensArrive_ReceiveThreadKeepsTheFirstTokensArrivalAndHttpLayerReadsDoNot()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux() && KernelReceiveStream.IsSupported, "kernel receive timestamps are Linux only");
        var ct = TestContext.Current.CancellationToken;

        // The consumer pauses at the stream's first update (the role chunk) while the first three tokens arrive 20 ms apart.
        // Read by the HTTP layer after the pause, they lie merged in the kernel's queue, stamped with the last one's arrival
        // (rx_thread=off: the behaviour before the thread); read by the thread, the first keeps its own.
        var readsBefore = ReceiveReader.Reads;
        var thread = await FirstTokenLateBehindFlushMsAsync("on", ct);
        Assert.True(ReceiveReader.Reads > readsBefore, "the receive thread made no read");
        Assert.InRange(thread, -1, 5);

        // Without the thread the merge is the usual case, not a certainty: depending on where the HTTP layer's buffer ends,
        // its first read after the pause can start at the first token's segment, whose peeked stamp is then exact (seen in
        // fresh-clone CI runs on a loaded machine, 0.1 ms). The contrast must show in one of four runs; when it does not,
        // the test says so as a skip (the receive thread's own figure above has passed).
        var http = 0.0;
        for (var run = 0; run < 4 && http < 15; run++)
        {
            http = Math.Max(http, await FirstTokenLateBehindFlushMsAsync("off", ct));
        }

        Assert.SkipWhen(http < 15, $"rx_thread=off read the first token at its arrival in 4 runs (at most {http:0.0} ms after its flush): the merge it shows did not occur this time; the receive thread's figure passed");
    }

    [Fact]
    public async Task Create_ReceiveThread_ManyMegabytesReadSlowly_ArriveWholeInOrderAndEndOfStreamReadsZero()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux() && KernelReceiveStream.IsSupported, "the receive thread is Linux only");
        var ct = TestContext.Current.CancellationToken;
        await using var stamping = await KernelStampingOn.WaitAsync(ct);
        var (client, server, listener) = await ConnectAsync(ct);
        using var _ = listener;
        using var serverSocket = server;
        await using var stream = KernelReceiveStream.Create(client, receiveThread: true);
        Assert.True(stream.ReadByReceiveThread);

        // 3 MiB (three times the queue's limit, so the thread pauses and is re-armed) of a known pattern, then the end.
        const int total = 3 << 20;
        var send = Task.Run(async () =>
        {
            var block = new byte[64 * 1024];
            for (var sent = 0; sent < total; sent += block.Length)
            {
                for (var i = 0; i < block.Length; i++)
                {
                    block[i] = (byte)((sent + i) % 251);
                }

                await serverSocket.SendAsync(block, SocketFlags.None, ct);
            }

            serverSocket.Shutdown(SocketShutdown.Send);
        }, ct);

        var sink = new ArrivalSink();
        ArrivalSink.Current = sink;
        var buffer = new byte[7000];
        var received = 0;
        var reads = 0;
        var stampedReads = 0;
        var unstampedFirst = 0;
        await Task.Delay(200, ct); // let the thread fill the queue to its limit first
        while (true)
        {
            var n = await stream.ReadAsync(buffer, ct);
            if (n == 0)
            {
                break;
            }

            for (var i = 0; i < n; i++)
            {
                Assert.Equal((byte)((received + i) % 251), buffer[i]);
            }

            // The kernel stamps segments only once socket stamping is on system-wide, which it turns on in a deferred work item when
            // no socket had it (late on a loaded machine): the first reads may come unstamped, and the stream says so (stamp 0,
            // the caller falls back to its own). From the first stamped read on, every read carries both stamps, in order (the
            // reader keeps first <= last).
            if (sink.Timestamp == 0 && stampedReads == 0)
            {
                unstampedFirst++;
            }
            else
            {
                stampedReads++;
                Assert.True(sink.FirstTimestamp > 0 && sink.FirstTimestamp <= sink.Timestamp,
                    $"read {reads}: a read without kernel stamps in order after {stampedReads - 1} stamped: first {sink.FirstTimestamp}, last {sink.Timestamp}");
            }

            received += n;
            if (++reads % 50 == 0)
            {
                await Task.Delay(1, ct);
            }
        }

        ArrivalSink.Current = null;
        await send;
        Assert.Equal(total, received);
        // Stamping on for most of 3 MiB: a reader that lost its stamps fails here, not only one that never had them.
        Assert.True(stampedReads > reads / 2, $"{stampedReads} of {reads} reads kernel-stamped ({unstampedFirst} unstamped before the first stamped)");
        Assert.Equal(0, await stream.ReadAsync(buffer, ct));
    }

    [Fact]
    public async Task ReadAsync_ReceiveThread_WaitingReadIsCancelledAndZeroByteReadWaitsForData()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux() && KernelReceiveStream.IsSupported, "the receive thread is Linux only");
        var ct = TestContext.Current.CancellationToken;
        var (client, server, listener) = await ConnectAsync(ct);
        using var _ = listener;
        using var serverSocket = server;
        await using var stream = KernelReceiveStream.Create(client, receiveThread: true);

        using (var cancel = CancellationTokenSource.CreateLinkedTokenSource(ct))
        {
            var waiting = stream.ReadAsync(new byte[16], cancel.Token).AsTask();
            await Task.Delay(50, ct);
            Assert.False(waiting.IsCompleted);
            await cancel.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        }

        // A zero-byte read completes when data is there, without taking it.
        var zero = stream.ReadAsync(Memory<byte>.Empty, ct).AsTask();
        await Task.Delay(50, ct);
        Assert.False(zero.IsCompleted);
        await serverSocket.SendAsync("hello"u8.ToArray(), SocketFlags.None, ct);
        Assert.Equal(0, await zero.WaitAsync(TimeSpan.FromSeconds(10), ct));
        var buffer = new byte[16];
        Assert.Equal(5, await stream.ReadAsync(buffer, ct));
        Assert.Equal("hello", System.Text.Encoding.ASCII.GetString(buffer, 0, 5));
    }

    private static async Task<(Socket Client, Socket Server, TcpListener Listener)> ConnectAsync(CancellationToken ct)
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync((IPEndPoint)listener.LocalEndpoint, ct);
        var server = await listener.AcceptSocketAsync(ct);
        return (socket, server, listener);
    }

    /// <summary>The client's stamp of the first content token − serve-sim's logged flush of it, ms, repeated until serve-sim flushed the tokens apart.</summary>
    private static async Task<double> FirstTokenLateBehindFlushMsAsync(string thread, CancellationToken ct)
    {
        for (var attempt = 0; attempt < 8; attempt++)
        {
            var sim = new ConstantRateSimChatClient(TimeProvider.System, TokenCounter.Default, 60, 50, "sim");
            await using var server = await SimServer.StartAsync(sim, new SimServerOptions { Port = 0 }, TimeProvider.System, ct);
            var context = new BackendContext(TimeProvider.System, Environment.CurrentDirectory, _ => { });
            await using var backend = await new OpenAIBackendFactory().CreateAsync(BackendSpec.Parse($"openai?url={server.BaseAddress}&model=m&retries=0&rx_thread={thread}"), context, ct);
            Assert.Contains(thread == "on" ? "read by one receive thread" : "read by the HTTP layer", backend.Info.Description, StringComparison.Ordinal);
            var recorder = new AttemptRecorder(TimeProvider.System);
            var pipeline = new ChatClientBuilder(backend.Client).UseTiming().Build();
            var options = new ChatOptions { MaxOutputTokens = 3, AdditionalProperties = new AdditionalPropertiesDictionary { [AttemptRecorder.OptionsKey] = recorder } };
            var updates = 0;
            long pausedNs = 0, resumedNs = 0;
            await foreach (var update in pipeline.GetStreamingResponseAsync([new ChatMessage(ChatRole.User, "Write a function that adds two numbers.")], options, ct))
            {
                if (++updates == 1)
                {
                    pausedNs = ServerLogStore.ToNanoseconds(TimeProvider.System.GetTimestamp(), TimeProvider.System.TimestampFrequency);
                    await Task.Delay(TimeSpan.FromMilliseconds(PauseMs), TimeProvider.System, ct);
                    resumedNs = ServerLogStore.ToNanoseconds(TimeProvider.System.GetTimestamp(), TimeProvider.System.TimestampFrequency);
                }
            }

            var received = recorder.Events().Where(e => e.Kind == StreamEventKind.Content).ToList();
            var flushed = Assert.Single(await ServerLogWait.AtLeastAsync(server.Log, null, 1, ct)).Events.Where(e => e.Kind == "content").ToList();
            // The scenario needs the first token flushed apart from the last, before the pause ended.
            // The scenario needs all three tokens flushed while the consumer was paused: none before the pause began (the
            // role chunk and the first token then reached the consumer together, and the first token was read at its
            // arrival) and none after it ended (a late server: the tokens then arrive one by one, nothing merged). Either
            // happens on a loaded machine (both seen in fresh-clone CI runs): try again.
            if (flushed.Count < 3 || (flushed[2].MonotonicNs - flushed[0].MonotonicNs) / 1e6 < 20
                || flushed[0].MonotonicNs <= pausedNs || flushed[2].MonotonicNs >= resumedNs || received.Count < 1)
            {
                continue;
            }

            var stampNs = ServerLogStore.ToNanoseconds(recorder.StartTimestamp, TimeProvider.System.TimestampFrequency) + (received[0].OffsetMicroseconds * 1000);
            return (stampNs - flushed[0].MonotonicNs) / 1e6;
        }

        Assert.Skip("serve-sim did not flush the tokens apart in 8 tries (machine too loaded to set up the scenario)");
        return 0;
    }
}
