using System.Collections.Concurrent;
using Microsoft.Extensions.AI;
using Spark.Eval.Core.Backends;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Running;
using Spark.Eval.Core.Sessions;
using Spark.Eval.Core.Tasks;
using Spark.Eval.Core.Timing;
using Spark.Eval.Core.Tokens;

namespace Spark.Eval.Core.Tests.Sessions;

/// <summary>
/// The session loop on the built-in constant-rate simulator in virtual time: repair turns carry the failure in the same
/// conversation, a policy escalates on a failed grade, every interaction has its own slot, and a resume from any prefix of
/// the attempt log finishes each session exactly once with the interactions an uninterrupted run has.
/// </summary>
public class SessionRunnerTests
{
    private const string Failure = "AssertionError: add(2, 2) == 4, got 5";

    private static readonly BenchTask[] Tasks = [.. Enumerable.Range(0, 3).Select(i => new BenchTask
    {
        Id = $"task-{i}",
        Kind = i == 1 ? TaskKind.Fix : TaskKind.Stub,
        Language = "python",
        Prompt = $"Write add{i}(a, b).",
        HiddenChecks = "assert True",
        ReferenceSolution = $"def add{i}(a, b):\n    return a + b\n",
    })];

    /// <summary>Sees what each request carried (a spy beside the real simulator, not a fake of it).</summary>
    private sealed class Spy(IChatClient inner, ConcurrentQueue<(string Backend, IReadOnlyList<ChatMessage> Messages)> seen, string name) : DelegatingChatClient(inner)
    {
        public override IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
        {
            seen.Enqueue((name, [.. messages]));
            return base.GetStreamingResponseAsync(messages, options, cancellationToken);
        }
    }

    /// <summary>Grades every answer as failed with the same evidence (the simulator always sends the reference, so only a grader can make turns fail).</summary>
    private sealed class FailingGrader : IAttemptGrader
    {
        public int Calls;
        public string Isolation => "test";
        public JudgeInfo? Judge => null;
        public bool CanGrade(AttemptRecord attempt) => true;

