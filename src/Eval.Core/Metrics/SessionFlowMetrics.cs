using Spark.Eval.Core.Results;

namespace Spark.Eval.Core.Metrics;

/// <summary>
/// When an interaction breaks a developer's flow (docs/metrics.md, "Sessions"): its first token came later than
/// <see cref="FirstTokenMs"/>, its whole answer later than <see cref="WholeAnswerMs"/>, or it failed.
/// </summary>
public sealed record FlowBreakRule(double FirstTokenMs = FlowThresholds.FlowMs, double WholeAnswerMs = FlowThresholds.AttentionMs)
{
    public static FlowBreakRule Default { get; } = new();

    /// <summary>True when an interaction with these figures breaks flow; a failed interaction (no TTFT or no wait) always does.</summary>
    public bool Breaks(double? ttftMs, double? waitMs, bool ok) =>
        !ok || ttftMs is not { } t || waitMs is not { } w || t > FirstTokenMs || w > WholeAnswerMs;
}

/// <summary>A figure with its 95 % interval, the number of units it rests on, and how the interval was computed.</summary>
public sealed record IntervalEstimate(double Value, double Low, double High, int N, string Method)
{
    /// <summary>A proportion with its Wilson 95 % interval.</summary>
    public static IntervalEstimate Proportion(int successes, int trials)
    {
        var (low, high) = ProportionInterval.Wilson95(successes, trials);
        return new IntervalEstimate(trials == 0 ? double.NaN : (double)successes / trials, low, high, trials, "wilson");
    }
}

/// <summary>What one session arm (one backend alone, or one routing policy) did over its sessions, from the attempt log alone.</summary>
public sealed record SessionArmSummary
{
    /// <summary>The policy's name for a routed arm, else the backend's name.</summary>
    public required string Arm { get; init; }
    /// <summary>True when the arm is a routing policy (its turns may be served by several backends).</summary>
    public bool IsPolicy { get; init; }
    public bool Simulated { get; init; }
    public int Sessions { get; init; }
    /// <summary>Interactions (requests, every turn) that were not cancelled.</summary>
    public int Interactions { get; init; }
    /// <summary>Interactions whose generation failed (error or timeout).</summary>
    public int FailedInteractions { get; init; }
    /// <summary>Tasks started (a turn-0 request, or any turn, was made).</summary>
    public int Tasks { get; init; }
    /// <summary>Tasks whose outcome is known: passed, or failed with repair turns exhausted or followed by the next task.</summary>
    public int TasksDecided { get; init; }
    /// <summary>Tasks that passed at some turn.</summary>
    public int TasksGreen { get; init; }
    /// <summary>Tasks cut off by the end of their session before passing or exhausting their repair turns (left out of pass@turn).</summary>
    public int TasksCensored { get; init; }
    /// <summary>Tasks none of whose turns has a grade (`--no-grade`, or every answer refused by the sandbox): left out of pass@turn and time-to-green, never counted as failed.</summary>
    public int TasksUngraded { get; init; }
    /// <summary>Repair turns allowed (R): given, else the highest turn seen in the run.</summary>
    public int RepairTurns { get; init; }

    /// <summary>Interactions whose whole answer came within 0.1 s / all interactions (a failed one never does).</summary>
    public required IntervalEstimate WaitUnderInstant { get; init; }
    /// <summary>… within 1 s.</summary>
    public required IntervalEstimate WaitUnderFlow { get; init; }
    /// <summary>… within 10 s.</summary>
    public required IntervalEstimate WaitUnderAttention { get; init; }
    /// <summary>Interactions that broke flow (<see cref="FlowBreakRule"/>) / all interactions.</summary>
    public required IntervalEstimate FlowBreakRate { get; init; }
    public required FlowBreakRule FlowBreakRule { get; init; }

