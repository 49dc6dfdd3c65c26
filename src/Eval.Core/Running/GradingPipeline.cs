using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Threading.Channels;
using Spark.Eval.Core.Backends;
using Spark.Eval.Core.Results;

namespace Spark.Eval.Core.Running;

/// <summary>When grading runs relative to generation: after it, or concurrently through a bounded queue.</summary>
public enum GradingMode
{
    After,
    Concurrent,
}

/// <summary>
/// The rule of docs/grading.md, "When grading runs": a backend that shares this machine's CPU (local runtime, simulated
/// backends, an <c>openai</c> URL on loopback, any kind not known to be remote) is graded after generation; a run whose
/// backends are all remote is graded concurrently.
/// </summary>
public static class GradingModeRule
{
    public static (GradingMode Mode, string Reason) Resolve(string option, IReadOnlyList<BackendInfo> backends)
    {
        ArgumentNullException.ThrowIfNull(backends);
        switch (option)
        {
            case "after":
                return (GradingMode.After, "--grading after");
            case "concurrent":
                return (GradingMode.Concurrent, "--grading concurrent");
            case "auto":
                var local = backends.Select(b => (b.Name, Why: SharesThisMachine(b))).Where(x => x.Why is not null).ToList();
                return local.Count == 0
                    ? (GradingMode.Concurrent, "auto: every backend is remote")
                    : (GradingMode.After, "auto: " + string.Join("; ", local.Select(x => $"{x.Name} {x.Why}")));
            default:
                throw new InputException($"--grading {option}: unknown mode. Fix: use after, concurrent or auto");
        }
    }

    /// <summary>Why the backend shares this machine's CPU, or null when it is remote.</summary>
    public static string? SharesThisMachine(BackendInfo backend)
    {
        ArgumentNullException.ThrowIfNull(backend);
        if (backend.Simulated)
        {
            return "is simulated on this machine";
        }

        if (backend.Kind != "openai")
        {
            return $"is a {backend.Kind} backend (runs on this machine)";
        }

        var url = BackendSpec.Parse(backend.Spec).GetString("url");
        if (url is null || !Uri.TryCreate(url, UriKind.Absolute, out var uri))
        {
            return "has no readable url (treated as local)";
        }

        var host = uri.Host.Trim('[', ']');
        return host.Equals("localhost", StringComparison.OrdinalIgnoreCase) || (IPAddress.TryParse(host, out var ip) && IPAddress.IsLoopback(ip))
            ? $"is served on loopback ({uri.Host})"
            : null;
    }
}

/// <summary>A grader and when it runs: what <see cref="EvaluationRun"/> needs to grade a run.</summary>
public sealed record GradingPlan(IAttemptGrader Grader, GradingMode Mode, string Reason);

/// <summary>
/// Grades attempts with <see cref="Parallelism"/> workers reading a bounded channel of <see cref="QueueCapacity"/>
/// attempts. In concurrent mode each finished attempt is offered with a non-blocking <see cref="Offer"/> (a full queue never
/// slows generation: the attempt is graded after generation instead); every attempt not graded during generation is graded
/// by <see cref="FinishAsync"/>. Identical answers to a task are graded once per pipeline.
/// </summary>
public sealed class GradingPipeline : IAttemptObserver, IAsyncDisposable
{
    public const int QueueCapacity = 64;
    public const int Parallelism = 2;

    private readonly IAttemptGrader _grader;
    private readonly TimeProvider _time;
    private readonly long? _clockOrigin;
    private readonly string _mode;
    private readonly Channel<AttemptRecord> _queue;
    private readonly ConcurrentDictionary<string, Lazy<Task<AttemptGrade>>> _cache = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<long, AttemptGrade> _grades = new();
    /// <summary>For each grade that started before generation was marked finished: how many attempts had finished by then.</summary>
    private readonly ConcurrentDictionary<long, int> _finishedAtEarlyStart = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task[] _workers;
    private int _finished, _deferred, _queued, _startedDuringGeneration, _generating = 1;

    /// <summary>Starts the workers (concurrent mode); <paramref name="clockOrigin"/> is a <see cref="TimeProvider"/> timestamp taken just
    /// before generation started: grade times are recorded in µs from it (null: no times, as in <c>spark-eval grade</c>).</summary>
    public GradingPipeline(IAttemptGrader grader, GradingMode mode, TimeProvider time, long? clockOrigin)
    {
        ArgumentNullException.ThrowIfNull(grader);
        _grader = grader;
        _time = time;
        _clockOrigin = clockOrigin;
        _mode = mode == GradingMode.Concurrent ? "concurrent" : "after";
        _queue = Channel.CreateBounded<AttemptRecord>(new BoundedChannelOptions(QueueCapacity) { SingleWriter = false, SingleReader = false, FullMode = BoundedChannelFullMode.Wait });
        _workers = mode == GradingMode.Concurrent ? [.. Enumerable.Range(0, Parallelism).Select(_ => Task.Run(WorkAsync))] : [];
    }

    public IAttemptGrader Grader => _grader;

    /// <summary>Attempts offered but not queued because the queue was full (graded after generation instead).</summary>
    public int Deferred => Volatile.Read(ref _deferred);

    /// <summary>Attempts queued for grading while generation went on.</summary>
    public int Queued => Volatile.Read(ref _queued);

