using System.ClientModel;
using System.Text;
using Microsoft.Extensions.AI;
using OpenAI;
using OpenAI.Chat;
using Spark.Eval.Core.Backends;
using Spark.Eval.Core.Timing;

namespace Spark.Eval.Backends.Remote.Tests;

/// <summary>Chat Completions and Responses over real loopback HTTP: text, usage, timing marks, key handling, and agreement with the official SDK.</summary>
public sealed class ProtocolTests(SimServerFixture fixture) : IClassFixture<SimServerFixture>
{
    private const string Prompt = "Explain what a binary search does in one paragraph.";

    [Theory]
    [InlineData(OpenAIApi.ChatCompletions)]
    [InlineData(OpenAIApi.Responses)]
    public async Task Stream_HealthyServer_TextAndUsageMatchNonStreamingAndMarksAreOrdered(OpenAIApi api)
    {
        using var client = new OpenAICompatibleChatClient(fixture.Options(api: api), TimeProvider.System, null);

        var (recorder, error, updates) = await SimServerFixture.AttemptAsync(client, Prompt, 30);
        var whole = await client.GetResponseAsync([new Microsoft.Extensions.AI.ChatMessage(ChatRole.User, Prompt)],
            new ChatOptions { MaxOutputTokens = 30 }, TestContext.Current.CancellationToken);

        Assert.Null(error);
        Assert.StartsWith("Simulated answer", recorder.Answer, StringComparison.Ordinal);
        Assert.Equal(whole.Text, recorder.Answer);
        Assert.Equal(30, recorder.Usage?.OutputTokenCount);
        Assert.Equal(whole.Usage?.OutputTokenCount, recorder.Usage?.OutputTokenCount);
        Assert.True(recorder.Usage?.InputTokenCount > 0);
        Assert.NotNull(updates.Last(u => u.ResponseId is not null).ResponseId);
        var kinds = recorder.Events().Select(e => e.Kind).ToList();
        int At(StreamEventKind k) => kinds.IndexOf(k);
        Assert.True(At(StreamEventKind.RequestStart) < At(StreamEventKind.RequestSent));
        Assert.True(At(StreamEventKind.RequestSent) < At(StreamEventKind.ResponseHeaders));
        Assert.True(At(StreamEventKind.ResponseHeaders) < At(StreamEventKind.FirstByte));
        Assert.True(At(StreamEventKind.FirstByte) < At(StreamEventKind.Content));
        Assert.Equal(StreamEventKind.End, kinds[^1]);
    }

    [Fact]
    public async Task WebSocket_SequentialAttempts_ReuseOneConnectionAndMatchSseText()
    {
        using var sse = new OpenAICompatibleChatClient(fixture.Options(api: OpenAIApi.Responses), TimeProvider.System, null);
        using var ws = new OpenAICompatibleChatClient(fixture.Options(api: OpenAIApi.ResponsesWebSocket), TimeProvider.System, null);
        var (expected, _, _) = await SimServerFixture.AttemptAsync(sse, Prompt, 30);

        var attempts = new List<AttemptRecorder>();
        for (var i = 0; i < 3; i++)
        {
            var (recorder, error, _) = await SimServerFixture.AttemptAsync(ws, Prompt, 30);
            Assert.Null(error);
            attempts.Add(recorder);
        }

        Assert.Equal(1, ws.WebSocketsOpened);
        Assert.All(attempts, a => Assert.Equal(expected.Answer, a.Answer));
        Assert.All(attempts, a => Assert.Equal(expected.Usage?.OutputTokenCount, a.Usage?.OutputTokenCount));
        var kinds = attempts[^1].Events().Select(e => e.Kind).ToList();
        Assert.True(kinds.IndexOf(StreamEventKind.RequestSent) < kinds.IndexOf(StreamEventKind.FirstByte));
        Assert.True(kinds.IndexOf(StreamEventKind.FirstByte) < kinds.IndexOf(StreamEventKind.Content));
        Assert.Contains(fixture.Server.Log.Find(null), e => e.Path.Contains("websocket", StringComparison.Ordinal));
    }

    [Fact]
    public async Task WebSocket_PreviousResponseId_SendsOnlyNewInputAndServerContinues()
    {
        using var ws = new OpenAICompatibleChatClient(fixture.Options(api: OpenAIApi.ResponsesWebSocket), TimeProvider.System, null);
        var first = await ws.GetResponseAsync([new Microsoft.Extensions.AI.ChatMessage(ChatRole.User, "delta epsilon")],
            new ChatOptions { MaxOutputTokens = 8 }, TestContext.Current.CancellationToken);

        var second = await ws.GetResponseAsync([new Microsoft.Extensions.AI.ChatMessage(ChatRole.User, "zeta")],
            new ChatOptions { MaxOutputTokens = 60, ConversationId = first.ResponseId }, TestContext.Current.CancellationToken);

        Assert.StartsWith("resp_", first.ResponseId, StringComparison.Ordinal);
        Assert.Contains("epsilon", second.Text, StringComparison.Ordinal);
        Assert.Equal(1, ws.WebSocketsOpened);
    }

