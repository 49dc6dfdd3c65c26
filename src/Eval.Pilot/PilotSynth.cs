using System.Globalization;
using System.Text;
using System.Text.Json;
using Spark.Eval.Core;

namespace Spark.Eval.Pilot;

/// <summary>How synthetic pilot telemetry is generated; the planted effect is on time-to-first-commit per task.</summary>
public sealed record PilotSynthOptions
{
    public int Developers { get; init; } = 20;

    public int Days { get; init; } = 60;

    public int Seed { get; init; } = 1;

    /// <summary>Planted difference-in-differences on time-to-first-commit per task, in minutes (negative: the pilot got faster).</summary>
    public double EffectMinutes { get; init; } = -30;

    /// <summary>Everyone's time-to-first-commit moves by this much in the second half (a common trend DiD must remove).</summary>
    public double TrendMinutes { get; init; } = 10;

    /// <summary>First day of the data (UTC); the pilot starts at the middle day.</summary>
    public DateOnly Start { get; init; } = new(2026, 1, 5);

    /// <summary>Editor activity heartbeats every this many working minutes (0: none); raises the event count for benchmarks.</summary>
    public double HeartbeatMinutes { get; init; }

    /// <summary>Emit inline-suggestion events for pilot developers during the pilot.</summary>
    public bool Suggestions { get; init; } = true;

    public DateOnly PilotStart => Start.AddDays(Days / 2);

    public void Validate()
    {
        if (Developers is < 4 or > 100_000)
        {
            throw new InputException($"--developers {Developers}: out of range. Fix: give 4 to 100000 (two cohorts of at least 2).");
        }

        if (Days is < 4 or > 3650)
        {
            throw new InputException($"--days {Days}: out of range. Fix: give 4 to 3650 days.");
        }

        if (EffectMinutes < -50 || EffectMinutes > 600 || !double.IsFinite(EffectMinutes))
        {
            throw new InputException($"--effect {EffectMinutes}: out of range. Fix: give −50 to 600 minutes (the fastest baseline is 60 minutes).");
        }

        if (HeartbeatMinutes < 0 || (HeartbeatMinutes > 0 && HeartbeatMinutes < 0.1))
        {
            throw new InputException($"--heartbeat-minutes {HeartbeatMinutes}: out of range. Fix: give 0 (none) or at least 0.1.");
        }
    }
}

/// <summary>One synthetic developer: the identities each source uses, the cohort and the assistant tool.</summary>
public sealed record SynthDeveloper(int Index, string Email, string Login, Cohort Cohort, string Tool);

/// <summary>One synthetic event, before it is written in any format.</summary>
public readonly record struct SynthEvent(int Developer, long TimeMs, PilotEventKind Kind, string? Task, string? TaskKind, double DurationMs, int Count);

/// <summary>The files one synth run wrote and how many events they carry.</summary>
public sealed record SynthResult(IReadOnlyList<string> Files, long Events, DateOnly PilotStart);

/// <summary>
/// Realistic synthetic pilot telemetry with a planted effect (seeded): developers with their own baselines, a common
/// trend, tasks with prompt bursts and think times per task kind, commits naming tasks, inline suggestions.
/// </summary>
public static class PilotSynth
{
    public static readonly string[] TaskKinds = ["stub", "refactor", "tests", "explain", "fix"];

    // Median think time (seconds) per task kind: reading an explanation takes longer than accepting a stub.
    private static readonly double[] ThinkMedianSeconds = [30, 60, 45, 90, 40];

    public static readonly string[] FileFormats = ["csv", "jsonl", "sources"];

    public static IReadOnlyList<SynthDeveloper> DevelopersFor(PilotSynthOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        string[] tools = ["claude-code", "codex", "genai"];
        return [.. Enumerable.Range(0, options.Developers).Select(i => new SynthDeveloper(
            i, $"dev{i:0000}@corp.example", $"dev{i:0000}-gh", i % 2 == 0 ? Cohort.Pilot : Cohort.Control, i % 2 == 0 ? tools[(i / 2) % 3] : "none"))];
    }

