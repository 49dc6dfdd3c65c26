using System.Runtime.InteropServices;

namespace Spark.Eval.Pilot;

/// <summary>One developer's counters for one UTC day.</summary>
internal struct DayCell
{
    public int Events;
    public int Uses;
    public int Prompts;
    public int Shown;
    public int Accepted;
    public int Commits;
    public double WaitMs;
}

/// <summary>A prompt's time and, where the source named it, its task (-1 otherwise).</summary>
internal readonly record struct PromptMark(long TimeMs, int Task);

/// <summary>Everything kept about one developer while streaming: day counters and the marks needed for attribution and think times.</summary>
internal sealed class DeveloperState(string identity)
{
    public string Identity { get; } = identity;
    public Cohort Cohort { get; set; }
    public Cohort CohortFromEvents { get; set; }
    public Dictionary<int, DayCell> Days { get; } = [];
    public long FirstActivityMs { get; set; } = long.MaxValue;
    public long FirstCommitMs { get; set; } = long.MaxValue;
    public long FirstAssistantUseMs { get; set; } = long.MaxValue;
    public List<PromptMark> Prompts { get; } = [];
    public List<long> ApiEndsMs { get; } = [];
}

/// <summary>One (developer, task) pair: when work started and when its first commit landed.</summary>
internal sealed class TaskState
{
    public long StartMs = long.MaxValue;
    public long FirstCommitMs = long.MaxValue;
    public int Prompts;
}

/// <summary>Team-level daily figures from sources without developers (Copilot organisation/team metrics).</summary>
public sealed record TeamDay(DateOnly Day, string Scope, int ActiveUsers, int EngagedUsers, long Suggestions, long Acceptances, long Chats);

/// <summary>
/// Streams normalised events into per-developer, per-day counters. Memory grows with developers × days and with
/// prompts (for task attribution and think times), not with the raw event count.
/// </summary>
public sealed class PilotAggregator
{
    public const long MsPerDay = 86_400_000;

    private readonly Dictionary<string, int> _developerIds = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _developerLookup;
    private readonly Dictionary<string, int> _taskIds = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _taskLookup;
    private readonly List<string> _taskNames = [];
    private readonly List<int> _taskKinds = [];
    private readonly List<string> _kindNames = [];
    private readonly Dictionary<long, TaskState> _tasks = [];
    private readonly IdentityMap _authors;

    public PilotAggregator(IdentityMap? authors = null, CohortMap? cohorts = null)
    {
        _developerLookup = _developerIds.GetAlternateLookup<ReadOnlySpan<char>>();
        _taskLookup = _taskIds.GetAlternateLookup<ReadOnlySpan<char>>();
        _authors = authors ?? IdentityMap.Empty;
        Cohorts = cohorts;
    }

    public CohortMap? Cohorts { get; }

    internal List<DeveloperState> Developers { get; } = [];

    internal IReadOnlyDictionary<long, TaskState> Tasks => _tasks;

    internal IReadOnlyList<string> KindNames => _kindNames;

    internal IReadOnlyList<int> TaskKinds => _taskKinds;

    public List<TeamDay> TeamDays { get; } = [];

    public long EventCount { get; private set; }

    public long MinTimeMs { get; private set; } = long.MaxValue;

    public long MaxTimeMs { get; private set; } = long.MinValue;

    /// <summary>The developer index for an identity from any source, after the author mapping (case-insensitive).</summary>
    public int Developer(ReadOnlySpan<char> identity)
    {
        identity = identity.Trim();
        if (_developerLookup.TryGetValue(identity, out var id))
        {
            return id;
        }

        var raw = identity.ToString();
        var canonical = _authors.Resolve(raw);
        if (!_developerIds.TryGetValue(canonical, out id))
        {
            id = Developers.Count;
            var state = new DeveloperState(canonical);
            if (Cohorts?.Find(canonical) is { } cohort)
            {
                state.Cohort = cohort;
            }

            Developers.Add(state);
            _developerIds[canonical] = id;
        }

        _developerIds[raw] = id;
        return id;
    }