    /// <summary>Σ waits / Σ (waits + think + grading) over the arm's sessions; interval by session bootstrap.</summary>
    public required IntervalEstimate WaitShare { get; init; }
    /// <summary>Σ think / Σ session time.</summary>
    public double ThinkShare { get; init; }
    /// <summary>Σ grading / Σ session time.</summary>
    public double GradingShare { get; init; }
    /// <summary>Session time in hours: Σ over interactions of think before + wait + grading.</summary>
    public double SessionHours { get; init; }
    /// <summary>Green tasks / session hours; interval by session bootstrap.</summary>
    public required IntervalEstimate TasksPerDeveloperHour { get; init; }

    /// <summary>pass@turn-r for r = 0 … R: decided tasks green by turn r / decided tasks (Wilson).</summary>
    public required IReadOnlyList<IntervalEstimate> PassAtTurn { get; init; }
    /// <summary>Requests a green task took (turn of its pass + 1).</summary>
    public LatencyStatistics? TurnsToGreen { get; init; }
    /// <summary>Seconds to green: Σ waits + Σ grading over the task's turns up to its pass (think left out).</summary>
    public LatencyStatistics? TimeToGreenSeconds { get; init; }
    /// <summary>Of time-to-green, mean seconds of model wait, of grading, and of think before repair turns (shown apart, not in it).</summary>
    public double? MeanModelSecondsToGreen { get; init; }
    public double? MeanGradingSecondsToGreen { get; init; }
    public double? MeanRepairThinkSecondsToGreen { get; init; }
    /// <summary>Every green task's time-to-green in seconds, sorted (the CDF plot's points; not written to summary.json, which has the statistics).</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public IReadOnlyList<double> TimeToGreenSamples { get; init; } = [];

    /// <summary>TTFT of ok interactions, ms.</summary>
    public LatencyStatistics? TtftMs { get; init; }
    /// <summary>Interactions served per backend (a routed arm spreads over several).</summary>
    public IReadOnlyDictionary<string, int> InteractionsByBackend { get; init; } = new Dictionary<string, int>();
    /// <summary>Input and answer tokens per backend, over interactions that were not cancelled.</summary>
    public IReadOnlyDictionary<string, SessionTokens> TokensByBackend { get; init; } = new Dictionary<string, SessionTokens>();
    /// <summary>Interactions whose route reason is an escalation.</summary>
    public int Escalations { get; init; }

    /// <summary>Schedule lag of the arm's interactions, ms: request start − end of its think time (<c>scheduleLagUs</c>); in real time the harness's lateness, in virtual time 0 by construction.</summary>
    public LatencyStatistics? ScheduleLagMs { get; init; }
    /// <summary>Interactions missing from the log: a task of a session, or a turn of a task, skipped before one that was recorded (0 when every interaction was recorded).</summary>
    public int DroppedInteractions { get; init; }
    /// <summary>Interactions recorded more than once (the same session, task and turn; 0 when each was recorded once).</summary>
    public int DuplicateInteractions { get; init; }
    /// <summary>What the arm's interactions cost (docs/metrics.md, "Session cost"); null when the run has no priced backend.</summary>
    public SessionCost? Cost { get; init; }
}

/// <summary>
/// The cost of one arm (docs/metrics.md, "Session cost"): per device-hour backends are charged for their share of the device's
/// busy time (each instant a replica serves k requests is split equally among them; idle time between requests is not
/// charged), per-token backends for their input and answer tokens.
/// </summary>
public sealed record SessionCost
{
    /// <summary>USD for all the arm's interactions; null when a backend that served it has no price.</summary>
    public double? Usd { get; init; }
    /// <summary><see cref="Usd"/> / green tasks; null when nothing went green or the cost is unknown.</summary>
    public double? UsdPerGreenTask { get; init; }
    /// <summary>Device-hours of busy time charged to the arm (device-hour-priced backends; × devices per replica).</summary>
    public double DeviceHours { get; init; }
    /// <summary>How it was priced: "busy device-hours", "tokens", or both.</summary>
    public required string Basis { get; init; }
    /// <summary>Backends that served the arm without a price (the reason <see cref="Usd"/> is null).</summary>
    public IReadOnlyList<string> UnpricedBackends { get; init; } = [];
}

