using Microsoft.Extensions.AI;
using Spark.Eval.Core;
using Spark.Eval.Core.Backends;
using Spark.Eval.Core.Tokens;
using Spark.Eval.Simulator.Server;

namespace Spark.Eval.Backends.Remote.Tests;

/// <summary>The reader over HTTP/2 (h2c with prior knowledge against an HTTP/2-only serve-sim) and the client tokenizer chosen by model id.</summary>
public sealed class Http2AndTokenizerTests
{
    private const string Prompt = "Explain what a binary search does in one paragraph.";

    [Theory]
    [InlineData(OpenAIApi.ChatCompletions)]
    [InlineData(OpenAIApi.Responses)]
    public async Task Stream_Http2OnlyServer_SameTextAndUsageAsHttp11AndServerSawHttp2(OpenAIApi api)
    {
        var ct = TestContext.Current.CancellationToken;
        // 5 ms between tokens: tokens already due when the backend wakes are sent together, so a faster rate on a
        // loaded machine can arrive as one chunk and the streaming assertion below would not test streaming.
        var sim = new ConstantRateSimChatClient(TimeProvider.System, TokenCounter.Default, 5, 200, "sim");
        await using var h2 = await SimServer.StartAsync(sim, new SimServerOptions { Port = 0, Http2 = true }, TimeProvider.System, ct);
        await using var h1 = await SimServer.StartAsync(sim, new SimServerOptions { Port = 0 }, TimeProvider.System, ct);
        var factory = new OpenAIBackendFactory();
        var context = new BackendContext(TimeProvider.System, Environment.CurrentDirectory, _ => { });
        var apiName = api == OpenAIApi.ChatCompletions ? "chat" : "responses";
        await using var over2 = await factory.CreateAsync(BackendSpec.Parse($"openai?url={h2.BaseAddress}&model=m&api={apiName}&http_version=2&retries=0"), context, ct);
        await using var over1 = await factory.CreateAsync(BackendSpec.Parse($"openai?url={h1.BaseAddress}&model=m&api={apiName}&http_version=1.1&retries=0"), context, ct);

        var (viaH2, error2, _) = await SimServerFixture.AttemptAsync(over2.Client, Prompt, 30);
        var (viaH1, error1, _) = await SimServerFixture.AttemptAsync(over1.Client, Prompt, 30);

        Assert.Null(error2);
        Assert.Null(error1);
        Assert.StartsWith("Simulated answer", viaH2.Answer, StringComparison.Ordinal);
        Assert.Equal(viaH1.Answer, viaH2.Answer);
        Assert.Equal(30, viaH2.Usage?.OutputTokenCount);
        Assert.True(viaH2.Events().Count(e => e.Kind == Core.Timing.StreamEventKind.Content) > 1);
        Assert.All(h2.Log.Find(null), e => Assert.Equal("HTTP/2", e.Protocol));
        Assert.All(h1.Log.Find(null), e => Assert.Equal("HTTP/1.1", e.Protocol));
        Assert.Contains("HTTP/2", over2.Info.Description, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stream_Http11ClientAgainstHttp2OnlyServer_FailsAsClassifiedAttempt()
    {
        var ct = TestContext.Current.CancellationToken;
        var sim = new ConstantRateSimChatClient(TimeProvider.System, TokenCounter.Default, 5, 2000, "sim");
        await using var h2 = await SimServer.StartAsync(sim, new SimServerOptions { Port = 0, Http2 = true }, TimeProvider.System, ct);
        using var client = new OpenAICompatibleChatClient(new OpenAIBackendOptions
        {
            BaseUrl = h2.BaseAddress,
            Model = "m",
            MaxRetries = 0,
            TotalTimeout = TimeSpan.FromSeconds(10),
        }, TimeProvider.System, null);

        var (_, error, _) = await SimServerFixture.AttemptAsync(client, Prompt, 10);

        Assert.IsType<BackendException>(error);
    }

    [Fact]
    public void ParseOptions_HttpVersion_ReadsBothSpellingsAndRejectsOthers()
    {
        Assert.True(OpenAIBackendFactory.ParseOptions(BackendSpec.Parse("openai?url=http://127.0.0.1:1/v1&model=m&http_version=2")).Http2);
        Assert.True(OpenAIBackendFactory.ParseOptions(BackendSpec.Parse("openai?url=http://127.0.0.1:1/v1&model=m&http2=1")).Http2);
        Assert.False(OpenAIBackendFactory.ParseOptions(BackendSpec.Parse("openai?url=http://127.0.0.1:1/v1&model=m&http_version=1.1")).Http2);
        var ex = Assert.Throws<InputException>(() => OpenAIBackendFactory.ParseOptions(BackendSpec.Parse("openai?url=http://127.0.0.1:1/v1&model=m&http_version=3")));
        Assert.Contains("Fix:", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("gpt-4o-mini", "o200k_base")]
    [InlineData("openai/gpt-5", "o200k_base")]
    [InlineData("o3-mini", "o200k_base")]
    [InlineData("gpt-oss-20b", "o200k_base")]
    [InlineData("gpt-4-turbo", "cl100k_base")]
    [InlineData("gpt-3.5-turbo", "cl100k_base")]
    [InlineData("gpt2", "gpt2")]
    [InlineData("davinci", "r50k_base")]
    public void ForModel_KnownModel_ExactEncoding(string model, string encoding)
    {
        Assert.Equal(encoding, ModelTokenizers.ForModel(model).Name);
    }

    [Fact]
    public void ForModel_OtherVocabulary_O200kLabelledApproximate()
    {
        var counter = ModelTokenizers.ForModel("Qwen2.5-Coder-7B-Instruct");

        Assert.StartsWith("o200k_base (approximate", counter.Name, StringComparison.Ordinal);
        Assert.Contains("Qwen2.5-Coder-7B-Instruct", counter.Name, StringComparison.Ordinal);
    }

    [Fact]
    public void Encodings_SameText_CountsDifferAcrossVocabularies()
    {
        // Whitespace runs are one cl100k/o200k token but several gpt2/r50k tokens: the choice matters.
        const string Code = "def f(x):\n        return x  +  1\n";
        var counts = ModelTokenizers.Encodings.ToDictionary(e => e, e => ModelTokenizers.Create(e, exact: true).Count(Code));

        Assert.True(counts["gpt2"] > counts["cl100k_base"]);
        Assert.Equal(counts["gpt2"], counts["r50k_base"]);
    }

    [Fact]
    public async Task Client_TokenizerSetting_IsOfferedToTheRunnerThroughGetService()
    {
        var factory = new OpenAIBackendFactory();
        var context = new BackendContext(TimeProvider.System, Environment.CurrentDirectory, _ => { });
        await using var auto = await factory.CreateAsync(BackendSpec.Parse("openai?url=http://127.0.0.1:1/v1&model=gpt-4"), context, TestContext.Current.CancellationToken);
        await using var set = await factory.CreateAsync(BackendSpec.Parse("openai?url=http://127.0.0.1:1/v1&model=llama-3&tokenizer=gpt2"), context, TestContext.Current.CancellationToken);

        Assert.Equal("cl100k_base", (auto.Client.GetService(typeof(TokenCounter)) as TokenCounter)?.Name);
        Assert.Equal("gpt2", (set.Client.GetService(typeof(TokenCounter)) as TokenCounter)?.Name);
        Assert.Throws<InputException>(() => OpenAIBackendFactory.ParseOptions(BackendSpec.Parse("openai?url=http://127.0.0.1:1/v1&model=m&tokenizer=llama")));
    }
}
