namespace Spark.Eval.Core.Results;

/// <summary>Where a resumed run stands: the slots already done, the records kept (in file order), and where sequence numbers and times continue.</summary>
public sealed record ResumeState(IReadOnlySet<SlotKey> Completed, IReadOnlyList<AttemptRecord> Records, long NextSequence, long BaseOffsetUs)
{
    public static ResumeState Empty { get; } = new(new HashSet<SlotKey>(), [], 0, 0);
}

/// <summary>
/// A run directory opened for writing by this process alone (<see cref="RunLock"/>): its manifest, and its attempts so far,
/// read once. <see cref="Create"/> starts a run, <see cref="Resume"/> finishes one, <see cref="Open"/> re-grades or
/// re-summarises one.
/// </summary>
public sealed class RunStore : IDisposable
{
    public const string InterruptedFileName = "interrupted.jsonl";
    private readonly RunLock _lock;

    private RunStore(RunDirectory directory, RunManifest manifest, ResumeState state, RunLock runLock)
    {
        Directory = directory;
        Manifest = manifest;
        State = state;
        _lock = runLock;
    }

    public RunDirectory Directory { get; }

    /// <summary>The manifest as last written.</summary>
    public RunManifest Manifest { get; private set; }

    /// <summary>The records already in attempts.jsonl when the store was opened (repaired), and where a resume continues.</summary>
    public ResumeState State { get; }

    /// <summary>Creates <paramref name="outDir"/> (default results/&lt;run-id&gt;), which must be new or empty, locks it and writes the manifest.</summary>
    public static RunStore Create(string? outDir, RunManifest manifest)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        outDir ??= Path.Combine("results", manifest.RunId);
        if (System.IO.Directory.Exists(outDir) && System.IO.Directory.EnumerateFileSystemEntries(outDir).Any())
        {
            throw new InputException($"--out {outDir}: the directory exists and is not empty. Fix: choose a new directory, or use --resume {outDir} to finish that run");
        }

        var existed = System.IO.Directory.Exists(outDir);
        try
        {
            System.IO.Directory.CreateDirectory(outDir);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new InputException($"--out {outDir}: cannot create the run directory ({ex.Message}). Fix: pass a writable path", ex);
        }

