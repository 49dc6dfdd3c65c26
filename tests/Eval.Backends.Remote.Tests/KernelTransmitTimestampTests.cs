using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.AI;
using Spark.Eval.Core.Backends;
using Spark.Eval.Core.Timing;
using Spark.Eval.Core.Tokens;
using Spark.Eval.Simulator.Server;
using Spark.Eval.TestSupport;

namespace Spark.Eval.Backends.Remote.Tests;

/// <summary>Kernel transmit timestamps (SO_TIMESTAMPING) for request_sent: stamped by the kernel, never after the server has the request.</summary>
public sealed class KernelTransmitTimestampTests
{
    [Fact]
    public async Task Write_OnLoopback_SinkGetsTheKernelsTransmitStampOfTheWrite()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux() && KernelReceiveStream.IsSupported, "kernel timestamps are Linux only");
        var ct = TestContext.Current.CancellationToken;
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync((IPEndPoint)listener.LocalEndpoint, ct);
        using var server = await listener.AcceptSocketAsync(ct);
        await using var stream = KernelReceiveStream.Create(socket);
        Assert.True(stream.TransmitStamps);

        var sink = new ArrivalSink();
        ArrivalSink.Current = sink;
        long previous = 0;
        for (var write = 0; write < 3; write++)
        {
            sink.TransmitTimestamp = 0;
            var before = TimeProvider.System.GetTimestamp();
            await stream.WriteAsync(new byte[100 + (write * 1000)], ct);
            var after = TimeProvider.System.GetTimestamp();

            // A stamp of this write (keyed by its last byte), taken between the call and its return, later than the last one.
            Assert.True(sink.TransmitTimestamp > 0, $"write {write}: no transmit stamp");
            Assert.InRange(sink.TransmitTimestamp, before, after);
            Assert.True(sink.TransmitTimestamp > previous);
            previous = sink.TransmitTimestamp;
        }

        ArrivalSink.Current = null;
    }

    [Fact]
    public async Task Stream_ThroughServeSim_RequestSentIsKernelStampedAndPrecedesServerReceiptAndHeaders()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux() && KernelReceiveStream.IsSupported, "kernel timestamps are Linux only");
        var ct = TestContext.Current.CancellationToken;
        var sim = new ConstantRateSimChatClient(TimeProvider.System, TokenCounter.Default, 2, 500, "sim");
        await using var server = await SimServer.StartAsync(sim, new SimServerOptions { Port = 0 }, TimeProvider.System, ct);
        var context = new BackendContext(TimeProvider.System, Environment.CurrentDirectory, _ => { });
        await using var backend = await new OpenAIBackendFactory().CreateAsync(BackendSpec.Parse($"openai?url={server.BaseAddress}&model=m&retries=0"), context, ct);
        Assert.Contains("request_sent kernel transmit time", backend.Info.Description, StringComparison.Ordinal);
        var pipeline = new ChatClientBuilder(backend.Client).UseTiming().Build();

        for (var attempt = 0; attempt < 20; attempt++)
        {
            var recorder = new AttemptRecorder(TimeProvider.System);
            var options = new ChatOptions { MaxOutputTokens = 2, AdditionalProperties = new AdditionalPropertiesDictionary { [AttemptRecorder.OptionsKey] = recorder } };
            string? responseId = null;
            await foreach (var update in pipeline.GetStreamingResponseAsync([new ChatMessage(ChatRole.User, "add two numbers")], options, ct))
            {
                responseId ??= update.ResponseId;
            }

            var events = recorder.Events().ToList();
            var sent = events.Single(e => e.Kind == StreamEventKind.RequestSent).OffsetMicroseconds;
            var headers = events.Single(e => e.Kind == StreamEventKind.ResponseHeaders).OffsetMicroseconds;
            Assert.True(sent <= headers, $"attempt {attempt}: request_sent {sent} µs after response_headers {headers} µs");

            // One clock: the client's send stamp is no later than serve-sim's own receipt of the request.
            // The request is logged when its handler returns, which can be after the client read its end: wait for it (bounded).
            var entry = Assert.Single(await ServerLogWait.AtLeastAsync(server.Log, responseId!.Replace("chatcmpl-", string.Empty, StringComparison.Ordinal), 1, ct));
            var sentNs = ServerLogStore.ToNanoseconds(recorder.StartTimestamp, TimeProvider.System.TimestampFrequency) + (sent * 1000);
            Assert.True(sentNs <= entry.ReceivedNs + 1000, $"attempt {attempt}: request_sent {(sentNs - entry.ReceivedNs) / 1e3:0.0} µs after serve-sim received it");
        }
    }
}
