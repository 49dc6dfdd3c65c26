using System.Text.Json;
using Microsoft.Extensions.AI;
using Spark.Eval.Core.Backends;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Running;
using Spark.Eval.Core.Tasks;
using Spark.Eval.Core.Tokens;
using Spark.Eval.Simulator.Backend;
using Spark.Eval.Simulator.Latency;
using Spark.Eval.Simulator.Profiles;

namespace Spark.Eval.Simulator.Tests;

/// <summary>Honest simulated answers (issue #18 item 6): the same model answers alike on every device, at real answer lengths.</summary>
public sealed class SimulatedAnswerTests
{
    private static readonly BenchTask Stub = new()
    {
        Id = "py-stub-add",
        Kind = TaskKind.Stub,
        Language = "python",
        Prompt = "Write add(a, b).",
        HiddenChecks = "assert add(1, 2) == 3",
        ReferenceSolution = "def add(a, b):\n    return a + b\n",
        Mutants = ["def add(a, b):\n    return a - b\n", "def add(a, b):\n    return a * b\n"],
        Difficulty = 2,
    };

    private static HwSimChatClient Client(HardwareProfile hardware) =>
        new(TimeProvider.System, TokenCounter.Default, new LatencyModel(hardware, TestProfiles.Dense(0.6), TestProfiles.Bf16, 1));

    /// <summary>The options the runner builds for one slot (BenchmarkRunner.ExecuteAsync): the per-slot seed names the backend, the answer seed does not.</summary>
    private static ChatOptions RunnerOptions(BenchTask task, string backend, int repeat, int runSeed = 42) => new()
    {
        AdditionalProperties = new()
        {
            [AttemptContext.TaskKey] = task,
            [AttemptContext.SeedKey] = BenchmarkRunner.SlotSeed(runSeed, new SlotKey(task.Id, backend, repeat)),
            [AttemptContext.AnswerSeedKey] = AttemptContext.AnswerSeedFor(runSeed, task.Id, repeat),
        },
    };

    private static readonly ChatMessage[] Ask = [new(ChatRole.User, Stub.Prompt)];

    [Fact]
    public void Choose_SameModelOnTwoDevices_GivesTheSameAnswerForEveryRepeat()
    {
        // Before the answer seed, the draw used the per-slot seed, which hashes the backend's name: one model scored
        // differently on each device. 200 repeats at p = 0.6^1.5 ≈ 0.46 would differ somewhere with near certainty.
        var gpu = Client(TestProfiles.Gpu());
        var wafer = Client(TestProfiles.Sram());

        var onGpu = Enumerable.Range(0, 200).Select(r => gpu.Choose(Ask, RunnerOptions(Stub, "h100-8b", r))).ToList();
        var onWafer = Enumerable.Range(0, 200).Select(r => wafer.Choose(Ask, RunnerOptions(Stub, "wse-8b", r))).ToList();

        Assert.Equal(onGpu.Select(a => (a.Label, a.Text, a.TargetTokens)), onWafer.Select(a => (a.Label, a.Text, a.TargetTokens)));
        Assert.InRange(onGpu.Count(a => a.Correct), 60, 130); // both outcomes occur, so the equality above is not vacuous
    }

    [Fact]
    public void Choose_DifferentModels_DrawApart()
    {
        var same = Enumerable.Range(0, 200).Count(r =>
            SimulatedQuality.Choose(Stub, 0.6, AttemptContext.AnswerSeedFor(42, Stub.Id, r), "model-a").Label
            == SimulatedQuality.Choose(Stub, 0.6, AttemptContext.AnswerSeedFor(42, Stub.Id, r), "model-b").Label);

        Assert.InRange(same, 40, 160);
    }

    [Fact]
    public void Choose_RepairTurns_SucceedAtTheRepairFactorOfTheFirstTry()
    {
        // capability 0.8, difficulty 2: p = 0.8^1.5 = 0.7155; a repair turn 0.5 × that = 0.3578.
        var p = SimulatedQuality.ProbabilityCorrect(0.8, 2);
        Assert.Equal(p * 0.5, SimulatedQuality.ProbabilityCorrect(0.8, 2, turn: 1), 12);
        const int n = 6000;
        var first = Enumerable.Range(0, n).Count(s => SimulatedQuality.Choose(Stub, 0.8, s, "m", 0).Correct) / (double)n;
        var repair = Enumerable.Range(0, n).Count(s => SimulatedQuality.Choose(Stub, 0.8, s, "m", 1).Correct) / (double)n;

        Assert.InRange(first, p - 0.03, p + 0.03);
        Assert.InRange(repair, (p * 0.5) - 0.03, (p * 0.5) + 0.03);
    }

