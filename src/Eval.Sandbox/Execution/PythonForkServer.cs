using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Spark.Eval.Sandbox.Execution;

/// <summary>
/// Pooled Python fork-servers (Helpers/forkserver.py), each in its own long-lived bubblewrap sandbox with its own attempt uid;
/// a server is reused only after an attempt that passed cleanly and is killed and replaced after anything else.
/// </summary>
public sealed class PythonForkServerPool(ProcessSandbox sandbox, TimeProvider time) : IDisposable
{
    /// <summary>Most servers alive at once (one attempt slot each).</summary>
    public const int MaxSlots = 64;

    private readonly IdlePool<bool, PythonForkServer> _idle = new(Release);
    // Process-wide: every pool in this process (tests and commands run several sandboxes at once) draws from the same slots,
    // so no two live servers ever share an attempt uid.
    private static readonly bool[] Slots = new bool[MaxSlots];

    public static string ServerScript => Path.Combine(AppContext.BaseDirectory, "sandbox-helpers", "forkserver.py");

    /// <summary>Set SPARK_EVAL_PY_EXECV=1 to make the child exec a fresh <c>python3 -I -B prog.py</c> instead of running the program in the forked interpreter.</summary>
    public static bool UseExecv { get; } = Environment.GetEnvironmentVariable("SPARK_EVAL_PY_EXECV") == "1";

    /// <summary>The attempt uid of a slot: unique per live harness process (by pid) and per slot, far above any real account.</summary>
    public static int UidFor(int slot) => 1_000_000 + (Environment.ProcessId % 4_000_000 * MaxSlots) + slot;

    public async Task<ExecutionResult> ExecuteAsync(string source, bool testsMode, SandboxLimits limits, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_idle.IsDisposed, this);
        var level = sandbox.Environment.Describe(true) + PythonForkServer.IsolationSuffix;
        PythonForkServer server;
        try
        {
            server = await AcquireAsync(limits, cancellationToken);
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException or ToolMissingException)
        {
            return ExecutionResult.Harness($"the Python fork-server did not start: {ex.Message}", level);
        }

        var (result, reusable) = server.Run(source, testsMode, limits, time, cancellationToken);
        _idle.Return(true, server, reusable && !cancellationToken.IsCancellationRequested);
        // Cancelled: the server and everything its attempt uid ran are dead (killed by the watchdog); no grade is made up.
        cancellationToken.ThrowIfCancellationRequested();
        return result;
    }

    private async Task<PythonForkServer> AcquireAsync(SandboxLimits limits, CancellationToken cancellationToken)
    {
        if (_idle.TryTake(true, idle => idle.IsAlive && idle.Limits == limits && !idle.LimitHit) is { } reused)
        {
            return reused;
        }

        var slot = TakeSlot();
        try
        {
            return await PythonForkServer.StartAsync(sandbox, limits, slot, UidFor(slot), time, cancellationToken);
        }
        catch
        {
            FreeSlot(slot);
            throw;
        }
    }

    private static int TakeSlot()
    {
        lock (Slots)
        {
            var slot = Array.IndexOf(Slots, false);
            if (slot < 0)
            {
                throw new InvalidOperationException($"more than {MaxSlots} Python attempts at once");
            }

            Slots[slot] = true;
            return slot;
        }
    }

    private static void FreeSlot(int slot)
    {
        lock (Slots)
        {
            Slots[slot] = false;
        }
    }

    /// <summary>Kills the server's whole sandbox (every process of its uid with it), then frees its slot for a new uid holder.</summary>
    private static void Release(PythonForkServer server)
    {
        server.Dispose();
        FreeSlot(server.Slot);
    }

    public void Dispose() => _idle.Dispose();
}

/// <summary>One fork-server process in its bubblewrap sandbox; speaks the length-prefixed JSON protocol of forkserver.py.</summary>
internal sealed class PythonForkServer : IDisposable
{
    public const string IsolationSuffix = "+forkserver(own uid per slot)";
    private const uint Magic = 0x59505053;
    private static readonly string[] Capabilities = ["CAP_SETUID", "CAP_SETGID", "CAP_CHOWN", "CAP_KILL"];
    private readonly SandboxedProcess _process;
    private readonly string _hostDir;

    private PythonForkServer(SandboxedProcess process, string hostDir, SandboxLimits limits, int slot)
    {
        _process = process;
        _hostDir = hostDir;
        Limits = limits;
        Slot = slot;
    }

    public SandboxLimits Limits { get; }

    public int Slot { get; }

    public bool IsAlive => !_process.HasExited;

    /// <summary>True once the server's cgroup hit its memory or process limit (the server is then not reused); read once per attempt.</summary>
    public bool LimitHit { get; private set; }

    private string Isolation => _process.Isolation + IsolationSuffix;