    /// <summary>Generates every event, developer by developer, each developer's days in time order.</summary>
    public static IEnumerable<SynthEvent> Generate(PilotSynthOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var developers = DevelopersFor(options);
        var epochDay = DateOnly.FromDateTime(DateTime.UnixEpoch).DayNumber;
        var startDay = options.Start.DayNumber - epochDay;
        var pilotDay = options.PilotStart.DayNumber - epochDay;
        var dayEvents = new List<SynthEvent>();
        foreach (var dev in developers)
        {
            // One stream per developer: a developer's telemetry does not depend on how many others there are.
            var random = new Random(StreamSeed(options.Seed, dev.Index));
            var baseline = 60 + (random.NextDouble() * 120);
            var presence = 0.75 + (random.NextDouble() * 0.2);
            var acceptance = 0.2 + (random.NextDouble() * 0.2);
            var taskCounter = 0;
            for (var day = startDay; day < startDay + options.Days; day++)
            {
                var dow = (((day % 7) + 7 + 4) % 7);
                if (dow is 0 or 6 || random.NextDouble() > presence)
                {
                    continue;
                }

                dayEvents.Clear();
                var during = day >= pilotDay;
                var assisted = during && dev.Cohort == Cohort.Pilot;
                var dayMs = day * PilotAggregator.MsPerDay;
                var workStart = dayMs + (long)((8.5 + random.NextDouble()) * 3_600_000);
                if (options.HeartbeatMinutes > 0)
                {
                    var step = (long)(options.HeartbeatMinutes * 60_000);
                    for (var t = workStart; t < workStart + (8 * 3_600_000L); t += step)
                    {
                        dayEvents.Add(new SynthEvent(dev.Index, t, PilotEventKind.Activity, null, null, 0, 1));
                    }
                }

                if (assisted)
                {
                    dayEvents.Add(new SynthEvent(dev.Index, workStart, PilotEventKind.SessionStart, null, null, 0, 1));
                }

                var tasks = 1 + random.Next(3);
                for (var k = 0; k < tasks; k++)
                {
                    var key = $"T{dev.Index:0000}-{++taskCounter}";
                    var kindIndex = random.Next(TaskKinds.Length);
                    var kind = TaskKinds[kindIndex];
                    var start = workStart + (long)(random.NextDouble() * 7 * 3_600_000);
                    var minutes = baseline + (during ? options.TrendMinutes : 0) + (assisted ? options.EffectMinutes : 0) + Exponential(random, 30);
                    var commit = start + (long)(minutes * 60_000);
                    var abandoned = random.NextDouble() < 0.05;
                    dayEvents.Add(new SynthEvent(dev.Index, start, PilotEventKind.TaskStart, key, kind, 0, 1));
                    if (assisted)
                    {
                        var t = start + (long)(random.NextDouble() * 600_000);
                        var prompts = 1 + Poisson(random, 4);
                        for (var j = 0; j < prompts && (abandoned || t < commit); j++)
                        {
                            var wait = LogNormal(random, 2500, 0.6);
                            dayEvents.Add(new SynthEvent(dev.Index, t, PilotEventKind.Prompt, key, kind, 0, 1));
                            dayEvents.Add(new SynthEvent(dev.Index, t + 150, PilotEventKind.ApiRequest, key, kind, Math.Round(wait), 1));
                            t += 150 + (long)wait + (long)(LogNormal(random, ThinkMedianSeconds[kindIndex], 0.8) * 1000);
                        }
                    }

                    if (!abandoned)
                    {
                        dayEvents.Add(new SynthEvent(dev.Index, commit, PilotEventKind.Commit, key, kind, 0, 1));
                    }
                }

                var chores = Poisson(random, 0.7);
                for (var c = 0; c < chores; c++)
                {
                    dayEvents.Add(new SynthEvent(dev.Index, workStart + (long)(random.NextDouble() * 8 * 3_600_000), PilotEventKind.Commit, null, null, 0, 1));
                }

                if (assisted && options.Suggestions)
                {
                    var shown = Poisson(random, 25);
                    for (var s = 0; s < shown; s++)
                    {
                        var t = workStart + (long)(random.NextDouble() * 8 * 3_600_000);
                        dayEvents.Add(new SynthEvent(dev.Index, t, PilotEventKind.SuggestionShown, null, null, 0, 1));
                        if (random.NextDouble() < acceptance)
                        {
                            dayEvents.Add(new SynthEvent(dev.Index, t + 800, PilotEventKind.SuggestionAccepted, null, null, 0, 1));
                        }
                    }
                }

                dayEvents.Sort((a, b) => a.TimeMs.CompareTo(b.TimeMs));
                foreach (var e in dayEvents)
                {
                    yield return e;
                }
            }
        }
    }