        public Task<AttemptGrade> GradeAsync(AttemptRecord attempt, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref Calls);
            return Task.FromResult(new AttemptGrade { Outcome = "wrong_answer", Detail = Failure, Isolation = "test" });
        }
    }

    private sealed class FastThenDeep : IRoutingPolicy
    {
        public string Name => "fast-then-deep";
        public IReadOnlyList<string> Backends => ["fast", "deep"];
        public (string Backend, string Reason) Choose(RouteRequest request) => ("fast", "start");
        public string? Escalate(RouteRequest request, string current, EscalationCause cause) => current == "fast" ? "deep" : null;
        public TimeSpan? FirstTokenTimeout(string backend) => null;
    }

    /// <summary>Starts on fast with a 50 ms first-token timeout (fast's TTFT is 100 ms), escalating to deep.</summary>
    private sealed class FastWithTimeout : IRoutingPolicy
    {
        public string Name => "fast-50ms";
        public IReadOnlyList<string> Backends => ["fast", "deep"];
        public (string Backend, string Reason) Choose(RouteRequest request) => ("fast", "start");
        public string? Escalate(RouteRequest request, string current, EscalationCause cause) => current == "fast" ? "deep" : null;
        public TimeSpan? FirstTokenTimeout(string backend) => backend == "fast" ? TimeSpan.FromMilliseconds(50) : null;
    }

    private sealed record Outcome(List<AttemptRecord> Records, ConcurrentQueue<(string Backend, IReadOnlyList<ChatMessage> Messages)> Seen, RunResult Result);

    private static Outcome Run(List<AttemptRecord> previous, IRoutingPolicy? policy, IAttemptGrader? grader, int repairTurns = 2)
    {
        var clock = new VirtualTimeProvider(DateTimeOffset.UnixEpoch);
        var seen = new ConcurrentQueue<(string, IReadOnlyList<ChatMessage>)>();
        RunBackend Backend(string name, double ttftMs) => new(new BackendInfo(name, $"sim?name={name}", "sim", "test", Simulated: true),
            new ChatClientBuilder(new Spy(new ConstantRateSimChatClient(clock, TokenCounter.Default, ttftMs, 200, name), seen, name)).UseTiming().Build());
        var plan = new RunPlanSpec
        {
            SuitePath = "test",
            BackendSpecs = ["sim?name=fast", "sim?name=deep"],
            Seed = 5,
            Load = BackendLoad.Interleaved,
            Sessions = new SessionPlanSpec { Count = 3, LengthSeconds = 900, RepairTurns = repairTurns },
        };
        var records = new List<AttemptRecord>();
        var path = Path.Combine(Directory.CreateTempSubdirectory("spark-sessions").FullName, AttemptLog.FileName);
        using var log = new AttemptLog(path, collectInto: records);
        var runner = new SessionRunner(clock, TokenCounter.Default);
        var result = VirtualTimeLoop.Run(clock, () => runner.RunAsync(plan, new SessionSetup(ThinkTimeModel.Defaults, policy, clock), Tasks,
            [Backend("fast", 100), Backend("deep", 400)], grader, log, previous, previous.Count, 0, null, CancellationToken.None));
        return new Outcome(records, seen, result);
    }

    [Fact]
    public void Run_EveryAnswerFails_RepairTurnsCarryTheFailureInTheSameConversation()
    {
        var grader = new FailingGrader();
        var run = Run([], null, grader);

        Assert.Equal("completed", run.Result.Status);
        Assert.Equal(run.Records.Count, run.Records.Select(r => r.Slot).Distinct().Count());
        var tasks = run.Records.GroupBy(r => (r.Slot.Backend, r.Session!.Session, r.Session.TaskInSession)).ToList();
        Assert.True(tasks.Count >= 6, $"{tasks.Count} tasks");
        // R = 2: every task has its first ask and two repair turns, on its own backend, none green.
        Assert.All(tasks, t => Assert.Equal([0, 1, 2], t.Select(r => r.Session!.Turn).Order()));
        Assert.All(run.Records, r => Assert.False(r.Grade!.IsPassed));
        Assert.All(run.Records, r => Assert.Null(r.Session!.Policy));
        // The request of turn r holds the task's prompt, then r × (the previous answer, the failure sent back).
        foreach (var (_, messages) in run.Seen)
        {
            var turn = (messages.Count - 2) / 2;
            Assert.Equal(2 + (2 * turn), messages.Count);
            for (var r = 1; r <= turn; r++)
            {
                Assert.Equal(ChatRole.Assistant, messages[2 * r].Role);
                Assert.StartsWith("def add", messages[2 * r].Text, StringComparison.Ordinal);
                Assert.Equal(ChatRole.User, messages[(2 * r) + 1].Role);
                Assert.Contains("wrong_answer: " + Failure, messages[(2 * r) + 1].Text, StringComparison.Ordinal);
            }
        }

        Assert.Contains(run.Seen, s => s.Messages.Count == 6);
        // Identical answers to a task are graded once per run.
        Assert.True(grader.Calls <= Tasks.Length, $"{grader.Calls} grader calls");
    }

    [Fact]
    public void Run_ThinkTimeAndSessionLength_EachTurnStartsAfterItsThinkAndNoTaskStartsAfterTheEnd()
    {
        var run = Run([], null, new FailingGrader(), repairTurns: 0);
        foreach (var session in run.Records.GroupBy(r => (r.Slot.Backend, r.Session!.Session)))
        {
            var turns = session.OrderBy(r => r.Session!.TaskInSession).ToList();
            Assert.Equal(Enumerable.Range(0, turns.Count), turns.Select(r => r.Session!.TaskInSession));
            var sessionStart = turns[0].StartUs - turns[0].Session!.ThinkBeforeUs;
            long used = 0;
            foreach (var r in turns)
            {
                Assert.True(r.Session!.ThinkBeforeUs > 0);
                used += r.Session.ThinkBeforeUs;
                Assert.True(used <= 900_000_000, "a task started after the session's end");
                // Virtual time: the request goes out exactly when the think time ends (µs rounding aside: 1 µs per turn at most).
                var n = turns.IndexOf(r) + 1;
                Assert.InRange(r.StartUs, sessionStart + used - n, sessionStart + used + n);
                Assert.Equal(0, r.ScheduleLagUs);
                used += SessionRunner.DurationUs(r) + (r.Session.GradingUs ?? 0);
            }

            // The same developer works through the same tasks, in the same order, against every backend.
            Assert.Equal(SessionRunner.TaskOrder(5, session.Key.Session, Tasks.Length).Take(Math.Min(turns.Count, Tasks.Length)).Select(i => Tasks[i].Id),
                turns.Take(Tasks.Length).Select(r => r.Slot.TaskId));
        }
    }

    [Fact]
    public void Run_PolicyEscalatesOnFailedGrade_RepairTurnsServedByTheDeepBackendWithTheReason()
    {
        var run = Run([], new FastThenDeep(), new FailingGrader());
        var policy = run.Records.Where(r => r.Session!.Policy == "fast-then-deep").ToList();
        Assert.NotEmpty(policy);
        Assert.All(policy, r => Assert.StartsWith("policy:fast-then-deep/", r.Slot.Session, StringComparison.Ordinal));
        Assert.All(policy.Where(r => r.Session!.Turn == 0), r => Assert.Equal(("fast", "start"), (r.Slot.Backend, r.Session!.RouteReason)));
        Assert.All(policy.Where(r => r.Session!.Turn > 0), r => Assert.Equal(("deep", "escalate:failed_grade"), (r.Slot.Backend, r.Session!.RouteReason)));
        // Each backend alone ran its own sessions beside the policy's.
        Assert.Equal(["deep", "fast", "policy:fast-then-deep"], run.Records.Select(SessionRunner.GroupOf).Distinct().Order(StringComparer.Ordinal));
        var summary = SessionSummary.Compute(run.Records);
        Assert.Equal(3, summary.Count);
        Assert.All(summary, g => Assert.Equal([0.0, 0.0, 0.0], g.PassAtTurn));
    }

    [Fact]
    public void Run_FirstTokenTimeout_SameQuestionAgainOnTheEscalationBackendNotARepairTurn()
    {
        var run = Run([], new FastWithTimeout(), new FailingGrader());
        var policy = run.Records.Where(r => r.Session!.Policy == "fast-50ms").ToList();
        Assert.NotEmpty(policy);
        foreach (var task in policy.GroupBy(r => (r.Session!.Session, r.Session.TaskInSession)))
        {
            var turns = task.OrderBy(r => r.Session!.Turn).ToList();
            // Turn 0 on fast ends at 50 ms without a first token; turn 1 asks the same on deep; turns 2 and 3 are the R = 2 repairs.
            Assert.Equal([0, 1, 2, 3], turns.Select(r => r.Session!.Turn));
            Assert.Equal((AttemptStatus.Timeout, "ttft_timeout", "fast", "start"), (turns[0].Outcome.Status, turns[0].Outcome.ErrorClass, turns[0].Slot.Backend, turns[0].Session!.RouteReason));
            Assert.InRange(SessionRunner.DurationUs(turns[0]), 49_000, 51_000);
            Assert.All(turns.Skip(1), r => Assert.Equal(("deep", "escalate:ttft_timeout"), (r.Slot.Backend, r.Session!.RouteReason)));
            Assert.Equal(turns[0].Tokens.InputTokenizer, turns[1].Tokens.InputTokenizer);
        }

        Assert.Contains(run.Seen, s => s.Backend == "deep" && s.Messages.Count == 2);
    }

    [Theory]
    [InlineData(0.2)]
    [InlineData(0.5)]
    [InlineData(0.9)]
    public void Resume_FromAPrefixOfTheLog_FinishesEachSessionExactlyOnceWithTheSameInteractions(double cut)
    {
        var full = Run([], new FastThenDeep(), new FailingGrader());
        var kept = full.Records.Take((int)(full.Records.Count * cut)).ToList();

        var resumed = Run(kept, new FastThenDeep(), new FailingGrader());

        var keys = kept.Concat(resumed.Records).Select(r => r.Slot).ToList();
        Assert.Equal(keys.Count, keys.Distinct().Count());
        Assert.Equal(full.Records.Select(r => r.Slot.ToString()).Order(StringComparer.Ordinal), keys.Select(k => k.ToString()).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Run_NoGrader_OneTurnPerTask()
    {
        var run = Run([], null, null);
        Assert.All(run.Records, r => Assert.Equal(0, r.Session!.Turn));
        Assert.All(run.Records, r => Assert.Null(r.Grade));
    }
}