/// <summary>
/// The sessions section of summary.json (docs/formats.md, "summary.json → sessions"): one <see cref="SessionArmSummary"/> per
/// arm — each backend alone, each routing policy — with its flow metrics, pass@turn, time-to-green, schedule lag and cost.
/// </summary>
public sealed record SessionsSummary
{
    /// <summary>Repair turns R the pass@turn curves run to (the plan's, else the highest turn seen).</summary>
    public required int RepairTurns { get; init; }
    public required IReadOnlyList<SessionArmSummary> Arms { get; init; }

    /// <summary>The section for a run's records, or null when none has a session; prices and the plan's repair turns from <paramref name="manifest"/>.</summary>
    public static SessionsSummary? From(IReadOnlyList<AttemptRecord> records, RunManifest? manifest)
    {
        ArgumentNullException.ThrowIfNull(records);
        if (!records.Any(r => r.Session is not null && !r.Slot.Warmup))
        {
            return null;
        }

        var prices = manifest?.Backends.Where(b => b.Price is not null).ToDictionary(b => b.Name, b => b.Price!, StringComparer.Ordinal);
        var arms = SessionFlowMetrics.Compute(records, repairTurns: manifest?.Plan.Sessions?.RepairTurns, prices: prices);
        return new SessionsSummary { RepairTurns = arms.Count > 0 ? arms[0].RepairTurns : 0, Arms = arms };
    }
}

/// <summary>Input and answer tokens of one backend within an arm.</summary>
public sealed record SessionTokens(long Input, long Output);

/// <summary>
/// Flow metrics of developer sessions (issue #18; formulas in docs/metrics.md, "Sessions"), computed from attempt records
/// whose <see cref="AttemptRecord.Session"/> is set: response-time bands, flow breaks, where session time goes, throughput per
/// developer-hour, pass@turn, turns- and time-to-green. Pure: the same records give the same figures (the bootstrap is seeded).
/// </summary>
public static class SessionFlowMetrics
{
    /// <summary>Bootstrap resamples of sessions for the ratio intervals.</summary>
    public const int BootstrapResamples = 2000;

    /// <summary>The bootstrap's seed: fixed, so a report recomputes to the same interval.</summary>
    public const int BootstrapSeed = 18;

    /// <summary>The arm an attempt belongs to: its policy's name, else its backend (the summary's group adds "policy:" to a policy's name: <see cref="Sessions.SessionRunner.GroupOf"/>).</summary>
    public static string ArmOf(AttemptRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        return record.Session?.Policy ?? record.Slot.Backend;
    }

    /// <summary>
    /// One summary per arm, in first-seen order; attempts without a session and warm-ups are skipped. With <paramref name="prices"/>
    /// (backend → price, from the manifest) each arm carries its <see cref="SessionCost"/>.
    /// </summary>
    public static IReadOnlyList<SessionArmSummary> Compute(IEnumerable<AttemptRecord> attempts, FlowBreakRule? rule = null, int? repairTurns = null,
        IReadOnlyDictionary<string, BackendPrice>? prices = null)
    {
        ArgumentNullException.ThrowIfNull(attempts);
        rule ??= FlowBreakRule.Default;
        var arms = new Dictionary<string, List<AttemptRecord>>(StringComparer.Ordinal);
        var order = new List<string>();
        var maxTurn = 0;
        foreach (var r in attempts)
        {
            if (r.Session is not { } s || r.Slot.Warmup)
            {
                continue;
            }

            var arm = ArmOf(r);
            if (!arms.TryGetValue(arm, out var list))
            {
                arms[arm] = list = [];
                order.Add(arm);
            }

            list.Add(r);
            maxTurn = Math.Max(maxTurn, s.Turn);
        }

        var turns = repairTurns ?? maxTurn;
        var summaries = order.Select(arm => ComputeArm(arm, arms[arm], rule, turns)).ToList();
        if (prices is null || prices.Count == 0)
        {
            return summaries;
        }

        var busy = BusyShares(arms.Values.SelectMany(a => a), prices);
        return [.. summaries.Select(a => a with { Cost = Cost(a, arms[a.Arm], prices, busy) })];
    }

