using Microsoft.Extensions.AI;
using Microsoft.Extensions.Time.Testing;
using Spark.Eval.Core.Backends;
using Spark.Eval.Core.Tasks;
using Spark.Eval.Core.Timing;
using Spark.Eval.Core.Tokens;
using Spark.Eval.Simulator.Backend;
using Spark.Eval.Simulator.Latency;

namespace Spark.Eval.Simulator.Tests;

public class HwSimChatClientTests
{
    private static readonly BenchTask Task1 = new()
    {
        Id = "py-stub-add",
        Kind = TaskKind.Stub,
        Language = "python",
        Prompt = "Write add(a, b).",
        HiddenChecks = "assert add(1, 2) == 3",
        ReferenceSolution = "def add(a, b):\n    return a + b\n",
        Mutants = ["def add(a, b):\n    return a - b\n", "def add(a, b):\n    return a * b\n"],
        Difficulty = 3,
    };

    private static ChatOptions Options(AttemptRecorder recorder, int seed) => new()
    {
        // A token limit keeps the padded answer (≈ 360 tokens, SimulatedAnswerLength) short enough to step through in fake time.
        MaxOutputTokens = 48,
        AdditionalProperties = new() { [AttemptRecorder.OptionsKey] = recorder, [AttemptContext.TaskKey] = Task1, [AttemptContext.SeedKey] = seed },
    };

    private static async Task<(AttemptRecorder Recorder, int Updates)> StreamAsync(HwSimChatClient inner, FakeTimeProvider time, int seed)
    {
        var client = new ChatClientBuilder(inner).UseTiming().Build();
        var recorder = new AttemptRecorder(time);
        var updates = 0;
        var stream = Task.Run(async () =>
        {
            await foreach (var _ in client.GetStreamingResponseAsync([new ChatMessage(ChatRole.User, Task1.Prompt)], Options(recorder, seed), TestContext.Current.CancellationToken))
            {
                updates++;
            }
        }, TestContext.Current.CancellationToken);

        // Advance fake time in 0.1 ms steps until the stream ends: every token lands on its schedule.
        while (!stream.IsCompleted)
        {
            time.Advance(TimeSpan.FromTicks(1000));
            await Task.Delay(1, TestContext.Current.CancellationToken);
        }

        await stream;
        return (recorder, updates);
    }

    private static HwSimChatClient Client(FakeTimeProvider time, double capability = 0.5) =>
        new(time, TokenCounter.Default, new LatencyModel(TestProfiles.Gpu(requestMs: 4), TestProfiles.Dense(capability), TestProfiles.Bf16, 1));

    [Fact]
    public async Task Stream_ThroughUseTiming_FirstTokenAtModelledTtft()
    {
        var time = new FakeTimeProvider();
        var inner = Client(time);
        var (recorder, updates) = await StreamAsync(inner, time, seed: 11);

        var input = TokenCounter.Default.Count(Task1.Prompt);
        var ttftUs = inner.TimeToFirstTokenSeconds(input) * 1e6;
        var events = recorder.Events();
        var first = events.First(e => e.Kind == StreamEventKind.Content);
        // Fake time is advanced from another thread while the stream's continuations wait for a pool thread, so a stamp
        // can trail its due time by a few fake steps on a busy machine; it can never come early.
        Assert.InRange(first.OffsetMicroseconds, ttftUs - 1, ttftUs + 5000);
        Assert.True(updates >= 3);
        Assert.Contains(new[] { Task1.ReferenceSolution }.Concat(Task1.Mutants), s => recorder.Answer.StartsWith(SimulatedAnswerLength.Render(Task1, s), StringComparison.Ordinal));

        // Later tokens follow decode steps of ≈ 2 ms each (2 GB of weights at 1 TB/s).
        var last = events.Last(e => e.Kind == StreamEventKind.Content);
        var tokens = (int)recorder.Usage!.OutputTokenCount!.Value;
        Assert.Equal(48, tokens);
        var expectedSpan = (tokens - 1) * inner.Latency.DecodeStepSeconds(1, input) * 1e6;
        Assert.InRange(last.OffsetMicroseconds - first.OffsetMicroseconds, (expectedSpan * 0.95) - 5000, (expectedSpan * 1.05) + 5000);
        Assert.Equal(tokens, recorder.Usage!.OutputTokenCount);
    }

