using Spark.Eval.Core;

namespace Spark.Eval.Pilot;

/// <summary>How to analyse: the period boundary, the bootstrap and the pseudonym salt.</summary>
public sealed record PilotAnalysisOptions
{
    /// <summary>First day of the pilot (UTC); null infers it from the first assistant use by a pilot developer.</summary>
    public DateOnly? PilotStart { get; init; }

    public int Bootstrap { get; init; } = DifferenceInDifferences.DefaultBootstrap;

    public int Seed { get; init; } = 1;

    public required string Salt { get; init; }

    /// <summary>A developer whose first activity is at least this many days after the data starts is "new".</summary>
    public int NewDeveloperGraceDays { get; init; } = 7;

    /// <summary>Keep per-task rows in the report (tasks.csv and the TTFC plot); off for calibration runs.</summary>
    public bool IncludeTasks { get; init; } = true;

    /// <summary>Bootstrap only these metric ids (null: all); calibration runs need one.</summary>
    public IReadOnlyCollection<string>? OnlyMetrics { get; init; }

    public void Validate()
    {
        if (Bootstrap is < 100 or > 100_000)
        {
            throw new InputException($"--bootstrap {Bootstrap}: out of range. Fix: give 100 to 100000 resamples (default {DifferenceInDifferences.DefaultBootstrap}).");
        }
    }
}

/// <summary>One metric: its id, how it is shown, and how a developer-period row yields it.</summary>
internal sealed record MetricDefinition(string Id, string Title, string Unit, string Definition, Func<DeveloperPeriodRow, double?> Value);

/// <summary>Turns aggregated telemetry into developer-period rows, cohort × period cells and DiD effects (docs/pilot.md).</summary>
public static class PilotAnalysis
{
    /// <summary>A gap between prompts longer than this is a break, not think time.</summary>
    public const double DefaultIdleCutoffSeconds = 900;

    internal static readonly IReadOnlyList<MetricDefinition> Metrics =
    [
        new("ttfc_task", "Time to first commit per task", "minutes",
            "task start → the developer's first commit naming the task; mean over the developer's committed tasks started in the period", r => r.TtfcMinutes),
        new("uses_per_dev_day", "Interactive uses per developer-day", "uses/day",
            "prompts + user-initiated interactions ÷ the developer's active days in the period", r => r.UsesPerDeveloperDay),
        new("prompts_per_task", "Prompts per task", "prompts",
            "prompts attributed to a committed task (named by the source, else the task the developer had open) ÷ committed tasks", r => r.PromptsPerTask),
        new("acceptance_rate", "Acceptance rate", "share",
            "suggestions accepted ÷ shown (sources that report it: Copilot, Claude Code/Codex edit decisions, plain events)", r => r.AcceptanceRate),
        new("wait_per_dev_day", "Assistant wait per developer-day", "s/day",
            "sum of model-request durations ÷ active days", r => r.WaitSecondsPerDeveloperDay),
        new("active_day_share", "Active days", "share of weekdays",
            "days with any event ÷ weekdays in the period", r => r.ActiveDayShare),
        new("commits_per_active_day", "Commits per active day", "commits/day",
            "commits ÷ active days", r => r.CommitsPerActiveDay),
    ];

    public static PilotReport Analyze(PilotAggregator data, IReadOnlyList<PilotInputSummary> inputs, PilotAnalysisOptions options)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (data.EventCount == 0)
        {
            throw new InputException("no events were read. Fix: pass telemetry files with at least one row each.");
        }

        var pseudonyms = new Pseudonymizer(options.Salt);
        var firstDay = DayOf(data.MinTimeMs);
        var lastDay = DayOf(data.MaxTimeMs);
        var cohorts = data.Developers.Select(d => d.Cohort != Cohort.Unknown ? d.Cohort : d.CohortFromEvents).ToArray();
        var (startDay, startSource) = PilotStartDay(data, cohorts, options);
        if (startDay <= firstDay || startDay > lastDay)
        {
            throw new InputException($"the pilot start {ToDate(startDay):yyyy-MM-dd} leaves no 'before' or no 'during' period in the data ({ToDate(firstDay):yyyy-MM-dd} to {ToDate(lastDay):yyyy-MM-dd}). Fix: pass --pilot-start inside the data's range.");
        }

        var weekdays = new[] { Weekdays(firstDay, startDay - 1), Weekdays(startDay, lastDay) };
        var tasksByDeveloper = TasksByDeveloper(data);
        AttributePrompts(data, tasksByDeveloper);

