using System.CommandLine;
using Spark.Eval.Core;
using Spark.Eval.Core.Backends;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Sessions;
using Spark.Eval.Pilot;
using Spark.Eval.Simulator.Server;

namespace Spark.Eval.Cli.Commands;

/// <summary>The session options of <c>spark-eval run</c> (issue #18; docs/formats.md, "Sessions") and how they become a <see cref="SessionPlanSpec"/> and a <see cref="SessionSetup"/>.</summary>
public static class SessionOptions
{
    private static readonly Option<int?> Sessions = new("--sessions") { Description = "Play N developer sessions per backend (and per --policy): think → ask → grade → repair → next task, each a closed loop (docs/formats.md, Sessions)." };
    private static readonly Option<string?> Length = new("--session-length") { Description = "How long each session works, e.g. 30m, 1h, 8h (default 1h); a task under way finishes its turns." };
    private static readonly Option<double?> ThinkScale = new("--think-scale") { Description = "Multiply think times by this, e.g. 0.01 to compress them 100 times for a load test (default 1)." };
    private static readonly Option<int?> RepairTurns = new("--repair-turns") { Description = $"After a failed grade, send the failure back in the same conversation up to R more times (default {SessionDefaults.RepairTurns})." };
    private static readonly Option<string?> ThinkTimes = new("--think-times") { Description = "Think-time distributions per task kind: a file written by 'pilot analyze --think-times' or by hand in that format (default: the documented defaults)." };
    private static readonly Option<string?> Policy = new("--policy") { Description = "Routing policy file (YAML, docs/formats.md): its sessions run beside each backend alone." };
    private static readonly Option<string?> Clock = new("--clock") { Description = "Session clock: auto (virtual when every backend is sim/hwsim, else real), virtual or real (default auto)." };

    /// <summary>
    /// SCHED_FIFO priority of the real-time sessions' wake-up thread: below serve-sim's emission threads (30) on a shared machine,
    /// above a client run under <c>chrt -f 20</c> (docs/benchmarks.md), whose other threads a same-priority FIFO thread cannot preempt.
    /// </summary>
    public const int WakePriority = 25;

    /// <summary>
    /// Wake-up threads of the real-time sessions: one per core (at most <see cref="MaxWakeLanes"/>). Each starts the requests of the
    /// sessions it wakes inline, one after the other, so sessions due together on one thread start a request's synchronous part
    /// apart; with a thread per core a slow start (or a thread preempted by serve-sim's emission threads) holds up only its own.
    /// </summary>
    public static int WakeLanes(int processorCount) => Math.Clamp(processorCount, 1, MaxWakeLanes);

    /// <summary>The most wake-up threads: each spins the last half millisecond before its sessions' due times at real-time priority.</summary>
    public const int MaxWakeLanes = 4;

    /// <summary>
    /// Requests the sessions of <paramref name="spec"/> can hold in flight on one backend (its own sessions, and the policy's
    /// when one is given), which a remote backend pre-connects in real time so that no session opens its connection in its
    /// first interaction; 0 in virtual time (simulated backends have no connections).
    /// </summary>
    public static int InFlight(SessionPlanSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return spec.Clock == SessionClock.Real ? spec.Count * (spec.Policy is null ? 1 : 2) : 0;
    }

    /// <summary>The options, for <see cref="RunOptions"/>: all of them are plan flags (refused with --resume).</summary>
    public static Option[] All { get; } = [Sessions, Length, ThinkScale, RepairTurns, ThinkTimes, Policy, Clock];