    /// <summary>Feeds generated events straight into an aggregator (calibration tests: no files).</summary>
    public static PilotAggregator Aggregate(PilotSynthOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var developers = DevelopersFor(options);
        var sink = new PilotAggregator();
        var ids = developers.Select(d => sink.Developer(d.Email)).ToArray();
        foreach (var d in developers)
        {
            sink.SetCohortFromEvents(ids[d.Index], d.Cohort);
        }

        foreach (var e in Generate(options))
        {
            var task = -1;
            if (e.Task is not null)
            {
                task = sink.Task(e.Task);
                sink.SetTaskKind(task, e.TaskKind);
            }

            sink.Add(ids[e.Developer], e.TimeMs, e.Kind, task, e.DurationMs, e.Count);
        }

        return sink;
    }

    /// <summary>
    /// Writes the telemetry: <c>csv</c> → events.csv, <c>jsonl</c> → events.jsonl (both the plain format, every event),
    /// <c>sources</c> → sources/ with the same pilot split the way real tools record it (task starts, git log, Claude Code /
    /// Codex OTLP logs, GenAI spans, Copilot per-user and organisation metrics, cohorts and authors maps).
    /// </summary>
    public static SynthResult Write(PilotSynthOptions options, string directory, IReadOnlyCollection<string> formats)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(formats);
        options.Validate();
        foreach (var f in formats)
        {
            if (!FileFormats.Contains(f, StringComparer.Ordinal))
            {
                throw new InputException($"--formats: '{f}' is not a synth format. Fix: use any of {string.Join(", ", FileFormats)}.");
            }
        }

        Directory.CreateDirectory(directory);
        var developers = DevelopersFor(options);
        using var writers = new SynthWriters(directory, formats, developers);
        long events = 0;
        foreach (var e in Generate(options))
        {
            writers.Write(e);
            events++;
        }