    /// <summary>Grades that started while an attempt was still running (the overlap concurrent mode buys); final once <see cref="FinishAsync"/> returns.</summary>
    public int StartedDuringGeneration => Volatile.Read(ref _startedDuringGeneration);

    /// <summary>Marks the end of generation: grades starting from now on are not counted as overlapping it.</summary>
    public void MarkGenerationFinished() => Volatile.Write(ref _generating, 0);

    void IAttemptObserver.OnAttempt(AttemptRecord attempt) => Offer(attempt);

    /// <summary>
    /// Called with every attempt as it ends (on the runner's thread): counts it and, in concurrent mode, queues it for
    /// grading without ever waiting. Returns true when it was queued.
    /// </summary>
    public bool Offer(AttemptRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        Interlocked.Increment(ref _finished);
        if (_workers.Length == 0 || !Gradable(record))
        {
            return false;
        }

        if (_queue.Writer.TryWrite(record))
        {
            Interlocked.Increment(ref _queued);
            return true;
        }

        Interlocked.Increment(ref _deferred);
        return false;
    }

    /// <summary>Counts the gradable attempts of <paramref name="records"/> (ok, measured, a task the grader knows).</summary>
    public int CountGradable(IEnumerable<AttemptRecord> records) => records.Count(Gradable);

    /// <summary>Waits for the queue to drain, grades every gradable attempt not graded yet, and returns the grades by sequence.</summary>
    public async Task<IReadOnlyDictionary<long, AttemptGrade>> FinishAsync(IReadOnlyList<AttemptRecord> records, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(records);
        MarkGenerationFinished();
        _queue.Writer.TryComplete();
        using (cancellationToken.Register(_stop.Cancel))
        {
            try
            {
                await Task.WhenAll(_workers);
                var rest = records.Where(r => Gradable(r) && !_grades.ContainsKey(r.Sequence)).ToList();
                await Parallel.ForEachAsync(rest, new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = _stop.Token },
                    async (record, token) => _grades[record.Sequence] = await GradeAsync(record, queued: false, token));
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                // Stopped (Ctrl+C, SIGTERM): say so to the caller with its own token.
                cancellationToken.ThrowIfCancellationRequested();
                throw;
            }
        }

        // A grade overlapped generation only if some attempt was still running when it started. The runner marks the end
        // after its last attempt was handed over, so a grade may start between the two (the last attempt's own, say):
        // every attempt had finished by then, and it did not overlap.
        var total = Volatile.Read(ref _finished);
        foreach (var (sequence, finishedAtStart) in _finishedAtEarlyStart)
        {
            if (finishedAtStart >= total && _grades.TryGetValue(sequence, out var grade) && grade.Grading is { } grading)
            {
                _grades[sequence] = grade with { Grading = grading with { StartedDuringGeneration = false } };
            }
        }

        _startedDuringGeneration = _finishedAtEarlyStart.Values.Count(n => n < total);
        return _grades;
    }

    private async Task WorkAsync()
    {
        await foreach (var record in _queue.Reader.ReadAllAsync(_stop.Token))
        {
            _grades[record.Sequence] = await GradeAsync(record, queued: true, _stop.Token);
        }
    }

    private bool Gradable(AttemptRecord record) =>
        record.Outcome.Status == AttemptStatus.Ok && !record.Slot.Warmup && _grader.CanGrade(record);

    private async Task<AttemptGrade> GradeAsync(AttemptRecord record, bool queued, CancellationToken cancellationToken)
    {
        var start = _time.GetTimestamp();
        var attemptsDone = Volatile.Read(ref _finished);
        // Provisional: FinishAsync keeps it only where an attempt was still running (see there).
        var duringGeneration = Volatile.Read(ref _generating) == 1;
        if (duringGeneration)
        {
            _finishedAtEarlyStart[record.Sequence] = attemptsDone;
        }

        // Identical answers to the same task make identical programs (and judge prompts): grade each once per pipeline.
        var key = record.Slot.TaskId + "\n" + AnswerHash(record.Answer);
        var reused = true;
        var lazy = _cache.GetOrAdd(key, _ => new Lazy<Task<AttemptGrade>>(() =>
        {
            reused = false;
            return _grader.GradeAsync(record, cancellationToken);
        }));
        var grade = await lazy.Value;
        var grading = new GradeTiming { Mode = _mode, Queued = queued, StartedDuringGeneration = duringGeneration, Reused = reused };
        if (_clockOrigin is { } origin)
        {
            grading = grading with
            {
                StartUs = Us(start - origin),
                EndUs = Us(_time.GetTimestamp() - origin),
                AttemptsFinishedAtStart = attemptsDone,
            };
        }

        return grade with { Grading = grading };
    }

    private static string AnswerHash(string answer) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(answer.Replace("\r\n", "\n", StringComparison.Ordinal).Trim())));

    private long Us(long ticks) => (long)(ticks * 1_000_000.0 / _time.TimestampFrequency);

    /// <summary>Stops the workers (an interrupted run writes no grades) and waits for them.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _queue.Writer.TryComplete();
        try
        {
            await Task.WhenAll(_workers);
        }
        catch (OperationCanceledException)
        {
        }

        _stop.Dispose();
    }
}