    [Fact]
    public async Task Stream_SameSeed_SameAnswer()
    {
        var answers = new List<string>();
        foreach (var seed in new[] { 5, 5 })
        {
            var time = new FakeTimeProvider();
            answers.Add((await StreamAsync(Client(time), time, seed)).Recorder.Answer);
        }

        Assert.Equal(answers[0], answers[1]);
    }

    [Theory]
    [InlineData(1.0, true)]
    [InlineData(0.0, false)]
    public void Choose_CapabilityExtremes_AlwaysReferenceOrAlwaysMutant(double capability, bool correct)
    {
        for (var seed = 0; seed < 50; seed++)
        {
            var answer = SimulatedQuality.Choose(Task1, capability, seed, "m");
            Assert.Equal(correct, answer.Correct);
            Assert.Equal(correct ? Task1.ReferenceSolution : Task1.Mutants[answer.MutantIndex!.Value], answer.Solution);
            Assert.Equal(SimulatedAnswerLength.Render(Task1, answer.Solution!), answer.Text);
        }
    }

    [Fact]
    public void Choose_ManySeeds_FrequencyMatchesProbability()
    {
        // capability 0.8, difficulty 3: p = 0.8^(1 + 0.5·2) = 0.64.
        Assert.Equal(0.64, SimulatedQuality.ProbabilityCorrect(0.8, 3), 12);
        var correct = Enumerable.Range(0, 4000).Count(seed => SimulatedQuality.Choose(Task1, 0.8, seed, "m").Correct);
        Assert.InRange(correct / 4000.0, 0.60, 0.68);
    }

    [Fact]
    public async Task Factory_Spec_BuildsSimulatedBackend()
    {
        var factory = new HwSimBackendFactory(TokenCounter.Default);
        var context = new BackendContext(new FakeTimeProvider(), ProfileCatalogTests.RepoRoot, _ => { });
        await using var handle = await factory.CreateAsync(BackendSpec.Parse("hwsim?hw=h100-sxm&model=llama-3.1-8b&precision=bf16&tp=1&name=h100-8b"), context, TestContext.Current.CancellationToken);
        Assert.True(handle.Info.Simulated);
        Assert.Equal("h100-8b", handle.Info.Name);
        Assert.StartsWith("SIMULATED", handle.Info.Description, StringComparison.Ordinal);

        var ex = await Assert.ThrowsAsync<Core.InputException>(() => factory.CreateAsync(BackendSpec.Parse("hwsim?hw=h100-sxm&model=llama-3.1-8b&tpp=2"), context, TestContext.Current.CancellationToken));
        Assert.Contains("unknown setting 'tpp'", ex.Message, StringComparison.Ordinal);

        // replicas=N: N servers of the replica's devices each (the sessions' cost charges the busy ones); 0 is refused naming the setting.
        await using var fleet = await factory.CreateAsync(BackendSpec.Parse("hwsim?hw=h100-sxm&model=llama-3.1-8b&tp=2&replicas=3"), context, TestContext.Current.CancellationToken);
        Assert.Equal((2, 3), (fleet.Info.Price!.Devices, fleet.Info.Price.Replicas));
        Assert.Equal(3, Assert.IsType<HwSimChatClient>(fleet.Client).Replicas);
        Assert.Contains("× 3 replicas", fleet.Info.Description, StringComparison.Ordinal);
        ex = await Assert.ThrowsAsync<Core.InputException>(() => factory.CreateAsync(BackendSpec.Parse("hwsim?hw=h100-sxm&model=llama-3.1-8b&replicas=0"), context, TestContext.Current.CancellationToken));
        Assert.Contains("replicas", ex.Message, StringComparison.Ordinal);
    }
}