        var rows = new List<DeveloperPeriodRow>();
        var taskRows = new List<TaskTtfc>();
        for (var d = 0; d < data.Developers.Count; d++)
        {
            var dev = data.Developers[d];
            var name = pseudonyms.For(dev.Identity);
            var acc = new PeriodAccumulator[2];
            foreach (var (day, cell) in dev.Days)
            {
                ref var a = ref acc[day < startDay ? 0 : 1];
                a.ActiveDays += cell.Events > 0 ? 1 : 0;
                a.Uses += cell.Uses;
                a.Prompts += cell.Prompts;
                a.WaitMs += cell.WaitMs;
                a.Shown += cell.Shown;
                a.Accepted += cell.Accepted;
                a.Commits += cell.Commits;
            }

            var ttfc = new[] { new List<double>(), new List<double>() };
            var prompts = new[] { new List<double>(), new List<double>() };
            if (tasksByDeveloper.TryGetValue(d, out var tasks))
            {
                foreach (var (_, task) in tasks)
                {
                    var p = DayOf(task.StartMs) < startDay ? 0 : 1;
                    acc[p].TasksStarted++;
                    if (task.FirstCommitMs == long.MaxValue || task.FirstCommitMs < task.StartMs)
                    {
                        continue;
                    }

                    var minutes = (task.FirstCommitMs - task.StartMs) / 60_000.0;
                    ttfc[p].Add(minutes);
                    prompts[p].Add(task.Prompts);
                    if (options.IncludeTasks)
                    {
                        taskRows.Add(new TaskTtfc(name, cohorts[d], (Period)p, minutes, task.Prompts));
                    }
                }
            }

            for (var p = 0; p < 2; p++)
            {
                var a = acc[p];
                if (a.ActiveDays == 0)
                {
                    continue;
                }

                rows.Add(new DeveloperPeriodRow(
                    name, cohorts[d], (Period)p, a.ActiveDays, weekdays[p], a.Uses, a.Prompts, a.WaitMs / 1000, a.Shown, a.Accepted, a.Commits,
                    a.TasksStarted, ttfc[p].Count,
                    ttfc[p].Count > 0 ? ttfc[p].Average() : null,
                    (double)a.Uses / a.ActiveDays,
                    prompts[p].Count > 0 ? prompts[p].Average() : null,
                    a.Shown > 0 ? Math.Min(1, (double)a.Accepted / a.Shown) : null,
                    a.WaitMs / 1000 / a.ActiveDays,
                    weekdays[p] > 0 ? Math.Min(1, (double)a.ActiveDays / weekdays[p]) : null,
                    (double)a.Commits / a.ActiveDays));
            }
        }

        var effects = new List<MetricEffect>();
        var m = 0;
        foreach (var metric in Metrics.Where(x => options.OnlyMetrics is null || options.OnlyMetrics.Contains(x.Id)))
        {
            effects.Add(Effect(metric, rows, options.Bootstrap, options.Seed + (1000 * m)));
            m++;
        }