    public static async Task<PythonForkServer> StartAsync(ProcessSandbox sandbox, SandboxLimits limits, int slot, int uid, TimeProvider time, CancellationToken cancellationToken)
    {
        var python = ToolLocator.Require(ToolLocator.Python, "python3", "Python 3.11 or later (apt-get install python3)");
        var script = PythonForkServerPool.ServerScript;
        if (!File.Exists(script))
        {
            throw new ToolMissingException($"{script} is missing. Fix: rebuild spark-eval (Eval.Sandbox copies Helpers/forkserver.py)");
        }

        var hostDir = Path.Combine(sandbox.Environment.ScratchRoot, $"pyserver-{Guid.NewGuid():N}");
        Directory.CreateDirectory(hostDir);
        // Only root (the server) may create entries; an attempt uid can pass through to its own folder but list nothing.
        if (OperatingSystem.IsLinux())
        {
            File.SetUnixFileMode(hostDir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
        }

        // The server's own interpreter (about 30 MB) comes on top of the program's limits. Its RLIMIT_CPU counts its whole life
        // (a few ms per attempt), so it gets an hour: each attempt's CPU limit is the child's own RLIMIT_CPU and the cgroup poll.
        // The server writes each program itself, so its own file-size limit admits the largest program the sandbox accepts (a larger
        // one is refused before it is sent); each attempt gets the program's limit (RLIMIT_FSIZE set in the child).
        var serverLimits = limits with
        {
            MemoryBytes = limits.MemoryBytes + (64L << 20), MaxProcesses = limits.MaxProcesses + 8, CpuSeconds = 3600,
            FileSizeBytes = Math.Max(limits.FileSizeBytes, limits.MaxProgramBytes + (1L << 20)),
        };
        var process = sandbox.Start(new ProcessSpec
        {
            Argv = [python.Executable, "-I", "-B", script, uid.ToString(CultureInfo.InvariantCulture), sandbox.Environment.LoopbackDown ? "loopback-down" : "loopback-as-is"],
            WorkDir = hostDir,
            ReadOnlyBinds = [.. python.Binds, Path.GetDirectoryName(script)!],
            Limits = serverLimits,
            KeepStdin = true,
            KeepCapabilities = Capabilities,
            Environment = new Dictionary<string, string> { ["PYTHONHASHSEED"] = "0", ["PYTHONIOENCODING"] = "utf-8" },
        }, isolated: true);
        var server = new PythonForkServer(process, hostDir, limits, slot);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        try
        {
            using var greeting = await Task.Run(() => server.ReadMessage(), timeout.Token).WaitAsync(timeout.Token);
            if (!greeting.RootElement.TryGetProperty("ready", out var ready) || !ready.GetBoolean())
            {
                throw new IOException($"the fork-server refused to start: {greeting.RootElement.GetRawText()}");
            }
        }
        catch (Exception ex) when (ex is EndOfStreamException or OperationCanceledException or IOException or InvalidDataException or JsonException)
        {
            var stderr = process.StderrText;
            server.Dispose();
            cancellationToken.ThrowIfCancellationRequested();
            throw new IOException($"fork-server start failed: {ex.Message}{Classifier.Tail(stderr, 3, prefix: ": ")}", ex);
        }

        return server;
    }

    /// <summary>Runs one program; the result is classified as a one-shot run would be. Reusable only when it passed and left nothing behind.</summary>
    public (ExecutionResult Result, bool Reusable) Run(string source, bool testsMode, SandboxLimits limits, TimeProvider time, CancellationToken cancellationToken)
    {
        var cpuStart = _process.CpuSeconds;
        var started = time.GetTimestamp();
        var nonce = PassEvidence.NewNonce();
        try
        {
            WriteRequest(source, testsMode, nonce, limits);
        }
        catch (IOException ex)
        {
            return (Crashed($"the fork-server could not take the request ({ex.Message})", 0, 0), false);
        }

        // The read blocks this thread (no hop for the usual quick answer); on a limit the whole sandbox goes: the program,
        // everything its uid started, the server.
        var (answer, stoppedBy, _) = _process.ReadWatched(ReadMessage, cpuStart, started, limits.CpuSeconds, limits.WallSeconds, time, cancellationToken);
        var wall = time.GetElapsedTime(started).TotalSeconds;
        var cgroupCpu = _process.CpuSeconds - cpuStart;
        using (answer)
        {
            if (stoppedBy is not null)
            {
                var stopped = new ProcessRun { Stdout = "", Stderr = "", WallSeconds = wall, CpuSeconds = cgroupCpu, StoppedBy = stoppedBy, Isolation = Isolation };
                return (Classifier.Classify(stopped, "python"), false);
            }

            if (answer is null)
            {
                _process.Kill();
                return (Crashed("the fork-server ended during the attempt", wall, cgroupCpu), false);
            }

            var r = answer.RootElement;
            var exited = r.GetProperty("exited").GetBoolean();
            var code = exited ? r.GetProperty("code").GetInt32() : (int?)null;
            var signal = exited ? (int?)null : r.GetProperty("signal").GetInt32();
            var stdoutTotal = r.GetProperty("stdoutTotal").GetInt64();
            var stderrTotal = r.GetProperty("stderrTotal").GetInt64();
            var stdout = Kept(r.GetProperty("stdout").GetBytesFromBase64(), stdoutTotal);
            var stderr = Kept(r.GetProperty("stderr").GetBytesFromBase64(), stderrTotal);
            var serverStop = r.GetProperty("stoppedBy").ValueKind == JsonValueKind.String ? r.GetProperty("stoppedBy").GetString() : null;
            var leftovers = r.GetProperty("leftovers").GetInt32();
            // Every process of the attempt uid is dead now; its directory goes before this server (same uid) takes another attempt.
            var clean = TryDeleteAttemptDirectory(r.GetProperty("dir").GetString()) && leftovers == 0;
            var memory = _process.MemoryLimitHit;
            var pids = _process.PidsLimitHit;
            LimitHit = memory || pids;
            if (code == 125)
            {
                return (ExecutionResult.Harness("the fork-server could not set up the attempt" + Classifier.Tail(stderr, 3, prefix: ": "), Isolation), false);
            }

            var run = new ProcessRun
            {
                ExitCode = code ?? 128 + signal,
                Signal = signal,
                Stdout = stdout,
                Stderr = stderr,
                OutputBytes = stdoutTotal + stderrTotal,
                WallSeconds = wall,
                CpuSeconds = cgroupCpu ?? r.GetProperty("cpu").GetDouble(),
                StoppedBy = serverStop ?? (memory && code != 0 ? "memory_limit" : null),
                Isolation = Isolation,
                Evidence = PassEvidence.Parse(r.GetProperty("evidence").GetString(), nonce),
            };
            var result = Classifier.Classify(run, "python", pids);
            return (result, result.Outcome == ExecutionOutcome.Passed && clean && !LimitHit && IsAlive);
        }

        ExecutionResult Crashed(string what, double wallSeconds, double? cpuSeconds)
        {
            var stderr = _process.StderrText;
            var run = new ProcessRun { ExitCode = 137, Signal = 9, Stdout = "", Stderr = stderr, WallSeconds = wallSeconds, CpuSeconds = cpuSeconds, Isolation = Isolation };
            // The program runs under its own uid with no capability: it cannot end the root server. A server that dies without a
            // memory or process limit behind it failed on its own: the harness's fault, not the model's.
            var outcome = _process.MemoryLimitHit ? ExecutionOutcome.MemoryLimit : _process.PidsLimitHit ? ExecutionOutcome.SandboxViolation : ExecutionOutcome.HarnessError;
            return new ExecutionResult { Outcome = outcome, Detail = what + Classifier.Tail(stderr, 3, prefix: ": "), Run = run, Isolation = Isolation };
        }
    }

    private bool TryDeleteAttemptDirectory(string? name)
    {
        if (name is null || name.Length == 0 || name.Contains('/', StringComparison.Ordinal) || name.StartsWith('.'))
        {
            return false;
        }

        try
        {
            Directory.Delete(Path.Combine(_hostDir, name), recursive: true);
            return true;
        }
        catch (DirectoryNotFoundException)
        {
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>The kept bytes as text, with the same "more bytes not kept" note a one-shot run's reader adds.</summary>
    private static string Kept(byte[] kept, long total)
    {
        var text = Encoding.UTF8.GetString(kept);
        var dropped = total - kept.Length;
        return dropped > 0 ? text + $"\n… [{dropped.ToString(CultureInfo.InvariantCulture)} more bytes not kept]" : text;
    }

    private void WriteRequest(string source, bool testsMode, string nonce, SandboxLimits limits)
    {
        using var buffer = new MemoryStream();
        buffer.Write(new byte[4]);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("source", source);
            json.WriteNumber("cpu", (long)Math.Ceiling(limits.CpuSeconds) + 1);
            json.WriteNumber("fsize", limits.FileSizeBytes);
            json.WriteNumber("nproc", limits.MaxProcesses);
            json.WriteNumber("keep", limits.OutputKeepBytes);
            json.WriteNumber("kill", limits.OutputKillBytes);
            // Without a memory cgroup the address-space limit is the memory limit (as for one-shot Python), on top of what the fork inherits.
            json.WriteNumber("as", _process.HasMemoryCgroup ? 0 : (limits.MemoryBytes * 2) + (256L << 20));
            json.WriteBoolean("execv", PythonForkServerPool.UseExecv);
            json.WriteBoolean("tests", testsMode);
            json.WriteString("nonce", nonce);
            json.WriteEndObject();
        }

        var bytes = buffer.GetBuffer();
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, (uint)(buffer.Length - 4));
        _process.StandardInput.Write(bytes, 0, (int)buffer.Length);
        _process.StandardInput.Flush();
    }

    private JsonDocument ReadMessage()
    {
        Span<byte> header = stackalloc byte[8];
        _process.StandardOutput.ReadExactly(header);
        if (BinaryPrimitives.ReadUInt32LittleEndian(header) != Magic)
        {
            throw new InvalidDataException("unexpected bytes on the fork-server's protocol channel");
        }

        var body = new byte[BinaryPrimitives.ReadUInt32LittleEndian(header[4..])];
        _process.StandardOutput.ReadExactly(body);
        return JsonDocument.Parse(body);
    }

    public void Dispose()
    {
        _process.Dispose();
        try
        {
            Directory.Delete(_hostDir, true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }
    }
}