    [Fact]
    public async Task Responses_PreviousResponseId_ServerContinuesTheConversation()
    {
        using var client = new OpenAICompatibleChatClient(fixture.Options(api: OpenAIApi.Responses), TimeProvider.System, null);
        var first = await client.GetResponseAsync([new Microsoft.Extensions.AI.ChatMessage(ChatRole.User, "alpha beta")],
            new ChatOptions { MaxOutputTokens = 8 }, TestContext.Current.CancellationToken);

        var second = await client.GetResponseAsync([new Microsoft.Extensions.AI.ChatMessage(ChatRole.User, "gamma")],
            new ChatOptions { MaxOutputTokens = 60, ConversationId = first.ResponseId }, TestContext.Current.CancellationToken);
        var alone = await client.GetResponseAsync([new Microsoft.Extensions.AI.ChatMessage(ChatRole.User, "gamma")],
            new ChatOptions { MaxOutputTokens = 60 }, TestContext.Current.CancellationToken);

        // The sim echoes the whole conversation it was given, so only a chained request mentions the earlier turn.
        Assert.Contains("alpha", second.Text, StringComparison.Ordinal);
        Assert.DoesNotContain("alpha", alone.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Key_WrongKeyEchoedByServer_NeverAppearsInErrorOrRecord()
    {
        const string secret = "sk-test-SECRET-5f3a9c";
        using var client = new OpenAICompatibleChatClient(fixture.Options(server: fixture.KeyedServer), TimeProvider.System, secret);

        var (recorder, error, _) = await SimServerFixture.AttemptAsync(client);

        var backendError = Assert.IsType<BackendException>(error);
        Assert.Equal("http_401", backendError.ErrorClass);
        Assert.Contains("Incorrect API key", backendError.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(secret, backendError.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(secret, recorder.Answer + recorder.Reasoning, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Key_RightKey_IsSentAsBearer()
    {
        using var client = new OpenAICompatibleChatClient(fixture.Options(server: fixture.KeyedServer), TimeProvider.System, SimServerFixture.ExpectedKey);

        var (recorder, error, _) = await SimServerFixture.AttemptAsync(client);

        Assert.Null(error);
        Assert.NotEmpty(recorder.Answer);
    }

    [Fact]
    public async Task OfficialSdk_ChatStream_ReadsSameTextAndUsageAsOurReader()
    {
        var sdk = new ChatClient("m", new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = fixture.Server.BaseAddress });
        var text = new StringBuilder();
        ChatTokenUsage? usage = null;
        await foreach (var update in sdk.CompleteChatStreamingAsync([new UserChatMessage(Prompt)], new ChatCompletionOptions { MaxOutputTokenCount = 30 }, TestContext.Current.CancellationToken))
        {
            foreach (var part in update.ContentUpdate)
            {
                text.Append(part.Text);
            }

            usage ??= update.Usage;
        }

        using var ours = new OpenAICompatibleChatClient(fixture.Options(), TimeProvider.System, null);
        var (recorder, error, _) = await SimServerFixture.AttemptAsync(ours, Prompt, 30);

        Assert.Null(error);
        Assert.Equal(recorder.Answer, text.ToString());
        Assert.NotNull(usage);
        Assert.Equal(recorder.Usage?.OutputTokenCount, usage.OutputTokenCount);
        Assert.Equal(recorder.Usage?.InputTokenCount, usage.InputTokenCount);
    }

    [Fact]
    public async Task Factory_SpecWithUnknownKeyOrMissingKeyVariable_ThrowsInputExceptionWithFix()
    {
        var factory = new OpenAIBackendFactory();
        var context = new BackendContext(TimeProvider.System, ".", _ => { });
        var url = fixture.Server.BaseAddress.ToString();

        var typo = await Assert.ThrowsAsync<Spark.Eval.Core.InputException>(() =>
            factory.CreateAsync(BackendSpec.Parse($"openai?url={url}&model=m&retires=2"), context, TestContext.Current.CancellationToken));
        var missing = await Assert.ThrowsAsync<Spark.Eval.Core.InputException>(() =>
            factory.CreateAsync(BackendSpec.Parse($"openai?url={url}&model=m&key_env=SPARK_TEST_UNSET_KEY_VAR"), context, TestContext.Current.CancellationToken));

        Assert.Contains("retires", typo.Message, StringComparison.Ordinal);
        Assert.Contains("Fix:", missing.Message, StringComparison.Ordinal);
        Assert.Contains("SPARK_TEST_UNSET_KEY_VAR", missing.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Factory_ValidSpec_ServesAnAttemptAndPreconnects()
    {
        var factory = new OpenAIBackendFactory();
        var log = new List<string>();
        var context = new BackendContext(TimeProvider.System, ".", log.Add);
        await using var handle = await factory.CreateAsync(
            BackendSpec.Parse($"openai?name=remote&url={fixture.Server.BaseAddress}&model=m&api=responses&preconnect=1&retries=1"), context, TestContext.Current.CancellationToken);

        var (recorder, error, _) = await SimServerFixture.AttemptAsync(handle.Client);

        Assert.Null(error);
        Assert.False(handle.Info.Simulated);
        Assert.Equal("remote", handle.Info.Name);
        Assert.Contains(log, l => l.Contains("pre-connected", StringComparison.Ordinal));
        var stats = Assert.IsType<ConnectionStats>(handle.Client.GetService(typeof(ConnectionStats)));
        Assert.Single(stats.ConnectMilliseconds);
        Assert.NotEmpty(recorder.Answer);
    }
}