        return new PilotReport
        {
            DataStart = ToDate(firstDay),
            DataEnd = ToDate(lastDay),
            PilotStart = ToDate(startDay),
            PilotStartSource = startSource,
            Inputs = inputs,
            Events = data.EventCount,
            PilotDevelopers = cohorts.Count(c => c == Cohort.Pilot),
            ControlDevelopers = cohorts.Count(c => c == Cohort.Control),
            UnassignedDevelopers = cohorts.Count(c => c == Cohort.Unknown),
            Bootstrap = options.Bootstrap,
            Seed = options.Seed,
            Pseudonymisation = "developer identities are HMAC-SHA256(salt, lower-cased identity), first 6 bytes in hex; the salt is not stored",
            Effects = effects,
            NewDevelopers = NewDevelopers(data, cohorts, firstDay, options),
            Daily = Daily(data, cohorts, firstDay, lastDay),
            Adoption = Adoption(data, cohorts, firstDay, lastDay),
            TeamDays = [.. data.TeamDays.OrderBy(t => t.Day).ThenBy(t => t.Scope, StringComparer.Ordinal)],
            Developers = [.. rows.OrderBy(r => r.Cohort).ThenBy(r => r.Developer, StringComparer.Ordinal).ThenBy(r => r.Period)],
            Tasks = taskRows,
        };
    }

    private struct PeriodAccumulator
    {
        public int ActiveDays;
        public long Uses;
        public long Prompts;
        public double WaitMs;
        public long Shown;
        public long Accepted;
        public long Commits;
        public int TasksStarted;
    }

    private static MetricEffect Effect(MetricDefinition metric, List<DeveloperPeriodRow> rows, int bootstrap, int seed)
    {
        var cells = new List<CellMean>();
        foreach (var cohort in new[] { Cohort.Pilot, Cohort.Control })
        {
            foreach (var period in new[] { Period.Before, Period.During })
            {
                var values = rows.Where(r => r.Cohort == cohort && r.Period == period).Select(metric.Value).OfType<double>().ToList();
                cells.Add(new CellMean(cohort, period, values.Count, values.Count > 0 ? values.Average() : null));
            }
        }

        var changes = new Dictionary<Cohort, List<double>> { [Cohort.Pilot] = [], [Cohort.Control] = [] };
        foreach (var group in rows.Where(r => r.Cohort != Cohort.Unknown).GroupBy(r => r.Developer, StringComparer.Ordinal))
        {
            var before = group.FirstOrDefault(r => r.Period == Period.Before);
            var during = group.FirstOrDefault(r => r.Period == Period.During);
            if (before is not null && during is not null && metric.Value(before) is { } b && metric.Value(during) is { } a)
            {
                changes[before.Cohort].Add(a - b);
            }
        }

        var effect = DifferenceInDifferences.Estimate(changes[Cohort.Pilot], changes[Cohort.Control], bootstrap, seed);
        string? note = null;
        if (effect is null)
        {
            note = $"no effect: needs at least 2 developers with a value before and during in each cohort (pilot {changes[Cohort.Pilot].Count}, control {changes[Cohort.Control].Count})";
        }

        var mdeDouble = effect is null ? (double?)null : DifferenceInDifferences.MdeAtTeamSize(effect, effect.PilotDevelopers * 2, effect.ControlDevelopers * 2);
        return new MetricEffect(metric.Id, metric.Title, metric.Unit, metric.Definition, cells, effect, mdeDouble, note);
    }

    private static (int Day, string Source) PilotStartDay(PilotAggregator data, Cohort[] cohorts, PilotAnalysisOptions options)
    {
        if (options.PilotStart is { } start)
        {
            return (start.DayNumber - DateOnly.FromDateTime(DateTime.UnixEpoch).DayNumber, "--pilot-start");
        }

        var first = long.MaxValue;
        for (var d = 0; d < data.Developers.Count; d++)
        {
            if (cohorts[d] == Cohort.Pilot)
            {
                first = Math.Min(first, data.Developers[d].FirstAssistantUseMs);
            }
        }

        if (first == long.MaxValue)
        {
            throw new InputException("cannot infer the pilot start: no pilot-cohort developer used the assistant. Fix: pass --pilot-start yyyy-MM-dd, and a --cohorts map (or a cohort column) naming the pilot developers.");
        }

        return (DayOf(first), "inferred: the first assistant use by a pilot-cohort developer");
    }

    private static Dictionary<int, List<(int Task, TaskState State)>> TasksByDeveloper(PilotAggregator data)
    {
        var result = new Dictionary<int, List<(int, TaskState)>>();
        foreach (var (key, state) in data.Tasks)
        {
            if (state.StartMs == long.MaxValue)
            {
                continue;
            }

            var dev = (int)(key >> 32);
            if (!result.TryGetValue(dev, out var list))
            {
                list = [];
                result[dev] = list;
            }

            list.Add(((int)(key & 0xFFFFFFFF), state));
        }

        foreach (var list in result.Values)
        {
            list.Sort((a, b) => a.Item2.StartMs.CompareTo(b.Item2.StartMs));
        }

        return result;
    }

    /// <summary>
    /// A prompt belongs to the task its source names; otherwise to the most recently started task the developer still had
    /// open (started, first commit not yet made, at most a day old).
    /// </summary>
    private static void AttributePrompts(PilotAggregator data, Dictionary<int, List<(int Task, TaskState State)>> tasksByDeveloper)
    {
        foreach (var state in data.Tasks.Values)
        {
            state.Prompts = 0;
        }

        for (var d = 0; d < data.Developers.Count; d++)
        {
            if (!tasksByDeveloper.TryGetValue(d, out var tasks) || tasks.Count == 0)
            {
                continue;
            }

            var starts = tasks.Select(t => t.State.StartMs).ToArray();
            foreach (var prompt in data.Developers[d].Prompts)
            {
                if (prompt.Task >= 0)
                {
                    var key = ((long)d << 32) | (uint)prompt.Task;
                    if (data.Tasks.TryGetValue(key, out var named) && named.StartMs != long.MaxValue)
                    {
                        named.Prompts++;
                    }

                    continue;
                }

                var index = Array.BinarySearch(starts, prompt.TimeMs);
                if (index < 0)
                {
                    index = ~index - 1;
                }
                else
                {
                    while (index + 1 < starts.Length && starts[index + 1] == prompt.TimeMs)
                    {
                        index++;
                    }
                }

                for (var i = index; i >= 0 && i > index - 16; i--)
                {
                    var t = tasks[i].State;
                    var end = t.FirstCommitMs == long.MaxValue ? t.StartMs + PilotAggregator.MsPerDay : t.FirstCommitMs;
                    if (prompt.TimeMs >= t.StartMs && prompt.TimeMs <= end)
                    {
                        t.Prompts++;
                        break;
                    }
                }
            }
        }
    }

    private static NewDeveloperSummary NewDevelopers(PilotAggregator data, Cohort[] cohorts, int firstDay, PilotAnalysisOptions options)
    {
        var values = new Dictionary<Cohort, List<double>> { [Cohort.Pilot] = [], [Cohort.Control] = [], [Cohort.Unknown] = [] };
        for (var d = 0; d < data.Developers.Count; d++)
        {
            var dev = data.Developers[d];
            if (DayOf(dev.FirstActivityMs) < firstDay + options.NewDeveloperGraceDays || dev.FirstCommitMs == long.MaxValue)
            {
                continue;
            }

            values[cohorts[d]].Add((dev.FirstCommitMs - dev.FirstActivityMs) / 3_600_000.0);
        }

        var pilot = values[Cohort.Pilot];
        var control = values[Cohort.Control];
        return new NewDeveloperSummary(
            options.NewDeveloperGraceDays,
            pilot.Count, Mean(pilot), Median(pilot),
            control.Count, Mean(control), Median(control),
            DifferenceInDifferences.Estimate(pilot, control, options.Bootstrap, options.Seed + 99));
    }

    private static List<DailyUse> Daily(PilotAggregator data, Cohort[] cohorts, int firstDay, int lastDay)
    {
        var span = lastDay - firstDay + 1;
        var active = new int[2, span];
        var uses = new long[2, span];
        for (var d = 0; d < data.Developers.Count; d++)
        {
            if (cohorts[d] == Cohort.Unknown)
            {
                continue;
            }

            var c = cohorts[d] == Cohort.Pilot ? 0 : 1;
            foreach (var (day, cell) in data.Developers[d].Days)
            {
                active[c, day - firstDay]++;
                uses[c, day - firstDay] += cell.Uses;
            }
        }

        var result = new List<DailyUse>();
        for (var i = 0; i < span; i++)
        {
            for (var c = 0; c < 2; c++)
            {
                if (active[c, i] > 0)
                {
                    result.Add(new DailyUse(ToDate(firstDay + i), c == 0 ? Cohort.Pilot : Cohort.Control, active[c, i], uses[c, i], (double)uses[c, i] / active[c, i]));
                }
            }
        }

        return result;
    }

    private static List<AdoptionPoint> Adoption(PilotAggregator data, Cohort[] cohorts, int firstDay, int lastDay)
    {
        var result = new List<AdoptionPoint>();
        foreach (var cohort in new[] { Cohort.Pilot, Cohort.Control })
        {
            var members = Enumerable.Range(0, data.Developers.Count).Where(d => cohorts[d] == cohort).ToList();
            if (members.Count == 0)
            {
                continue;
            }

            var firstUse = members.Select(d => data.Developers[d].FirstAssistantUseMs).Where(t => t != long.MaxValue).Select(DayOf).Order().ToArray();
            var k = 0;
            for (var day = firstDay; day <= lastDay; day++)
            {
                while (k < firstUse.Length && firstUse[k] <= day)
                {
                    k++;
                }

                result.Add(new AdoptionPoint(ToDate(day), cohort, k, members.Count, (double)k / members.Count));
            }
        }

        return result;
    }

    /// <summary>
    /// Think time: the gap between the end of the assistant's answer to one prompt (the last model request ending before the
    /// next prompt) and the developer's next prompt, when under the idle cutoff. Grouped by the kind of the next prompt's task.
    /// </summary>
    public static ThinkTimeExport ThinkTimes(PilotAggregator data, double idleCutoffSeconds = DefaultIdleCutoffSeconds)
    {
        ArgumentNullException.ThrowIfNull(data);
        var byKind = new Dictionary<string, List<double>>(StringComparer.Ordinal);
        var all = new List<double>();
        var tasksByDeveloper = TasksByDeveloper(data);
        for (var d = 0; d < data.Developers.Count; d++)
        {
            var dev = data.Developers[d];
            var prompts = dev.Prompts.OrderBy(p => p.TimeMs).ToArray();
            var ends = dev.ApiEndsMs.ToArray();
            Array.Sort(ends);
            tasksByDeveloper.TryGetValue(d, out var tasks);
            for (var i = 1; i < prompts.Length; i++)
            {
                var previous = prompts[i - 1].TimeMs;
                var next = prompts[i].TimeMs;
                // Latest answer end in [previous, next]: binary search for the last end ≤ next.
                var j = Array.BinarySearch(ends, next);
                j = j < 0 ? ~j - 1 : j;
                var answered = j >= 0 && ends[j] >= previous ? ends[j] : previous;
                var think = (next - answered) / 1000.0;
                if (think <= 0 || think > idleCutoffSeconds)
                {
                    continue;
                }

                var kind = KindOf(data, d, prompts[i], tasks) ?? "unknown";
                if (!byKind.TryGetValue(kind, out var list))
                {
                    list = [];
                    byKind[kind] = list;
                }

                list.Add(think);
                all.Add(think);
            }
        }

        var kinds = new List<ThinkTimeDistribution> { Distribution("all", all) };
        kinds.AddRange(byKind.OrderBy(k => k.Key, StringComparer.Ordinal).Select(k => Distribution(k.Key, k.Value)));
        return new ThinkTimeExport
        {
            Definition = "seconds from the end of the assistant's last model request after a prompt to the developer's next prompt; gaps over the idle cutoff are breaks, not think time",
            IdleCutoffSeconds = idleCutoffSeconds,
            Kinds = kinds,
        };
    }

    private static string? KindOf(PilotAggregator data, int developer, PromptMark prompt, List<(int Task, TaskState State)>? tasks)
    {
        var task = prompt.Task;
        if (task < 0 && tasks is not null)
        {
            for (var i = tasks.Count - 1; i >= 0; i--)
            {
                var t = tasks[i].State;
                var end = t.FirstCommitMs == long.MaxValue ? t.StartMs + PilotAggregator.MsPerDay : t.FirstCommitMs;
                if (prompt.TimeMs >= t.StartMs && prompt.TimeMs <= end)
                {
                    task = tasks[i].Task;
                    break;
                }
            }
        }

        _ = developer;
        return task >= 0 && data.TaskKinds[task] >= 0 ? data.KindNames[data.TaskKinds[task]] : null;
    }

    private static ThinkTimeDistribution Distribution(string kind, List<double> samples)
    {
        samples.Sort();
        double[] ps = [0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99];
        var quantiles = samples.Count == 0 ? [] : ps.Select(p => new ThinkTimeQuantile(p, Math.Round(DifferenceInDifferences.Quantile(samples, p), 3))).ToList();
        LogNormalFit? fit = null;
        if (samples.Count >= 2)
        {
            var logs = samples.Select(x => Math.Log(x)).ToArray();
            var mu = logs.Average();
            var sigma = Math.Sqrt(logs.Sum(l => (l - mu) * (l - mu)) / (logs.Length - 1));
            fit = new LogNormalFit(Math.Round(mu, 4), Math.Round(sigma, 4));
        }

        return new ThinkTimeDistribution(kind, samples.Count, samples.Count > 0 ? Math.Round(samples.Average(), 3) : 0, quantiles, fit);
    }

    private static double? Mean(List<double> values) => values.Count > 0 ? values.Average() : null;

    private static double? Median(List<double> values)
    {
        if (values.Count == 0)
        {
            return null;
        }

        var sorted = values.Order().ToList();
        return DifferenceInDifferences.Quantile(sorted, 0.5);
    }

    private static int Weekdays(int fromDay, int toDay)
    {
        var count = 0;
        for (var day = fromDay; day <= toDay; day++)
        {
            // 1970-01-01 was a Thursday.
            var dow = (int)(((day % 7) + 7 + 4) % 7);
            count += dow is >= 1 and <= 5 ? 1 : 0;
        }

        return count;
    }

    internal static int DayOf(long unixMs) => (int)Math.Floor(unixMs / (double)PilotAggregator.MsPerDay);

    internal static DateOnly ToDate(int day) => DateOnly.FromDayNumber(DateOnly.FromDateTime(DateTime.UnixEpoch).DayNumber + day);
}
