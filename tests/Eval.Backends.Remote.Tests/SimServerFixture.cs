using Microsoft.Extensions.AI;
using Spark.Eval.Core.Backends;
using Spark.Eval.Core.Timing;
using Spark.Eval.Core.Tokens;
using Spark.Eval.Simulator.Server;

namespace Spark.Eval.Backends.Remote.Tests;

/// <summary>A real serve-sim on a free loopback port, hosting the constant-rate sim (5 ms TTFT, 2000 tokens/s).</summary>
public sealed class SimServerFixture : IAsyncLifetime
{
    public const string ExpectedKey = "sk-right-key-0123456789";

    public SimServer Server { get; private set; } = null!;

    /// <summary>A second server that requires <see cref="ExpectedKey"/>.</summary>
    public SimServer KeyedServer { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        var sim = new ConstantRateSimChatClient(TimeProvider.System, TokenCounter.Default, 5, 2000, "sim");
        Server = await SimServer.StartAsync(sim, new SimServerOptions { Port = 0 }, TimeProvider.System, CancellationToken.None);
        KeyedServer = await SimServer.StartAsync(sim, new SimServerOptions { Port = 0, ApiKey = ExpectedKey }, TimeProvider.System, CancellationToken.None);
    }

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        await KeyedServer.DisposeAsync();
    }

    public OpenAIBackendOptions Options(string? fault = null, OpenAIApi api = OpenAIApi.ChatCompletions, SimServer? server = null) => new()
    {
        BaseUrl = (server ?? Server).BaseAddress,
        Model = "m",
        Api = api,
        Headers = fault is null ? new Dictionary<string, string>() : new Dictionary<string, string> { [FaultInjector.HeaderName] = fault },
        MaxRetries = 0,
        RetryBaseDelay = TimeSpan.FromMilliseconds(10),
        // Generous for a busy 2-core machine: only the stall fault should ever be this quiet.
        IdleTimeout = TimeSpan.FromSeconds(2),
        TimeToFirstTokenTimeout = TimeSpan.FromSeconds(5),
        TotalTimeout = TimeSpan.FromSeconds(20),
    };

    /// <summary>Streams one attempt through the timing layer, as the runner does; returns the recorder and the failure, if any.</summary>
    public static async Task<(AttemptRecorder Recorder, Exception? Error, List<ChatResponseUpdate> Updates)> AttemptAsync(
        IChatClient client, string prompt = "Write a function that adds two numbers.", int maxTokens = 24)
    {
        var recorder = new AttemptRecorder(TimeProvider.System);
        // Not disposed: disposing the pipeline would dispose the caller's client.
        var pipeline = new ChatClientBuilder(client).UseTiming().Build();
        var options = new ChatOptions
        {
            MaxOutputTokens = maxTokens,
            AdditionalProperties = new AdditionalPropertiesDictionary { [AttemptRecorder.OptionsKey] = recorder },
        };
        var updates = new List<ChatResponseUpdate>();
        try
        {
            await foreach (var update in pipeline.GetStreamingResponseAsync([new ChatMessage(ChatRole.User, prompt)], options, TestContext.Current.CancellationToken))
            {
                updates.Add(update);
            }

            return (recorder, null, updates);
        }
        catch (BackendException ex)
        {
            return (recorder, ex, updates);
        }
    }
}