    /// <summary>The schedule lag of interactions that were not cancelled, ms (null when none was scheduled).</summary>
    public static LatencyStatistics? ScheduleLag(IEnumerable<AttemptRecord> records)
    {
        ArgumentNullException.ThrowIfNull(records);
        return LatencyStatistics.FromSamples([.. records.Where(r => r.Outcome.Status != AttemptStatus.Cancelled && r.ScheduleLagUs is not null)
            .Select(r => r.ScheduleLagUs!.Value / 1000.0)], "ms");
    }

    /// <summary>
    /// Interactions of one arm missing from the log or in it twice: per session, every task index up to the last one recorded
    /// must have a turn, and every task every turn index up to its last; (session, task, turn) must be unique. Cancelled
    /// interactions (a stopped run; --resume asks them again) are left out.
    /// </summary>
    public static (int Dropped, int Duplicates) Completeness(IEnumerable<AttemptRecord> records)
    {
        ArgumentNullException.ThrowIfNull(records);
        var seen = new HashSet<(int Session, int Task, int Turn)>();
        var duplicates = 0;
        foreach (var r in records)
        {
            if (r.Session is { } s && r.Outcome.Status != AttemptStatus.Cancelled && !seen.Add((s.Session, s.TaskInSession, s.Turn)))
            {
                duplicates++;
            }
        }

        var dropped = 0;
        foreach (var session in seen.GroupBy(k => k.Session))
        {
            var tasks = session.GroupBy(k => k.Task).ToDictionary(g => g.Key, g => g.Select(k => k.Turn).ToHashSet());
            var lastTask = tasks.Keys.Max();
            for (var t = 0; t <= lastTask; t++)
            {
                if (!tasks.TryGetValue(t, out var recordedTurns))
                {
                    dropped++;
                    continue;
                }

                dropped += recordedTurns.Max() + 1 - recordedTurns.Count;
            }
        }

        return (dropped, duplicates);
    }

    /// <summary>
    /// Each request's share of its backend's busy replica time, µs, for device-hour-priced backends: with k of its requests in
    /// flight (start to last event), min(k, replicas) replicas are busy (one replica: busy while any request is in flight), and
    /// each instant's busy replicas are split equally among the k requests. A balancer that sends each request to the least
    /// loaded replica keeps that count; one that piled requests on a replica while another idled would cost less than this.
    /// </summary>
    private static Dictionary<AttemptRecord, double> BusyShares(IEnumerable<AttemptRecord> records, IReadOnlyDictionary<string, BackendPrice> prices)
    {
        var shares = new Dictionary<AttemptRecord, double>(ReferenceEqualityComparer.Instance);
        foreach (var backend in records.Where(r => prices.TryGetValue(r.Slot.Backend, out var p) && p.PerDeviceHour && r.Events.Count > 0)
            .GroupBy(r => r.Slot.Backend, StringComparer.Ordinal))
        {
            var replicas = Math.Max(1, prices[backend.Key].Replicas);

            // S(t) = ∫ min(k, replicas)/k(τ) dτ over the busy time up to t; a request's share is S(end) − S(start).
            var points = backend.SelectMany(r => new[] { (T: r.StartUs, Delta: 1), (T: r.StartUs + DurationUs(r), Delta: -1) }).OrderBy(p => p.T).ToList();
            var times = new List<long>(points.Count);
            var integral = new List<double>(points.Count);
            double sum = 0;
            var inFlight = 0;
            var previous = points[0].T;
            foreach (var (t, delta) in points)
            {
                if (t != previous || times.Count == 0)
                {
                    sum += inFlight > 0 ? (t - previous) * (double)Math.Min(inFlight, replicas) / inFlight : 0;
                    times.Add(t);
                    integral.Add(sum);
                    previous = t;
                }

                inFlight += delta;
            }

            double At(long t) => integral[times.BinarySearch(t)];
            foreach (var r in backend)
            {
                shares[r] = At(r.StartUs + DurationUs(r)) - At(r.StartUs);
            }
        }

        return shares;
    }