    [Fact]
    public void Choose_RepairTurnFromConversation_CountsLaterUserMessages()
    {
        ChatMessage[] conversation = [new(ChatRole.System, "s"), new(ChatRole.User, "task"), new(ChatRole.Assistant, "answer"), new(ChatRole.User, "the failure")];

        Assert.Equal(0, HwSimChatClient.RepairTurn(Ask));
        Assert.Equal(1, HwSimChatClient.RepairTurn(conversation));
    }

    [Fact]
    public async Task Stream_ManyRepeats_LengthsFollowTheChatAssistantTraceNotTheReference()
    {
        var client = Client(TestProfiles.Gpu(tflops: 1e6, gbps: 1e7));
        var reference = TokenCounter.Default.Count(Stub.ReferenceSolution);
        var lengths = new List<long>();
        for (var r = 0; r < 150; r++)
        {
            var options = RunnerOptions(Stub, "b", r);
            var updates = await client.GetStreamingResponseAsync(Ask, options, TestContext.Current.CancellationToken).ToListAsync(TestContext.Current.CancellationToken);
            var text = string.Concat(updates.Select(u => u.Text));
            Assert.StartsWith("Here is the code:\n\n```python\ndef add(a, b):", text, StringComparison.Ordinal);
            lengths.Add(updates.SelectMany(u => u.Contents).OfType<UsageContent>().Single().Details.OutputTokenCount!.Value);
        }

        lengths.Sort();
        var median = lengths[lengths.Count / 2];
        // The trace's median is 363 tokens; the reference alone is a dozen.
        Assert.True(reference < 20, $"reference {reference} tokens");
        Assert.InRange(median, 300, 430);
        Assert.True(lengths[0] >= reference, "an answer is never shorter than its code");
    }

    [Fact]
    public void Sample_Quantiles_InterpolateBetweenTheTracePoints()
    {
        var d = SimulatedAnswerLength.ChatAssistant;

        Assert.Equal(363, d.Sample(0.5));
        Assert.Equal(1, d.Sample(0));
        Assert.Equal(2000, d.Sample(1));
        Assert.Equal((int)Math.Round((363 + 410) / 2.0), d.Sample(0.55));
    }

    [Fact]
    public void Quantiles_MatchTheSharedTrace()
    {
        var path = Path.Combine(ProfileCatalogTests.RepoRoot, "..", "shared", "datasets", "traces", "mooncake_conversation_trace_head2000.jsonl");
        Assert.SkipUnless(File.Exists(path), $"the shared Mooncake trace is absent ({path}); the quantiles' source cannot be rechecked here");
        var lengths = File.ReadLines(path).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("output_length").GetDouble()).Order().ToList();

        foreach (var (p, tokens) in SimulatedAnswerLength.ChatAssistant.Quantiles)
        {
            var h = p * (lengths.Count - 1);
            var lo = (int)Math.Floor(h);
            var hi = (int)Math.Ceiling(h);
            Assert.Equal(lengths[lo] + ((h - lo) * (lengths[hi] - lengths[lo])), tokens, 0.1);
        }
    }

    [Fact]
    public void MaxPaddingTokens_Explain_KeepsTheRubricsWordLimitAndNeverTouchesItsPhrases()
    {
        var explain = Stub with
        {
            Kind = TaskKind.Explain,
            ReferenceSolution = "It adds two numbers and returns the sum.",
            Rubric = new ExplanationRubric { MaxWords = 40, RequiredConcepts = [new RubricConcept("sum", ["sum"])], WrongClaims = ["subtracts"] },
        };
        var touching = explain with { Rubric = explain.Rubric! with { WrongClaims = ["the surrounding code"] } };
        var completion = Stub with { Tags = ["compose:prefix"] };

        Assert.Equal(40 - 8 - 1, SimulatedAnswerLength.MaxPaddingTokens(explain, explain.ReferenceSolution));
        Assert.Equal(0, SimulatedAnswerLength.MaxPaddingTokens(touching, explain.ReferenceSolution));
        Assert.Equal(0, SimulatedAnswerLength.MaxPaddingTokens(completion, Stub.ReferenceSolution));
        Assert.Equal(explain.ReferenceSolution, SimulatedAnswerLength.Render(explain, explain.ReferenceSolution));
        Assert.Equal(Stub.ReferenceSolution, SimulatedAnswerLength.Render(completion, Stub.ReferenceSolution));

        // A padded explanation stays within the word limit.
        var filler = TokenCounter.Default.Split(SimulatedAnswerLength.Filler);
        var head = TokenCounter.Default.Split(explain.ReferenceSolution);
        var text = string.Concat(SimulatedAnswerLength.Pieces(head, filler, 2000, SimulatedAnswerLength.MaxPaddingTokens(explain, explain.ReferenceSolution)));
        Assert.InRange(text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Length, 20, 40);
    }
}
