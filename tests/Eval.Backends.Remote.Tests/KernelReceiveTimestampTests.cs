using Microsoft.Extensions.AI;
using Spark.Eval.Core.Backends;
using Spark.Eval.Core.Timing;
using Spark.Eval.Core.Tokens;
using Spark.Eval.Simulator.Server;

namespace Spark.Eval.Backends.Remote.Tests;

/// <summary>Kernel receive timestamps: an event that waited in the socket while the client was busy keeps its arrival time.</summary>
public sealed class KernelReceiveTimestampTests
{
    [Fact]
    public async Task Stream_ClientBusyWhileSecondTokenArrives_KernelStampKeepsItsArrivalAndParseStampDoesNot()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "kernel receive timestamps are Linux only");
        var ct = TestContext.Current.CancellationToken;
        // Two tokens 20 ms apart; the consumer then sleeps 300 ms after the first, while the second waits in the socket.
        var sim = new ConstantRateSimChatClient(TimeProvider.System, TokenCounter.Default, 5, 50, "sim");
        await using var server = await SimServer.StartAsync(sim, new SimServerOptions { Port = 0 }, TimeProvider.System, ct);

        var kernel = await SecondTokenGapAsync(server, stamps: "kernel", ct);
        var parse = await SecondTokenGapAsync(server, stamps: "off", ct);

        Assert.True(kernel.StampedByKernel > 0, "no update carried a kernel arrival stamp");
        Assert.True(kernel.GapMs < 150, $"kernel stamp gap {kernel.GapMs:0.0} ms: the second token was stamped when read, not when it arrived");
        Assert.Equal(0, parse.StampedByKernel);
        Assert.True(parse.GapMs >= 300, $"parse stamp gap {parse.GapMs:0.0} ms: expected at least the consumer's 300 ms pause");
    }

    private static async Task<(double GapMs, int StampedByKernel)> SecondTokenGapAsync(SimServer server, string stamps, CancellationToken ct)
    {
        var factory = new OpenAIBackendFactory();
        var context = new Core.Backends.BackendContext(TimeProvider.System, Environment.CurrentDirectory, _ => { });
        await using var backend = await factory.CreateAsync(Core.Backends.BackendSpec.Parse($"openai?url={server.BaseAddress}&model=m&retries=0&rx_timestamps={stamps}"), context, ct);
        var recorder = new AttemptRecorder(TimeProvider.System);
        var pipeline = new ChatClientBuilder(backend.Client).UseTiming().Build();
        var options = new ChatOptions { MaxOutputTokens = 2, AdditionalProperties = new AdditionalPropertiesDictionary { [AttemptRecorder.OptionsKey] = recorder } };
        var contents = 0;
        await foreach (var update in pipeline.GetStreamingResponseAsync([new ChatMessage(ChatRole.User, "Write a function that adds two numbers.")], options, ct))
        {
            if (!string.IsNullOrEmpty(update.Text) && ++contents == 1)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(300), TimeProvider.System, ct);
            }
        }

        var content = recorder.Events().Where(e => e.Kind == StreamEventKind.Content).ToList();
        Assert.Equal(2, content.Count);
        return ((content[1].OffsetMicroseconds - content[0].OffsetMicroseconds) / 1000.0, recorder.ArrivalStamped);
    }
}