    private static long DurationUs(AttemptRecord r) => r.Events.Count > 0 ? Math.Max(0, r.Events[^1].OffsetMicroseconds) : 0;

    private static SessionCost Cost(SessionArmSummary arm, List<AttemptRecord> records, IReadOnlyDictionary<string, BackendPrice> prices, Dictionary<AttemptRecord, double> busy)
    {
        double usd = 0, deviceHours = 0;
        var unpriced = new SortedSet<string>(StringComparer.Ordinal);
        bool byHour = false, byToken = false;
        foreach (var r in records)
        {
            if (!prices.TryGetValue(r.Slot.Backend, out var price) || !(price.PerDeviceHour || price.PerToken))
            {
                unpriced.Add(r.Slot.Backend);
                continue;
            }

            if (price.PerDeviceHour)
            {
                byHour = true;
                var hours = busy.GetValueOrDefault(r) / 3.6e9 * price.Devices;
                deviceHours += hours;
                usd += hours * price.UsdPerDeviceHour!.Value;
            }
            else
            {
                byToken = true;
                usd += (((r.Tokens.InputUsage ?? r.Tokens.InputTokenizer) * (price.UsdPerMillionInputTokens ?? 0))
                    + (r.Tokens.AnswerTokens * (price.UsdPerMillionOutputTokens ?? 0))) / 1e6;
            }
        }

        var known = unpriced.Count == 0;
        return new SessionCost
        {
            Usd = known ? usd : null,
            UsdPerGreenTask = known && arm.TasksGreen > 0 ? usd / arm.TasksGreen : null,
            DeviceHours = deviceHours,
            Basis = byHour && byToken ? "busy device-hours + tokens" : byToken ? "tokens" : byHour ? "busy device-hours" : "none",
            UnpricedBackends = [.. unpriced],
        };
    }

    /// <summary>The wait a developer had for one interaction, ms: E2E with retries, or the time until it failed.</summary>
    public static double WaitMs(AttemptRecord record, in AttemptMetrics metrics)
    {
        ArgumentNullException.ThrowIfNull(record);
        return metrics.E2eWithRetriesMs ?? (record.Events.Count > 0 ? record.Events[^1].OffsetMicroseconds / 1000.0 : 0);
    }

    private sealed class TaskState
    {
        public int? GreenTurn;
        public bool Graded;
        public int LastTurn = -1;
        public double ModelUs, GradingUs, RepairThinkUs;
        public double ModelUsToGreen, GradingUsToGreen, RepairThinkUsToGreen;
    }

    private sealed class SessionState
    {
        public double WaitUs, ThinkUs, GradingUs;
        public int Green;
        public int LastTask = -1;
    }