    /// <summary>The plan with its sessions when --sessions is given; other session flags without it are refused.</summary>
    public static RunPlanSpec Apply(ParseResult parse, RunPlanSpec plan)
    {
        ArgumentNullException.ThrowIfNull(parse);
        ArgumentNullException.ThrowIfNull(plan);
        if (parse.GetValue(Sessions) is not { } count)
        {
            var stray = All.Skip(1).FirstOrDefault(o => parse.GetResult(o) is { Implicit: false });
            return stray is null ? plan : throw new InputException($"{stray.Name} without --sessions. Fix: add --sessions N, or drop {stray.Name}");
        }

        var clock = parse.GetValue(Clock) ?? "auto";
        var simulated = plan.BackendSpecs.All(s => BackendSpec.Parse(s).Kind is "sim" or "hwsim");
        var resolved = clock switch
        {
            "auto" => simulated ? SessionClock.Virtual : SessionClock.Real,
            "real" => SessionClock.Real,
            "virtual" when simulated => SessionClock.Virtual,
            "virtual" => throw new InputException("--clock virtual: a real backend cannot run on a virtual clock (only sim and hwsim can). Fix: use --clock real or auto"),
            _ => throw new InputException($"--clock {clock}: unknown clock. Fix: use auto, virtual or real"),
        };
        var thinkTimes = parse.GetValue(ThinkTimes);
        var policy = parse.GetValue(Policy);
        var spec = new SessionPlanSpec
        {
            Count = count,
            LengthSeconds = parse.GetValue(Length) is { } length ? SessionDefaults.ParseLength(length) : SessionDefaults.LengthSeconds,
            ThinkScale = parse.GetValue(ThinkScale) ?? 1,
            RepairTurns = parse.GetValue(RepairTurns) ?? SessionDefaults.RepairTurns,
            Clock = resolved,
            ThinkTimes = thinkTimes ?? SessionDefaults.ThinkTimesSource,
            ThinkTimesSha256 = thinkTimes is null ? null : Hash(thinkTimes, "--think-times"),
            Policy = policy,
            PolicySha256 = policy is null ? null : Hash(policy, "--policy"),
        };
        spec.Validate();
        if (plan.Rate is not null || plan.Trace is not null)
        {
            throw new InputException("--sessions with --rate/--trace: sessions are closed loops with think time. Fix: drop --rate/--trace, or drop --sessions");
        }

        // Warm-ups and repeats belong to plain runs: each session works through its own tasks.
        return plan with { Sessions = spec, Warmup = 0, Repeats = 1 };
    }

    /// <summary>Think times, the policy and the virtual clock of a session run (new or resumed; a resumed run refuses changed files).</summary>
    public static SessionSetup Setup(SessionPlanSpec spec, IReadOnlyCollection<string> backendNames)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var think = ThinkTimeModel.Defaults;
        if (spec.ThinkTimesSha256 is { } thinkSha)
        {
            Same(spec.ThinkTimes, thinkSha, "--think-times");
            var export = PilotService.ReadThinkTimes(spec.ThinkTimes);
            think = ThinkTimeModel.Checked(spec.ThinkTimes, [.. export.Kinds.Select(k => new Core.Sessions.ThinkTimeDistribution
            {
                Kind = k.Kind,
                Quantiles = [.. (k.Quantiles ?? []).Select(q => (q.P, q.Seconds))],
                LogNormal = k.LogNormal is { } ln ? (ln.Mu, ln.Sigma) : null,
            })]);
        }

        IRoutingPolicy? policy = null;
        if (spec.Policy is { } policyPath)
        {
            Same(policyPath, spec.PolicySha256!, "--policy");
            policy = RoutingPolicyFile.Load(policyPath, backendNames);
        }

        var clock = spec.Clock == SessionClock.Virtual ? new VirtualTimeProvider(DateTimeOffset.UnixEpoch) : null;
        // Real time: the sessions wake on serve-sim's emission clock (dedicated timer threads, sleep then spin, SCHED_FIFO where
        // permitted), not on the thread pool's timers: that keeps the schedule lag within the 1 ms goal (docs/benchmarks.md).
        var wake = clock is null ? new EmissionClock(new EmissionClockOptions { Threads = WakeLanes(Environment.ProcessorCount), RealTimePriority = WakePriority }) : null;
        return new SessionSetup(think, policy, clock, wake);
    }

    private static string Hash(string path, string flag)
    {
        if (!File.Exists(path))
        {
            throw new InputException($"{flag} {path}: no such file. Fix: give the path of an existing file");
        }

        return Core.Traces.TraceReader.Sha256(path);
    }

    private static void Same(string path, string sha256, string flag)
    {
        if (Hash(path, flag) != sha256)
        {
            throw new InputException($"{flag} {path}: the file changed since the run started. Fix: restore it, or start a new run");
        }
    }
}
