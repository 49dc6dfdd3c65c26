using Spark.Eval.Core.Backends;
using Spark.Eval.Core.Metrics;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Sessions;
using Spark.Eval.Core.Tasks;
using Spark.Eval.Core.Timing;
using Spark.Eval.Core.Tokens;
using Spark.Eval.Simulator.Backend;
using Spark.Eval.Simulator.Latency;
using Spark.Eval.Simulator.Profiles;

namespace Spark.Eval.Reporting.Tests;

/// <summary>
/// A small fake session loop (issue #18's "Done when", until the runner's sessions land): developers work through tasks of a
/// suite with think time, repair turns and a routing policy, against hwsim profiles. Answers come from the simulator's quality
/// model (<see cref="SimulatedQuality"/>, <see cref="SimulatedAnswerLength"/>) and timings from its latency model, unloaded
/// (one developer per device); think time is log-normal (median 60 s before a task, 30 s before a repair; σ 0.9 — the
/// pilot demo's range, docs/pilot.md) and grading takes 1.5 s. Every record is marked simulated. Seeded: the same seed
/// gives the same records.
/// </summary>
internal static class SimulatedSessions
{
    public const double GradingSeconds = 1.5;

    /// <summary>One simulated backend: its latency model and the client that knows its RTT.</summary>
    public sealed record Backend(string Name, HwSimChatClient Client);

    public static Backend Hwsim(string name, string hardware, string model)
    {
        var catalog = ProfileCatalog.Load(Path.Combine(RepoRoot, "hw-profiles"), RepoRoot);
        var m = catalog.GetModel(model, "model");
        var latency = new LatencyModel(catalog.GetHardware(hardware, "hw"), m, Precision.Find(m.DefaultPrecision)!, 1);
        return new Backend(name, new HwSimChatClient(TimeProvider.System, TokenCounter.Default, latency));
    }

    public static string RepoRoot => Path.GetDirectoryName(Path.GetDirectoryName(ExampleRun.Source))!;

    /// <summary>Plays <paramref name="sessions"/> developers × <paramref name="tasksPerSession"/> tasks on one backend alone, or under a policy.</summary>
    public static List<AttemptRecord> Play(IReadOnlyList<BenchTask> tasks, IReadOnlyDictionary<string, Backend> backends, string? alone, IRoutingPolicy? policy,
        int sessions, int tasksPerSession, int repairTurns, int seed)
    {
        var records = new List<AttemptRecord>();
        var tokens = TokenCounter.Default;
        for (var s = 0; s < sessions; s++)
        {
            var random = new Random((seed * 7919) + s);
            var clockUs = 0L;
            for (var i = 0; i < tasksPerSession; i++)
            {
                var task = tasks[((s * tasksPerSession) + (i * 7)) % tasks.Count];
                var promptTokens = PromptBuilder.Build(task).Sum(m => tokens.Count(m.Text));
                var request = new RouteRequest(task, promptTokens);
                var (backend, reason) = policy?.Choose(request) ?? (alone!, RouteReasons.Start);
                var input = promptTokens;
                for (var turn = 0; turn <= repairTurns; turn++)
                {
                    var think = LogNormalSeconds(random, turn == 0 ? 60 : 30, 0.9);
                    var client = backends[backend].Client;
                    var model = client.Latency.Model;
                    var answer = SimulatedQuality.Choose(task, model.Capability, AttemptContext.AnswerSeedFor(seed, task.Id, (s * 1000) + i), model.Id, turn);
                    var head = tokens.Count(answer.Text);
                    var output = Math.Min(task.TokenBudget, Math.Max(head, Math.Min(answer.TargetTokens, head + answer.MaxPaddingTokens)));
                    var ttftS = client.TimeToFirstTokenSeconds(input);
                    var e2eS = ttftS + ((output - 1) * client.Latency.DecodeStepSeconds(1, input + (output / 2.0)));
                    clockUs += (long)(think * 1e6);
                    records.Add(new AttemptRecord
                    {
                        Sequence = records.Count,
                        Slot = new SlotKey(task.Id, backend, s),
                        TaskKind = task.Kind.ToString(),
                        Language = task.Language,
                        StartUs = clockUs,
                        Events = [new(0, StreamEventKind.RequestStart), new((long)(ttftS * 1e6), StreamEventKind.Content, 8), new((long)(e2eS * 1e6), StreamEventKind.End)],
                        Outcome = AttemptOutcome.Ok,
                        Answer = answer.Label,
                        Tokens = new TokenCounts { OutputUsage = output, InputUsage = input, OutputTokenizer = output, InputTokenizer = input, Tokenizer = tokens.Name },
                        Simulated = true,
                        Grade = new AttemptGrade { Outcome = answer.Correct ? AttemptGrade.PassedOutcome : "wrong_answer", Passed = answer.Correct, Isolation = "simulated (fake loop)" },
                        Session = new SessionTurn
                        {
                            Session = s, TaskInSession = i, Turn = turn, ThinkBeforeUs = (long)(think * 1e6), GradingUs = (long)(GradingSeconds * 1e6),
                            Policy = policy?.Name, RouteReason = policy is null ? null : reason,
                        },
                    });
                    clockUs += (long)((e2eS + GradingSeconds) * 1e6);
                    if (answer.Correct)
                    {
                        break;
                    }

                    // The repair turn carries the conversation so far and the failure (≈ 120 tokens of test output).
                    input += output + 120;
                    if (policy?.Escalate(request, backend, EscalationCause.FailedGrade) is { } next)
                    {
                        (backend, reason) = (next, RouteReasons.FailedGrade);
                    }
                }
            }
        }

        return records;
    }

    /// <summary>The run's manifest for a report of these records.</summary>
    public static RunManifest Manifest(string runId, IEnumerable<Backend> backends, int seed) => new()
    {
        RunId = runId,
        HarnessVersion = "test",
        Plan = new RunPlanSpec { SuitePath = "datasets/spark-bounded", BackendSpecs = [.. backends.Select(b => b.Name)], Repeats = 1, Seed = seed },
        Suite = new SuiteInfo("spark-bounded", "datasets/spark-bounded", "sha", 60),
        Backends = [.. backends.Select(b => new BackendInfo(b.Name, "hwsim?name=" + b.Name, "hwsim", "SIMULATED " + b.Client.ModelId, Simulated: true, b.Client.ModelId))],
        Environment = new EnvironmentInfo("linux", "cpu", 2, "10.0", null, "host"),
        StartedUtc = DateTimeOffset.UnixEpoch,
        Status = "completed",
    };

    private static double LogNormalSeconds(Random random, double median, double sigma)
    {
        var gaussian = Math.Sqrt(-2.0 * Math.Log(1.0 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
        return median * Math.Exp(sigma * gaussian);
    }

    /// <summary>The summary a report needs beside the records.</summary>
    public static RunSummary Summary(string runId, IReadOnlyList<AttemptRecord> records) => SummaryCalculator.Compute(runId, records, new SloSpec());
}