        RunLock? runLock = null;
        try
        {
            runLock = RunLock.Acquire(outDir);
            var directory = new RunDirectory(outDir);
            directory.WriteManifest(manifest);
            return new RunStore(directory, manifest, ResumeState.Empty, runLock);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // The run cannot start (disk full, read-only): leave nothing half-written behind.
            runLock?.Dispose();
            RemoveHalfWritten(outDir, existed);
            throw new InputException($"--out {outDir}: cannot write the run directory ({ex.Message}). Fix: free disk space or pass a writable path", ex);
        }
    }

    private static void RemoveHalfWritten(string outDir, bool existed)
    {
        try
        {
            if (existed)
            {
                foreach (var entry in new DirectoryInfo(outDir).EnumerateFileSystemInfos())
                {
                    if (entry is DirectoryInfo d)
                    {
                        d.Delete(recursive: true);
                    }
                    else
                    {
                        entry.Delete();
                    }
                }
            }
            else
            {
                System.IO.Directory.Delete(outDir, recursive: true);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Best effort: the original error is the one to report.
        }
    }

    /// <summary>
    /// Locks an interrupted run's directory, repairs its attempts (a torn last line dropped, a missing final newline added,
    /// cancelled attempts moved to interrupted.jsonl, one attempt per slot) and marks it running again.
    /// </summary>
    public static RunStore Resume(RunDirectory directory, RunManifest previous)
    {
        ArgumentNullException.ThrowIfNull(directory);
        ArgumentNullException.ThrowIfNull(previous);
        var runLock = RunLock.Acquire(directory.Path);
        try
        {
            var state = PrepareResume(directory);
            var manifest = previous with { FormatVersion = ResultsFormat.Version, Status = "running", Resumes = previous.Resumes + 1, EndedUtc = null };
            directory.WriteManifest(manifest);
            return new RunStore(directory, manifest, state, runLock);
        }
        catch
        {
            runLock.Dispose();
            throw;
        }
    }

    /// <summary>Locks an existing run directory and reads its manifest and attempts once (grade, summarize).</summary>
    public static RunStore Open(RunDirectory directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        var manifest = directory.ReadManifest();
        var runLock = RunLock.Acquire(directory.Path);
        try
        {
            var (records, _) = AttemptLog.Read(directory.AttemptsPath);
            return new RunStore(directory, manifest, new ResumeState(new HashSet<SlotKey>(records.Select(r => r.Slot)), records, 0, 0), runLock);
        }
        catch
        {
            runLock.Dispose();
            throw;
        }
    }

    /// <summary>The manifest of a new run (status running). The random tail keeps two runs started in the same second (history keys on the id) apart.</summary>
    public static RunManifest NewManifest(RunPlanSpec plan, SuiteInfo suite, IReadOnlyList<BackendInfo> backends, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(time);
        return new RunManifest
        {
            RunId = $"{time.GetUtcNow():yyyyMMdd-HHmmss}-s{plan.Seed}-{Random.Shared.Next(0x10000):x4}",
            HarnessVersion = EnvironmentProbe.HarnessVersion,
            Plan = plan,
            Suite = suite,
            Backends = backends,
            Environment = EnvironmentProbe.Describe(),
            StartedUtc = time.GetUtcNow(),
            Status = "running",
        };
    }

    /// <summary>Refuses to resume a run whose suite changed since it started.</summary>
    public static void CheckSameSuite(RunManifest previous, string sha256)
    {
        ArgumentNullException.ThrowIfNull(previous);
        ArgumentNullException.ThrowIfNull(sha256);
        if (sha256 != previous.Suite.Sha256)
        {
            throw new InputException($"{previous.Plan.SuitePath}: the suite changed since the run started (sha256 {sha256[..12]}… vs {previous.Suite.Sha256[..12]}…). Fix: restore the suite, or start a new run");
        }
    }

    /// <summary>Writes the manifest (atomically) and keeps it as the current one.</summary>
    public void WriteManifest(RunManifest manifest)
    {
        Directory.WriteManifest(manifest);
        Manifest = manifest;
    }

    /// <summary>Drops a torn last line, ends the file with a newline and moves cancelled attempts to interrupted.jsonl, so each slot ends with one attempt.</summary>
    private static ResumeState PrepareResume(RunDirectory directory)
    {
        var (records, torn) = AttemptLog.Read(directory.AttemptsPath);
        // A complete last record without its newline (a crash between two writes of an older spark-eval) would glue the next one onto it.
        var unterminated = !torn && !AttemptLog.EndsWithNewline(directory.AttemptsPath);
        var completed = new HashSet<SlotKey>();
        var keep = new List<AttemptRecord>();
        var interrupted = new List<AttemptRecord>();
        foreach (var record in records)
        {
            if (record.Outcome.Status == AttemptStatus.Cancelled)
            {
                interrupted.Add(record);
            }
            else if (completed.Add(record.Slot))
            {
                keep.Add(record);
            }
        }

        if (interrupted.Count > 0)
        {
            using var sidecar = new AttemptLog(Path.Combine(directory.Path, InterruptedFileName));
            foreach (var record in interrupted)
            {
                sidecar.Append(record);
            }
        }

        if (torn || unterminated || interrupted.Count > 0 || keep.Count != records.Count)
        {
            AttemptLog.Rewrite(directory.AttemptsPath, keep);
        }

        var next = records.Count == 0 ? 0 : records.Max(r => r.Sequence) + 1;
        var lastEnd = records.Count == 0 ? 0 : records.Max(r => r.StartUs + (r.Events.Count > 0 ? r.Events[^1].OffsetMicroseconds : 0));
        return new ResumeState(completed, keep, next, lastEnd + 1);
    }

    public void Dispose() => _lock.Dispose();
}