        writers.Finish(options);
        return new SynthResult(writers.Files, events, options.PilotStart);
    }

    /// <summary>A deterministic per-developer seed (SplitMix64 finaliser): HashCode.Combine is randomised per process.</summary>
    internal static int StreamSeed(int seed, int developer)
    {
        unchecked
        {
            var z = ((ulong)(uint)seed << 32 | (uint)developer) + 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return (int)(z ^ (z >> 31));
        }
    }

    private static double Exponential(Random random, double mean) => -mean * Math.Log(1 - random.NextDouble());

    private static double LogNormal(Random random, double median, double sigma)
    {
        var u1 = 1 - random.NextDouble();
        var u2 = random.NextDouble();
        var z = Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
        return median * Math.Exp(sigma * z);
    }

    private static int Poisson(Random random, double mean)
    {
        var limit = Math.Exp(-mean);
        var k = 0;
        var p = random.NextDouble();
        while (p > limit && k < 1000)
        {
            k++;
            p *= random.NextDouble();
        }

        return k;
    }

    internal static string Iso(long unixMs) =>
        DateTimeOffset.FromUnixTimeMilliseconds(unixMs).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    internal static string EventName(PilotEventKind kind) => kind switch
    {
        PilotEventKind.TaskStart => "task_start",
        PilotEventKind.Prompt => "prompt",
        PilotEventKind.ApiRequest => "api_request",
        PilotEventKind.SuggestionShown => "suggestion_shown",
        PilotEventKind.SuggestionAccepted => "suggestion_accepted",
        PilotEventKind.Commit => "commit",
        PilotEventKind.SessionStart => "session_start",
        PilotEventKind.Interaction => "interaction",
        _ => "activity",
    };

    /// <summary>The open writers of one synth run.</summary>
    private sealed class SynthWriters : IDisposable
    {
        private static readonly string[] Verbs = ["fix", "add", "refactor", "test", "document"];
        private readonly IReadOnlyList<SynthDeveloper> _developers;
        private readonly string _directory;
        private readonly StreamWriter? _csv;
        private readonly StreamWriter? _jsonl;
        private readonly bool _sources;
        private readonly StreamWriter? _tasks;
        private readonly StreamWriter? _claude;
        private readonly StreamWriter? _codex;
        private readonly StreamWriter? _genai;
        private readonly List<(long Time, string Line)> _commits = [];
        private readonly Dictionary<(int Dev, int Day), (int Shown, int Accepted)> _copilot = [];
        private readonly List<SynthEvent> _batch = [];
        private int _batchKey = -1;
        private int _spanCounter;

        public SynthWriters(string directory, IReadOnlyCollection<string> formats, IReadOnlyList<SynthDeveloper> developers)
        {
            _developers = developers;
            _directory = directory;
            if (formats.Contains("csv"))
            {
                _csv = Open(Path.Combine(directory, "events.csv"));
                _csv.WriteLine("developer,timestamp,event,task,cohort,kind,duration_ms,count");
            }

            if (formats.Contains("jsonl"))
            {
                _jsonl = Open(Path.Combine(directory, "events.jsonl"));
            }

            _sources = formats.Contains("sources");
            if (_sources)
            {
                var sources = Path.Combine(directory, "sources");
                Directory.CreateDirectory(sources);
                _tasks = Open(Path.Combine(sources, "tasks.csv"));
                _tasks.WriteLine("developer,timestamp,event,task,cohort,kind");
                _claude = Open(Path.Combine(sources, "claude-code.otlp.jsonl"));
                _codex = Open(Path.Combine(sources, "codex.otlp.jsonl"));
                _genai = Open(Path.Combine(sources, "genai-spans.otlp.jsonl"));
            }
        }

        public List<string> Files { get; } = [];

        private StreamWriter Open(string path)
        {
            Files.Add(path);
            return new StreamWriter(path, false, new UTF8Encoding(false), 1 << 16) { NewLine = "\n" };
        }

        public void Write(in SynthEvent e)
        {
            var dev = _developers[e.Developer];
            var cohort = dev.Cohort == Cohort.Pilot ? "pilot" : "control";
            var time = Iso(e.TimeMs);
            var name = EventName(e.Kind);
            if (_csv is not null)
            {
                _csv.Write(dev.Email);
                _csv.Write(',');
                _csv.Write(time);
                _csv.Write(',');
                _csv.Write(name);
                _csv.Write(',');
                _csv.Write(e.Task);
                _csv.Write(',');
                _csv.Write(cohort);
                _csv.Write(',');
                _csv.Write(e.TaskKind);
                _csv.Write(',');
                if (e.Kind == PilotEventKind.ApiRequest)
                {
                    _csv.Write(e.DurationMs.ToString("0", CultureInfo.InvariantCulture));
                }

                _csv.Write(',');
                _csv.Write(e.Count.ToString(CultureInfo.InvariantCulture));
                _csv.Write('\n');
            }

            if (_jsonl is not null)
            {
                var row = new PlainEventRow
                {
                    Developer = dev.Email, Timestamp = time, Event = name, Task = e.Task, Cohort = cohort, Kind = e.TaskKind,
                    DurationMs = e.Kind == PilotEventKind.ApiRequest ? e.DurationMs : null, Count = e.Count == 1 ? null : e.Count,
                };
                _jsonl.WriteLine(JsonSerializer.Serialize(row, PilotCompactJsonContext.Default.PlainEventRow));
            }

            if (_sources)
            {
                WriteSource(dev, e, time);
            }
        }

        private void WriteSource(SynthDeveloper dev, in SynthEvent e, string time)
        {
            switch (e.Kind)
            {
                case PilotEventKind.TaskStart:
                    _tasks!.WriteLine($"{dev.Email},{time},task_start,{e.Task},{(dev.Cohort == Cohort.Pilot ? "pilot" : "control")},{e.TaskKind}");
                    break;
                case PilotEventKind.Commit:
                    {
                        var hash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes($"{dev.Email}|{e.TimeMs}|{e.Task}|{_commits.Count}")))[..40];
                        var subject = e.Task is null ? "chore: tidy build scripts" : $"{e.Task}: {Verbs[_commits.Count % Verbs.Length]} {e.TaskKind} work";
                        var offset = DateTimeOffset.FromUnixTimeMilliseconds(e.TimeMs).ToString("yyyy-MM-dd'T'HH:mm:ss'+00:00'", CultureInfo.InvariantCulture);
                        _commits.Add((e.TimeMs, $"{hash}\t{offset}\t{dev.Email}\tDeveloper {dev.Index:0000}\t{subject}"));
                        break;
                    }

                case PilotEventKind.SuggestionShown:
                case PilotEventKind.SuggestionAccepted:
                    {
                        var key = (dev.Index, PilotAnalysis.DayOf(e.TimeMs));
                        _copilot.TryGetValue(key, out var c);
                        _copilot[key] = e.Kind == PilotEventKind.SuggestionShown ? (c.Shown + e.Count, c.Accepted) : (c.Shown, c.Accepted + e.Count);
                        break;
                    }

                case PilotEventKind.Prompt:
                case PilotEventKind.ApiRequest:
                case PilotEventKind.SessionStart:
                    Batch(dev, e);
                    break;
                default:
                    break;
            }
        }

        // Assistant events go out as one OTLP export request per developer and day, as a collector's file exporter batches them.
        private void Batch(SynthDeveloper dev, in SynthEvent e)
        {
            var key = (dev.Index * 100_000) + PilotAnalysis.DayOf(e.TimeMs) % 100_000;
            if (key != _batchKey)
            {
                FlushBatch();
                _batchKey = key;
            }

            _batch.Add(e);
        }

        private void FlushBatch()
        {
            if (_batch.Count == 0)
            {
                return;
            }

            var dev = _developers[_batch[0].Developer];
            switch (dev.Tool)
            {
                case "claude-code":
                    _claude!.WriteLine(OtlpSamples.ClaudeCodeLogs(dev.Email, _batch));
                    break;
                case "codex":
                    _codex!.WriteLine(OtlpSamples.CodexLogs(dev.Email, _batch));
                    break;
                default:
                    _genai!.WriteLine(OtlpSamples.GenAiSpans(dev.Login, _batch, ref _spanCounter));
                    break;
            }

            _batch.Clear();
        }

        public void Finish(PilotSynthOptions options)
        {
            if (!_sources)
            {
                return;
            }

            FlushBatch();
            var sources = Path.Combine(_directory, "sources");
            _commits.Sort((a, b) => b.Time.CompareTo(a.Time));
            var gitlog = Path.Combine(sources, "repo.gitlog");
            File.WriteAllLines(gitlog, _commits.Select(c => c.Line));
            Files.Add(gitlog);

            var users = Path.Combine(sources, "copilot-users.ndjson");
            File.WriteAllLines(users, _copilot.OrderBy(c => c.Key.Day).ThenBy(c => c.Key.Dev).Select(c => OtlpSamples.CopilotUserRecord(_developers[c.Key.Dev], c.Key.Day, c.Value.Shown, c.Value.Accepted)));
            Files.Add(users);

            var org = Path.Combine(sources, "copilot-metrics.json");
            File.WriteAllText(org, OtlpSamples.CopilotOrgMetrics(_copilot));
            Files.Add(org);

            var cohorts = Path.Combine(sources, "cohorts.csv");
            File.WriteAllLines(cohorts, ["developer,cohort", .. _developers.Select(d => $"{d.Email},{(d.Cohort == Cohort.Pilot ? "pilot" : "control")}")]);
            Files.Add(cohorts);

            var authors = Path.Combine(sources, "authors.csv");
            File.WriteAllLines(authors, ["identity,developer", .. _developers.Select(d => $"{d.Login},{d.Email}")]);
            Files.Add(authors);
            _ = options;
        }

        public void Dispose()
        {
            _csv?.Dispose();
            _jsonl?.Dispose();
            _tasks?.Dispose();
            _claude?.Dispose();
            _codex?.Dispose();
            _genai?.Dispose();
        }
    }
}
