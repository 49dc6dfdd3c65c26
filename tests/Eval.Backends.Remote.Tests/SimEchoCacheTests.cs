using Microsoft.Extensions.AI;
using Spark.Eval.Core.Backends;
using Spark.Eval.Core.Tokens;

namespace Spark.Eval.Backends.Remote.Tests;

/// <summary>
/// serve-sim's answers to task-less prompts come from a bounded cache (issue 16: tokenizing each request's prompt inline cost
/// ~1 ms of CPU and queued a burst's arrivals): the cache must give exactly the uncached answer and usage, per output cap.
/// </summary>
public sealed class SimEchoCacheTests
{
    private static readonly ChatMessage[] Prompt = [new(ChatRole.System, "You are a coding assistant."), new(ChatRole.User, "Write a function that adds two numbers 12345 and returns it.")];

    [Fact]
    public async Task TasklessPrompt_AskedAgainAndWithAnotherCap_SameAnswerAsUncachedAndCapsKeptApart()
    {
        var ct = TestContext.Current.CancellationToken;
        var sim = new ConstantRateSimChatClient(TimeProvider.System, TokenCounter.Default, 1, 100_000, "sim");

        var first = await Collect(sim, 40, ct);
        var again = await Collect(sim, 40, ct);
        var shorter = await Collect(sim, 8, ct);

        var expected = string.Concat(TokenCounter.Default.Split(ConstantRateSimChatClient.PromptEcho(TokenCounter.Default, Prompt, 40)).Take(40));
        Assert.Equal(expected, first.Text);
        Assert.Equal(first.Text, again.Text);
        Assert.Equal(first.Input, again.Input);
        Assert.Equal(Prompt.Sum(m => TokenCounter.Default.Count(m.Text)), first.Input);
        Assert.Equal(8, shorter.Output);
        Assert.StartsWith(shorter.Text, first.Text, StringComparison.Ordinal);
        Assert.True(shorter.Text.Length < first.Text.Length);
    }

    [Fact]
    public async Task TasklessPrompts_MoreDistinctThanTheCacheHolds_EachStillAnsweredFromItsOwnPrompt()
    {
        var ct = TestContext.Current.CancellationToken;
        var sim = new ConstantRateSimChatClient(TimeProvider.System, TokenCounter.Default, 1, 1_000_000, "sim");
        for (var i = 0; i < ConstantRateSimChatClient.EchoCacheEntries + 20; i++)
        {
            ChatMessage[] prompt = [new(ChatRole.User, $"prompt number {i}")];
            var answer = await Collect(sim, 4, ct, prompt);
            var expected = string.Concat(TokenCounter.Default.Split(ConstantRateSimChatClient.PromptEcho(TokenCounter.Default, prompt, 4)).Take(4));
            Assert.Equal(expected, answer.Text);
        }
    }

    [Fact]
    public async Task TasklessPrompt_ManyRequestsAtOnce_AnswerMadeOnceAndTheSameForAll()
    {
        // A burst's requests for one prompt all arrive before its answer is made: they wait for the one being made instead of
        // each making it (132 requests of 6 prompts made 132 answers, ~50 ms of serve-sim's CPU before the first tokens were due).
        var ct = TestContext.Current.CancellationToken;
        var sim = new ConstantRateSimChatClient(TimeProvider.System, TokenCounter.Default, 1, 1_000_000, "sim");
        // Long enough that making it takes a few ms: every request starts while the first is still making it.
        ChatMessage[] prompt = [new(ChatRole.User, string.Join(' ', Enumerable.Range(0, 4000).Select(i => $"word{i % 97}")))];
        using var go = new ManualResetEventSlim();
        var requests = Enumerable.Range(0, 32).Select(_ => Task.Run(async () =>
        {
            go.Wait(ct);
            return await Collect(sim, 2000, ct, prompt);
        }, ct)).ToList();
        go.Set();
        var answers = await Task.WhenAll(requests);

        Assert.Equal(1, sim.AnswersMade);
        Assert.All(answers, a => Assert.Equal(answers[0], a));
        Assert.Equal(2000, answers[0].Output);
    }

    private static async Task<(string Text, long? Input, long? Output)> Collect(ConstantRateSimChatClient sim, int cap, CancellationToken ct, ChatMessage[]? prompt = null)
    {
        var response = await sim.GetStreamingResponseAsync(prompt ?? Prompt, new ChatOptions { MaxOutputTokens = cap }, ct).ToChatResponseAsync(ct);
        return (response.Text, response.Usage?.InputTokenCount, response.Usage?.OutputTokenCount);
    }
}
