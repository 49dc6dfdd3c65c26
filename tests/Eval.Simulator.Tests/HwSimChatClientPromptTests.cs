using Microsoft.Extensions.AI;
using Microsoft.Extensions.Time.Testing;
using Spark.Eval.Core.Backends;
using Spark.Eval.Core.Tokens;
using Spark.Eval.Simulator.Backend;
using Spark.Eval.Simulator.Latency;

namespace Spark.Eval.Simulator.Tests;

/// <summary>The hwsim backend on prompts that are not bench tasks (requests over HTTP), and its pacing, in virtual time.</summary>
public class HwSimChatClientPromptTests
{
    private const string Prompt = "Explain what a B-tree is in two sentences.";

    private static readonly ChatMessage[] Messages = [new(ChatRole.User, Prompt)];

    // 4.37 ms of request overhead puts every due time off the millisecond grid.
    private static HwSimChatClient Client(TimeProvider time) =>
        new(time, TokenCounter.Default, new LatencyModel(TestProfiles.Gpu(requestMs: 4.37), TestProfiles.Dense(), TestProfiles.Bf16, 1));

    /// <summary>Enumerates the stream off the test's synchronisation context, advancing fake time 0.1 ms at a time until it ends.</summary>
    private static async Task<List<ChatResponseUpdate>> DrainAsync(HwSimChatClient client, FakeTimeProvider time, ChatOptions options)
    {
        var ct = TestContext.Current.CancellationToken;
        var updates = new List<ChatResponseUpdate>();
        var stream = Task.Run(async () =>
        {
            await foreach (var update in client.GetStreamingResponseAsync(Messages, options, ct))
            {
                updates.Add(update);
            }
        }, ct);
        while (!stream.IsCompleted)
        {
            time.Advance(TimeSpan.FromTicks(1000));
            await Task.Delay(1, ct);
        }

        await stream;
        return updates;
    }

    [Fact]
    public async Task Stream_PromptWithoutTask_SimulatedTextOfMaxTokensAndUsage()
    {
        var time = new FakeTimeProvider();
        var updates = await DrainAsync(Client(time), time, new ChatOptions { MaxOutputTokens = 10 });

        // The same text the constant-rate sim gives this prompt, cut at max_tokens.
        var echo = ConstantRateSimChatClient.PromptEcho(TokenCounter.Default, Messages, 10);
        var expected = string.Concat(TokenCounter.Default.Split(echo).Take(10));
        var text = string.Concat(updates.Select(u => u.Text));
        Assert.Equal(expected, text);
        Assert.StartsWith("Simulated answer ", text, StringComparison.Ordinal);

        var last = updates[^1];
        var usage = Assert.IsType<UsageContent>(Assert.Single(last.Contents)).Details;
        Assert.Equal(10, usage.OutputTokenCount);
        Assert.Equal(TokenCounter.Default.Count(Prompt), usage.InputTokenCount);
        Assert.Equal("prompt-answer", last.AdditionalProperties?["spark.simulated.answer"]);
    }

    [Fact]
    public async Task Stream_PromptWithoutMaxTokens_DefaultAnswerLength()
    {
        var time = new FakeTimeProvider();
        var updates = await DrainAsync(Client(time), time, new ChatOptions());

        var usage = Assert.IsType<UsageContent>(Assert.Single(updates[^1].Contents)).Details;
        Assert.Equal(HwSimChatClient.DefaultPromptAnswerTokens, usage.OutputTokenCount);
        Assert.Equal(64, HwSimChatClient.DefaultPromptAnswerTokens);
    }

    [Fact]
    public Task Stream_OffMillisecondSchedule_EachTokenAtItsDueTimeNeverBefore() => Task.Run(async () =>
    {
        // Off the test's synchronisation context, the stream resumes inline inside FakeTimeProvider.Advance, so the state
        // right after an Advance shows whether the token was released at that fake time.
        var ct = TestContext.Current.CancellationToken;
        var time = new FakeTimeProvider();
        var client = Client(time);
        const int tokens = 6;
        var input = client.CountInputTokens(Messages);
        var start = time.GetTimestamp();
        var due = client.TimeToFirstTokenSeconds(input);
        Assert.True(TimeSpan.FromSeconds(due).TotalMilliseconds % 1 > 0.1, "the TTFT must not be a whole number of ms, else truncation would not show");

        await using var stream = client.GetStreamingResponseAsync(Messages, new ChatOptions { MaxOutputTokens = tokens }, ct).GetAsyncEnumerator(ct);
        for (var k = 0; k < tokens; k++)
        {
            if (k > 0)
            {
                // One stream: each later token one decode step at batch 1 after the previous one.
                due += client.Latency.DecodeStepSeconds(1, input + k);
            }

            var move = stream.MoveNextAsync();
            AdvanceTo(time, start, TimeSpan.FromSeconds(due) - TimeSpan.FromMicroseconds(1));
            Assert.False(move.IsCompleted, $"token {k} came before its due time {due * 1000:F4} ms");
            AdvanceTo(time, start, TimeSpan.FromSeconds(due));
            Assert.True(move.IsCompleted, $"token {k} did not come at its due time {due * 1000:F4} ms");
            Assert.True(await move);
            Assert.False(string.IsNullOrEmpty(stream.Current.Text));
        }

        Assert.True(await stream.MoveNextAsync());
        Assert.IsType<UsageContent>(Assert.Single(stream.Current.Contents));
        Assert.False(await stream.MoveNextAsync());
    }, TestContext.Current.CancellationToken);

    private static void AdvanceTo(FakeTimeProvider time, long start, TimeSpan offset)
    {
        var step = offset - time.GetElapsedTime(start);
        if (step > TimeSpan.Zero)
        {
            time.Advance(step);
        }
    }
}
