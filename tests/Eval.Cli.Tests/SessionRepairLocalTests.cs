using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.Extensions.AI;
using Spark.Eval.Core.Backends;
using Spark.Eval.Core.Results;
using Spark.Eval.Simulator.Server;

namespace Spark.Eval.Cli.Tests;

/// <summary>
/// Repair turns against a real backend: the generated random-weight llama.cpp model served over HTTP as <c>serve-local</c> does
/// (serve-sim's Kestrel on loopback hosting the local runtime), reached by the <c>openai</c> backend, graded by the real sandbox.
/// Its answers are noise, so every grade fails and each task takes all of its R repair turns.
/// </summary>
public class SessionRepairLocalTests
{
    /// <summary>Records what reached the server, beside the real llama.cpp runtime (a spy, not a fake).</summary>
    private sealed class ServerSideSpy(IChatClient inner, ConcurrentQueue<IReadOnlyList<ChatMessage>> seen) : DelegatingChatClient(inner)
    {
        public override IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
        {
            seen.Enqueue([.. messages]);
            return base.GetStreamingResponseAsync(messages, options, cancellationToken);
        }
    }

    [Fact]
    public async Task Sessions_ServeLocalOverOpenAI_RTurnsEachCarryingTheFailureAllRecorded()
    {
        var ct = TestContext.Current.CancellationToken;
        var work = CliHarness.TempDir();
        await using var local = await Backends.CreateRegistry().CreateAsync("local?name=local-tiny-random&model=models/tiny.gguf&threads=1&ctx=4096",
            new BackendContext(TimeProvider.System, CliHarness.RepoRoot, _ => { }), ct);
        var seen = new ConcurrentQueue<IReadOnlyList<ChatMessage>>();
        await using var server = await SimServer.StartAsync(new ServerSideSpy(local.Client, seen),
            new SimServerOptions { Port = 0, ModelId = "local-tiny-random", Simulated = false }, TimeProvider.System, ct);

        // One Python task of the bounded suite, so the sandbox grades quickly; one developer, one task (the session ends after it).
        var suite = Path.Combine(work, "one.jsonl");
        File.WriteAllLines(suite, File.ReadLines(Path.Combine(CliHarness.RepoRoot, "datasets", "spark-bounded", "tasks.jsonl"))
            .Where(l => l.Contains("\"language\":\"python\"", StringComparison.Ordinal) && l.Contains("\"kind\":\"stub\"", StringComparison.Ordinal)).Take(1));
        var dir = Path.Combine(work, "run");
        var backend = $"openai?name=local&url={Uri.EscapeDataString(server.BaseAddress.ToString().TrimEnd('/'))}&model=local-tiny-random&retries=0";
        var (exit, _, stderr) = await CliHarness.RunAsync("run", "--suite", suite, "--backend", backend, "--sessions", "1", "--session-length", "1s",
            "--repair-turns", "2", "--think-scale", "0", "--max-tokens", "48", "--out", dir);

        Assert.True(exit == 0, stderr);
        var (records, _) = AttemptLog.Read(Path.Combine(dir, "attempts.jsonl"));
        var first = records.Where(r => r.Session!.TaskInSession == 0).OrderBy(r => r.Session!.Turn).ToList();
        // R = 2: the first ask and two repair turns, each recorded with its grade and its grading time, all failed.
        Assert.Equal([0, 1, 2], first.Select(r => r.Session!.Turn));
        Assert.All(first, r => Assert.Equal(AttemptStatus.Ok, r.Outcome.Status));
        Assert.All(first, r => Assert.False(r.Grade!.IsPassed));
        Assert.All(first, r => Assert.True(r.Session!.GradingUs > 0));
        Assert.All(first, r => Assert.False(r.Simulated));
        // The server received each turn's whole conversation: turn r carries r answers and r failures, each failure the grade of the turn before.
        var requests = seen.ToList();
        Assert.True(requests.Count >= 3, $"{requests.Count} requests");
        for (var turn = 0; turn < 3; turn++)
        {
            var messages = requests[turn];
            Assert.Equal(2 + (2 * turn), messages.Count);
            for (var r = 1; r <= turn; r++)
            {
                var failed = first[r - 1];
                Assert.Equal(ChatRole.Assistant, messages[2 * r].Role);
                Assert.Equal(failed.Answer.Trim(), messages[2 * r].Text.Trim());
                Assert.Equal(ChatRole.User, messages[(2 * r) + 1].Role);
                Assert.Contains(failed.Grade!.Outcome, messages[(2 * r) + 1].Text, StringComparison.Ordinal);
                Assert.Contains("Your answer failed the checks", messages[(2 * r) + 1].Text, StringComparison.Ordinal);
            }
        }

        // And the server counted the longer prompts: each repair turn's input is larger than the turn before.
        Assert.True(first[1].Tokens.InputTokenizer > first[0].Tokens.InputTokenizer);
        Assert.True(first[2].Tokens.InputTokenizer > first[1].Tokens.InputTokenizer);
        var manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "manifest.json"))).RootElement;
        Assert.Equal("real", manifest.GetProperty("plan").GetProperty("sessions").GetProperty("clock").GetString());
        Assert.Contains("local: 1 sessions", stderr, StringComparison.Ordinal);
    }
}