    private static SessionArmSummary ComputeArm(string arm, List<AttemptRecord> records, FlowBreakRule rule, int repairTurns)
    {
        // Turn order within a task; sequence breaks ties (a timed-out turn and its escalated retry).
        records.Sort((a, b) =>
        {
            var x = a.Session!;
            var y = b.Session!;
            var c = x.Session.CompareTo(y.Session);
            c = c != 0 ? c : x.TaskInSession.CompareTo(y.TaskInSession);
            c = c != 0 ? c : x.Turn.CompareTo(y.Turn);
            return c != 0 ? c : a.Sequence.CompareTo(b.Sequence);
        });

        var tasks = new Dictionary<(int Session, int Task), TaskState>();
        var sessions = new SortedDictionary<int, SessionState>();
        var byBackend = new Dictionary<string, int>(StringComparer.Ordinal);
        var tokens = new Dictionary<string, (long In, long Out)>(StringComparer.Ordinal);
        var ttft = new List<double>();
        int interactions = 0, failed = 0, instant = 0, flow = 0, attention = 0, breaks = 0, escalations = 0;
        var simulated = false;
        var isPolicy = false;
        foreach (var r in records)
        {
            var s = r.Session!;
            if (r.Outcome.Status == AttemptStatus.Cancelled)
            {
                continue;
            }

            interactions++;
            simulated |= r.Simulated;
            isPolicy |= s.Policy is not null;
            byBackend[r.Slot.Backend] = byBackend.GetValueOrDefault(r.Slot.Backend) + 1;
            var t = tokens.GetValueOrDefault(r.Slot.Backend);
            tokens[r.Slot.Backend] = (t.In + (r.Tokens.InputUsage ?? r.Tokens.InputTokenizer), t.Out + r.Tokens.AnswerTokens);
            if (s.RouteReason?.StartsWith("escalate:", StringComparison.Ordinal) == true)
            {
                escalations++;
            }

            var m = AttemptMetrics.Compute(r);
            var ok = r.Outcome.Status == AttemptStatus.Ok;
            failed += ok ? 0 : 1;
            var wait = WaitMs(r, m);
            if (ok && m.TtftMs is { } tt)
            {
                ttft.Add(tt);
            }

            instant += ok && wait <= FlowThresholds.InstantMs ? 1 : 0;
            flow += ok && wait <= FlowThresholds.FlowMs ? 1 : 0;
            attention += ok && wait <= FlowThresholds.AttentionMs ? 1 : 0;
            breaks += rule.Breaks(m.TtftMs, ok ? wait : null, ok) ? 1 : 0;

            if (!sessions.TryGetValue(s.Session, out var session))
            {
                sessions[s.Session] = session = new SessionState();
            }

            var gradingUs = (double)(s.GradingUs ?? 0);
            session.WaitUs += wait * 1000;
            session.ThinkUs += s.ThinkBeforeUs;
            session.GradingUs += gradingUs;
            session.LastTask = Math.Max(session.LastTask, s.TaskInSession);

            if (!tasks.TryGetValue((s.Session, s.TaskInSession), out var task))
            {
                tasks[(s.Session, s.TaskInSession)] = task = new TaskState();
            }

            if (task.GreenTurn is not null)
            {
                continue; // a turn after green (should not happen) adds nothing to time-to-green
            }

            task.LastTurn = Math.Max(task.LastTurn, s.Turn);
            task.Graded |= r.Grade is { } grade && !GradeMarks.IsRefused(grade);
            task.ModelUs += wait * 1000;
            task.GradingUs += gradingUs;
            if (s.Turn > 0)
            {
                task.RepairThinkUs += s.ThinkBeforeUs;
            }

            if (r.Grade?.IsPassed == true)
            {
                task.GreenTurn = s.Turn;
                task.ModelUsToGreen = task.ModelUs;
                task.GradingUsToGreen = task.GradingUs;
                task.RepairThinkUsToGreen = task.RepairThinkUs;
                session.Green++;
            }
        }

        var decided = 0;
        var censored = 0;
        var ungraded = 0;
        var greenByTurn = new int[repairTurns + 1];
        var turnsToGreen = new List<double>();
        var timeToGreen = new List<double>();
        double model = 0, grading = 0, think = 0;
        foreach (var ((sessionId, taskId), task) in tasks)
        {
            var last = sessions[sessionId].LastTask == taskId;
            if (task.GreenTurn is { } g)
            {
                decided++;
                for (var r = Math.Min(g, repairTurns + 1); r <= repairTurns; r++)
                {
                    greenByTurn[r]++;
                }

                turnsToGreen.Add(g + 1);
                timeToGreen.Add((task.ModelUsToGreen + task.GradingUsToGreen) / 1e6);
                model += task.ModelUsToGreen / 1e6;
                grading += task.GradingUsToGreen / 1e6;
                think += task.RepairThinkUsToGreen / 1e6;
            }
            else if (!task.Graded)
            {
                ungraded++;
            }
            else if (!last || task.LastTurn >= repairTurns)
            {
                decided++;
            }
            else
            {
                censored++;
            }
        }

        var green = turnsToGreen.Count;
        var (dropped, duplicates) = Completeness(records);
        var sessionList = sessions.Values.ToList();
        var totalUs = sessionList.Sum(x => x.WaitUs + x.ThinkUs + x.GradingUs);
        var hours = totalUs / 3.6e9;
        var sorted = timeToGreen.Order().ToList();
        return new SessionArmSummary
        {
            Arm = arm,
            IsPolicy = isPolicy,
            Simulated = simulated,
            Sessions = sessions.Count,
            Interactions = interactions,
            FailedInteractions = failed,
            Tasks = tasks.Count,
            TasksDecided = decided,
            TasksGreen = green,
            TasksCensored = censored,
            TasksUngraded = ungraded,
            RepairTurns = repairTurns,
            WaitUnderInstant = IntervalEstimate.Proportion(instant, interactions),
            WaitUnderFlow = IntervalEstimate.Proportion(flow, interactions),
            WaitUnderAttention = IntervalEstimate.Proportion(attention, interactions),
            FlowBreakRate = IntervalEstimate.Proportion(breaks, interactions),
            FlowBreakRule = rule,
            WaitShare = Ratio(sessionList, x => x.WaitUs, x => x.WaitUs + x.ThinkUs + x.GradingUs),
            ThinkShare = totalUs > 0 ? sessionList.Sum(x => x.ThinkUs) / totalUs : double.NaN,
            GradingShare = totalUs > 0 ? sessionList.Sum(x => x.GradingUs) / totalUs : double.NaN,
            SessionHours = hours,
            TasksPerDeveloperHour = Ratio(sessionList, x => x.Green, x => (x.WaitUs + x.ThinkUs + x.GradingUs) / 3.6e9),
            PassAtTurn = greenByTurn.Select(g => IntervalEstimate.Proportion(g, decided)).ToList(),
            TurnsToGreen = LatencyStatistics.FromSamples([.. turnsToGreen], "turns"),
            TimeToGreenSeconds = LatencyStatistics.FromSamples([.. timeToGreen], "s"),
            MeanModelSecondsToGreen = green > 0 ? model / green : null,
            MeanGradingSecondsToGreen = green > 0 ? grading / green : null,
            MeanRepairThinkSecondsToGreen = green > 0 ? think / green : null,
            TimeToGreenSamples = sorted,
            TtftMs = LatencyStatistics.FromSamples([.. ttft], "ms"),
            InteractionsByBackend = new SortedDictionary<string, int>(byBackend, StringComparer.Ordinal),
            TokensByBackend = new SortedDictionary<string, SessionTokens>(tokens.ToDictionary(p => p.Key, p => new SessionTokens(p.Value.In, p.Value.Out), StringComparer.Ordinal), StringComparer.Ordinal),
            Escalations = escalations,
            ScheduleLagMs = ScheduleLag(records),
            DroppedInteractions = dropped,
            DuplicateInteractions = duplicates,
        };
    }