    /// <summary>The task index for a task key (issue key, ticket id); keys are case-sensitive.</summary>
    public int Task(ReadOnlySpan<char> key)
    {
        if (_taskLookup.TryGetValue(key, out var id))
        {
            return id;
        }

        id = _taskNames.Count;
        var name = key.ToString();
        _taskNames.Add(name);
        _taskKinds.Add(-1);
        _taskIds[name] = id;
        return id;
    }

    /// <summary>Records a task's kind (stub, refactor, tests, …) for think-time distributions.</summary>
    public void SetTaskKind(int task, ReadOnlySpan<char> kind)
    {
        if (kind.IsEmpty || _taskKinds[task] >= 0)
        {
            return;
        }

        var name = kind.ToString();
        var index = _kindNames.IndexOf(name);
        if (index < 0)
        {
            index = _kindNames.Count;
            _kindNames.Add(name);
        }

        _taskKinds[task] = index;
    }

    /// <summary>A cohort stated by an event source; the cohort map, when given, wins.</summary>
    public void SetCohortFromEvents(int developer, Cohort cohort)
    {
        var state = Developers[developer];
        state.CohortFromEvents = cohort;
    }

    public void Add(int developer, long timeMs, PilotEventKind kind, int task = -1, double durationMs = 0, int count = 1)
    {
        EventCount++;
        if (timeMs < MinTimeMs)
        {
            MinTimeMs = timeMs;
        }

        if (timeMs > MaxTimeMs)
        {
            MaxTimeMs = timeMs;
        }

        var dev = Developers[developer];
        var day = (int)Math.Floor(timeMs / (double)MsPerDay);
        ref var cell = ref CollectionsMarshal.GetValueRefOrAddDefault(dev.Days, day, out _);
        cell.Events++;
        if (timeMs < dev.FirstActivityMs)
        {
            dev.FirstActivityMs = timeMs;
        }

        switch (kind)
        {
            case PilotEventKind.TaskStart when task >= 0:
                {
                    var state = TaskFor(developer, task);
                    state.StartMs = Math.Min(state.StartMs, timeMs);
                    break;
                }

            case PilotEventKind.Prompt:
                cell.Prompts += count;
                cell.Uses += count;
                dev.Prompts.Add(new PromptMark(timeMs, task));
                AssistantUse(dev, timeMs);
                break;
            case PilotEventKind.Interaction:
                cell.Uses += count;
                if (count > 0)
                {
                    AssistantUse(dev, timeMs);
                }

                break;
            case PilotEventKind.ApiRequest:
                cell.WaitMs += durationMs;
                dev.ApiEndsMs.Add(timeMs + (long)durationMs);
                AssistantUse(dev, timeMs);
                break;
            case PilotEventKind.SuggestionShown:
                cell.Shown += count;
                break;
            case PilotEventKind.SuggestionAccepted:
                cell.Accepted += count;
                if (count > 0)
                {
                    AssistantUse(dev, timeMs);
                }

                break;
            case PilotEventKind.Commit:
                cell.Commits += count;
                if (timeMs < dev.FirstCommitMs)
                {
                    dev.FirstCommitMs = timeMs;
                }

                if (task >= 0)
                {
                    var state = TaskFor(developer, task);
                    state.FirstCommitMs = Math.Min(state.FirstCommitMs, timeMs);
                }

                break;
            case PilotEventKind.SessionStart:
            case PilotEventKind.Activity:
            default:
                break;
        }
    }

    private static void AssistantUse(DeveloperState dev, long timeMs)
    {
        if (timeMs < dev.FirstAssistantUseMs)
        {
            dev.FirstAssistantUseMs = timeMs;
        }
    }

    private TaskState TaskFor(int developer, int task)
    {
        var key = ((long)developer << 32) | (uint)task;
        ref var state = ref CollectionsMarshal.GetValueRefOrAddDefault(_tasks, key, out var exists);
        if (!exists)
        {
            state = new TaskState();
        }

        return state!;
    }
}