    /// <summary>
    /// Σ numerator / Σ denominator over sessions, with a seeded percentile bootstrap over sessions (the independent units:
    /// interactions within one developer's session are not independent).
    /// </summary>
    private static IntervalEstimate Ratio(IReadOnlyList<SessionState> sessions, Func<SessionState, double> numerator, Func<SessionState, double> denominator)
    {
        var n = sessions.Count;
        var num = sessions.Select(numerator).ToArray();
        var den = sessions.Select(denominator).ToArray();
        var total = den.Sum();
        if (n == 0 || total <= 0)
        {
            return new IntervalEstimate(double.NaN, double.NaN, double.NaN, n, "session bootstrap");
        }

        var value = num.Sum() / total;
        var random = new Random(BootstrapSeed);
        var draws = new List<double>(BootstrapResamples);
        for (var b = 0; b < BootstrapResamples; b++)
        {
            double sn = 0, sd = 0;
            for (var i = 0; i < n; i++)
            {
                var k = random.Next(n);
                sn += num[k];
                sd += den[k];
            }

            if (sd > 0)
            {
                draws.Add(sn / sd);
            }
        }

        draws.Sort();
        return new IntervalEstimate(value, LatencyStatistics.Percentile(draws, 0.025), LatencyStatistics.Percentile(draws, 0.975), n,
            $"session bootstrap ({BootstrapResamples} resamples, percentile)");
    }
}
