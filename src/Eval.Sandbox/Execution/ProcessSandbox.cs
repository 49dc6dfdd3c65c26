using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Spark.Eval.Sandbox.Execution;

/// <summary>What to run in the sandbox: the command (paths as seen inside), its fresh directory and what it may read.</summary>
public sealed record ProcessSpec
{
    /// <summary>Program and arguments; relative file names resolve in the attempt directory (the working directory).</summary>
    public required IReadOnlyList<string> Argv { get; init; }
    /// <summary>The attempt's fresh host directory; mounted writable at <see cref="ProcessSandbox.InsideWorkDir"/> when isolated.</summary>
    public required string WorkDir { get; init; }
    /// <summary>Host paths the program may read, mounted read-only at the same path (interpreters outside /usr, tool folders).</summary>
    public IReadOnlyList<string> ReadOnlyBinds { get; init; } = [];
    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();
    public SandboxLimits Limits { get; init; } = SandboxLimits.Default;
    /// <summary>Also cap the address space (RLIMIT_AS) at the memory limit: right for CPython, wrong for V8 and .NET, which reserve far more than they use.</summary>
    public bool LimitAddressSpace { get; init; }
    /// <summary>Keep stdin open as a pipe (the C# worker's request channel); one-shot programs get it closed.</summary>
    public bool KeepStdin { get; init; }
    /// <summary>
    /// When not empty: no user namespace; the process runs as the host's root with only these capabilities (and no new
    /// privileges), so it can switch each attempt to its own unprivileged uid (the Python fork-server). Needs
    /// <see cref="SandboxEnvironment.CanSwitchUsers"/>.
    /// </summary>
    public IReadOnlyList<string> KeepCapabilities { get; init; } = [];
    /// <summary>Written to stdin, which is then closed (a one-shot driver reads its per-grade nonce there); ignored with <see cref="KeepStdin"/>.</summary>
    public string? StdinText { get; init; }
    /// <summary>
    /// The per-grade nonce of a driver that reports completion on stderr (<c>&lt;nonce&gt;:ok</c>); the whole stream is searched
    /// for it (not only the kept bytes) and the evidence lines are removed from the kept text. Null: no evidence is asked for.
    /// </summary>
    public string? EvidenceNonce { get; init; }
}

/// <summary>Runs a process under bubblewrap (namespaces, read-only system, no network), rlimits and per-attempt cgroups.</summary>
public sealed class ProcessSandbox(SandboxEnvironment environment, TimeProvider time)
{
    public const string InsideWorkDir = "/sandbox";

    public SandboxEnvironment Environment => environment;

    /// <summary>The working directory as the program sees it.</summary>
    public string WorkPath(string hostWorkDir, bool isolated) => isolated && environment.HasNamespaces ? InsideWorkDir : hostWorkDir;

    /// <summary>Runs to completion (or to a limit) and returns what happened; the process tree is gone when this returns.</summary>
    public async Task<ProcessRun> RunAsync(ProcessSpec spec, bool isolated, CancellationToken cancellationToken)
    {
        using var process = Start(spec, isolated);
        return await process.WaitAsync(cancellationToken);
    }

    /// <summary>Starts a process under the sandbox; the caller owns the returned handle.</summary>
    public SandboxedProcess Start(ProcessSpec spec, bool isolated)
    {
        var useBwrap = isolated && environment.HasNamespaces;
        var cgroup = Cgroup.Create(environment, spec.Limits);
        var info = new ProcessStartInfo("/bin/sh")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = spec.WorkDir,
        };
        // The shell joins the attempt's cgroups before exec, so every descendant is born inside them. It also drops any
        // real-time policy inherited from a harness run under `chrt` (as the timing docs advise): untrusted code never
        // runs SCHED_FIFO, where a busy loop would starve the machine.
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add("for f in \"$@\"; do shift; [ \"$f\" = -- ] && break; echo $$ > \"$f\" || exit 125; done; "
            + "[ -x /usr/bin/chrt ] && /usr/bin/chrt -o -p 0 $$ >/dev/null 2>&1; exec \"$@\"");
        info.ArgumentList.Add("sh");
        foreach (var procs in cgroup?.ProcsFiles ?? [])
        {
            info.ArgumentList.Add(procs);
        }

        info.ArgumentList.Add("--");
        // Nothing of the harness's environment (API keys, CI tokens) reaches the launch chain: the shell, bubblewrap (pid 1 of
        // the sandbox, whose /proc/1/environ a program can read) and prlimit start from this clean set, not only the program.
        info.Environment.Clear();
        info.Environment["PATH"] = "/usr/local/bin:/usr/bin:/bin";
        info.Environment["LANG"] = "C.UTF-8";
        if (useBwrap)
        {
            AddBubblewrap(info.ArgumentList, spec);
        }
        else
        {
            info.Environment["HOME"] = spec.WorkDir;
            info.Environment["TMPDIR"] = spec.WorkDir;
            foreach (var (key, value) in spec.Environment)
            {
                info.Environment[key] = value;
            }
        }

        if (environment.Prlimit is not null)
        {
            var limits = spec.Limits;
            var cpu = (long)Math.Ceiling(limits.CpuSeconds);
            info.ArgumentList.Add(environment.Prlimit);
            info.ArgumentList.Add($"--cpu={(cpu + 1).ToString(CultureInfo.InvariantCulture)}:{(cpu + 2).ToString(CultureInfo.InvariantCulture)}");
            info.ArgumentList.Add($"--fsize={limits.FileSizeBytes.ToString(CultureInfo.InvariantCulture)}");
            info.ArgumentList.Add("--core=0");
            info.ArgumentList.Add("--nofile=256");
            if (spec.LimitAddressSpace)
            {
                info.ArgumentList.Add($"--as={(limits.MemoryBytes * 2).ToString(CultureInfo.InvariantCulture)}");
            }

            info.ArgumentList.Add("--");
        }

        foreach (var arg in spec.Argv)
        {
            info.ArgumentList.Add(arg);
        }

        var level = environment.Describe(useBwrap) + (useBwrap ? "" : "(no-namespaces)");
        return new SandboxedProcess(info, spec, cgroup, level, time);
    }

    private void AddBubblewrap(System.Collections.ObjectModel.Collection<string> args, ProcessSpec spec)
    {
        args.Add(environment.Bubblewrap!);
        var privileged = spec.KeepCapabilities.Count > 0;
        // bubblewrap brings loopback up in the network namespace it makes. With a user namespace, the program's net namespace is
        // made instead by `unshare --net` inside (a fresh one, loopback down), which needs CAP_SYS_ADMIN in the user namespace for
        // that one step; `setpriv` then clears the ambient and inheritable sets, so the program starts with no capability. The
        // fork-server (no user namespace) keeps CAP_NET_ADMIN just long enough to take loopback down itself (forkserver.py).
        var ownNet = !privileged && environment.LoopbackDown;
        var namespaces = privileged
            ? new[] { "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--cap-drop", "ALL" }
            : ownNet
                ? new[] { "--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--uid", "65534", "--gid", "65534", "--cap-drop", "ALL", "--cap-add", "CAP_SYS_ADMIN" }
                : new[] { "--unshare-all", "--unshare-user", "--uid", "65534", "--gid", "65534", "--cap-drop", "ALL" };
        foreach (var a in namespaces)
        {
            args.Add(a);
        }

        foreach (var cap in privileged && environment.LoopbackDown ? [.. spec.KeepCapabilities, "CAP_NET_ADMIN"] : spec.KeepCapabilities)
        {
            args.Add("--cap-add");
            args.Add(cap);
        }

        foreach (var a in new[] { "--die-with-parent", "--new-session", "--hostname", "sandbox" })
        {
            args.Add(a);
        }

        args.Add("--ro-bind");
        args.Add("/usr");
        args.Add("/usr");
        foreach (var top in new[] { "/bin", "/lib", "/lib64", "/lib32", "/sbin" })
        {
            var info = new FileInfo(top);
            if (info.LinkTarget is { } target)
            {
                args.Add("--symlink");
                args.Add(target);
                args.Add(top);
            }
            else if (Directory.Exists(top))
            {
                args.Add("--ro-bind");
                args.Add(top);
                args.Add(top);
            }
        }

        foreach (var etc in new[] { "/etc/alternatives", "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/ssl/openssl.cnf" })
        {
            if (Path.Exists(etc))
            {
                args.Add("--ro-bind");
                args.Add(etc);
                args.Add(etc);
            }
        }

        // bubblewrap mounts in argument order, so /proc, /dev and the /tmp tmpfs come before the tool binds: a tool
        // under /tmp (spark-eval and its C# worker run from a build folder in /tmp, a runtime unpacked there) stays
        // visible instead of being hidden by the fresh tmpfs ("the specified command or file was not found").
        foreach (var a in new[] { "--proc", "/proc", "--dev", "/dev", "--size", "16777216", "--tmpfs", "/tmp" })
        {
            args.Add(a);
        }

        var made = new HashSet<string>(StringComparer.Ordinal) { "/", "/usr", "/tmp", "/proc", "/dev" };
        foreach (var bind in spec.ReadOnlyBinds.Distinct(StringComparer.Ordinal))
        {
            if (!bind.StartsWith("/usr/", StringComparison.Ordinal) && Path.Exists(bind))
            {
                if (privileged)
                {
                    // bubblewrap would copy the host's modes for the folders above a bind (/root is 0700): an attempt uid
                    // could not reach the interpreter under /root/.pyenv. Make them traversable (0755) first.
                    AddParents(args, bind, made);
                }

                args.Add("--ro-bind");
                args.Add(bind);
                args.Add(bind);
            }
        }

        foreach (var a in new[] { "--bind", spec.WorkDir, InsideWorkDir, "--chdir", InsideWorkDir, "--clearenv",
            "--setenv", "PATH", "/usr/local/bin:/usr/bin:/bin", "--setenv", "HOME", InsideWorkDir, "--setenv", "LANG", "C.UTF-8", "--setenv", "TMPDIR", "/tmp" })
        {
            args.Add(a);
        }

        foreach (var (key, value) in spec.Environment)
        {
            args.Add("--setenv");
            args.Add(key);
            args.Add(value);
        }

        if (ownNet)
        {
            foreach (var a in new[] { environment.Unshare!, "--net", "--", environment.Setpriv!, "--inh-caps=-all", "--ambient-caps=-all", "--" })
            {
                args.Add(a);
            }
        }
    }

    private static void AddParents(System.Collections.ObjectModel.Collection<string> args, string path, HashSet<string> made)
    {
        var parents = new Stack<string>();
        for (var dir = Path.GetDirectoryName(path); dir is not null && !made.Contains(dir); dir = Path.GetDirectoryName(dir))
        {
            parents.Push(dir);
        }

        while (parents.TryPop(out var dir))
        {
            made.Add(dir);
            args.Add("--perms");
            args.Add("0755");
            args.Add("--dir");
            args.Add(dir);
        }
    }
}

/// <summary>A live sandboxed process: watches its CPU time, wall time and output, and kills its whole tree on exit.</summary>
public sealed class SandboxedProcess : IDisposable
{
    private readonly Process _process;
    private readonly Cgroup? _cgroup;
    private readonly SandboxLimits _limits;
    private readonly TimeProvider _time;
    private readonly CappedReader? _stdout;
    private readonly CappedReader _stderr;
    private readonly bool _evidence;
    private readonly long _started;
    private bool _disposed;

    internal SandboxedProcess(ProcessStartInfo info, ProcessSpec spec, Cgroup? cgroup, string isolation, TimeProvider time)
    {
        _cgroup = cgroup;
        _limits = spec.Limits;
        _time = time;
        Isolation = isolation;
        _started = time.GetTimestamp();
        try
        {
            _process = Process.Start(info) ?? throw new InvalidOperationException("the sandbox shell did not start");
        }
        catch
        {
            cgroup?.Dispose();
            throw;
        }

        if (!spec.KeepStdin)
        {
            if (spec.StdinText is { } text)
            {
                try
                {
                    _process.StandardInput.Write(text);
                    _process.StandardInput.Flush();
                }
                catch (IOException)
                {
                    // The process ended before reading: it is judged by how it ended.
                }
            }

            _process.StandardInput.Close();
            _stdout = new CappedReader(_process.StandardOutput.BaseStream, _limits.OutputKeepBytes);
        }

        _evidence = spec.EvidenceNonce is not null;
        _stderr = new CappedReader(_process.StandardError.BaseStream, _limits.OutputKeepBytes, spec.EvidenceNonce);
    }

    public string Isolation { get; }

    /// <summary>The request channel (only when started with <see cref="ProcessSpec.KeepStdin"/>).</summary>
    public Stream StandardInput => _process.StandardInput.BaseStream;

    /// <summary>The response channel (only when started with <see cref="ProcessSpec.KeepStdin"/>).</summary>
    public Stream StandardOutput => _process.StandardOutput.BaseStream;

    public bool HasExited => _process.HasExited;

    public double? CpuSeconds => _cgroup?.CpuSeconds;

    /// <summary>True when the process tree is under a memory cgroup limit.</summary>
    public bool HasMemoryCgroup => _cgroup?.Has("memory") ?? false;

    public bool MemoryLimitHit => _cgroup is { } c && (c.OomKilled || c.MemoryLimitHit);

    public bool PidsLimitHit => _cgroup?.PidsLimitHit ?? false;

    /// <summary>Processes alive in the attempt's cgroup; null without cgroups.</summary>
    public int? ProcessCount => _cgroup?.Pids().Count;

    public string StderrText => _stderr.Text;

    public long OutputBytes => (_stdout?.Total ?? 0) + _stderr.Total;

    /// <summary>Waits for exit, enforcing CPU (when measurable), wall and output limits; kills the tree at the end.</summary>
    public async Task<ProcessRun> WaitAsync(CancellationToken cancellationToken)
    {
        string? stoppedBy = null;
        var exited = _process.WaitForExitAsync(CancellationToken.None);
        while (!exited.IsCompleted)
        {
            await Task.WhenAny(exited, Task.Delay(TimeSpan.FromMilliseconds(20), _time, CancellationToken.None));
            if (exited.IsCompleted)
            {
                break;
            }

            stoppedBy = cancellationToken.IsCancellationRequested ? "cancelled"
                : CpuSeconds is { } cpu && cpu > _limits.CpuSeconds ? "cpu_limit"
                : _time.GetElapsedTime(_started).TotalSeconds > _limits.WallSeconds ? "wall_limit"
                : OutputBytes > _limits.OutputKillBytes ? "output_limit"
                : null;
            if (stoppedBy is not null)
            {
                Kill();
                break;
            }
        }

        await exited;
        var wall = _time.GetElapsedTime(_started).TotalSeconds;
        var cpuUsed = CpuSeconds;
        var memory = MemoryLimitHit;
        // Orphans (no pid namespace) may hold the pipes open: sweep the tree, then give readers a moment.
        KillTree();
        await Task.WhenAny(Task.WhenAll(_stdout?.Completion ?? Task.CompletedTask, _stderr.Completion), Task.Delay(TimeSpan.FromSeconds(2), _time, CancellationToken.None));
        // Cancelled (Ctrl+C, SIGTERM): the whole tree is dead by now; no outcome is made up for a run that was stopped.
        if (stoppedBy == "cancelled")
        {
            cancellationToken.ThrowIfCancellationRequested();
        }

        var code = _process.ExitCode;
        return new ProcessRun
        {
            ExitCode = code,
            Signal = code > 128 && code < 160 ? code - 128 : null,
            Stdout = _stdout?.Text ?? "",
            Stderr = _stderr.Text,
            OutputBytes = OutputBytes,
            WallSeconds = wall,
            CpuSeconds = cpuUsed,
            StoppedBy = stoppedBy ?? (memory && code != 0 ? "memory_limit" : OutputBytes > _limits.OutputKillBytes ? "output_limit" : null),
            Isolation = Isolation,
            Evidence = _evidence ? _stderr.Evidence : null,
        };
    }

    /// <summary>
    /// Like <see cref="AwaitAnswerAsync"/>, but the blocking <paramref name="read"/> runs on the calling thread while a timer
    /// judges the limits every 50 ms, so a quick answer (most attempts) costs no thread hop and no thread-pool wake-up, which
    /// on a paravirtualised guest cost more CPU than the read (limits are seconds; a stop comes at most 50 ms late). Read failures come back as the exception; when a limit was reached
    /// its reason comes back too (and takes precedence).
    /// </summary>
    public (T? Answer, string? StoppedBy, Exception? Error) ReadWatched<T>(Func<T> read, double? cpuStart, long started, double cpuLimitSeconds,
        double wallLimitSeconds, TimeProvider time, CancellationToken cancellationToken)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(read);
        ArgumentNullException.ThrowIfNull(time);
        var gate = new Lock();
        var done = false;
        string? stoppedBy = null;
        var poll = TimeSpan.FromMilliseconds(50);
        using var watchdog = time.CreateTimer(_ =>
        {
            lock (gate)
            {
                if (done || stoppedBy is not null)
                {
                    return;
                }

                stoppedBy = cancellationToken.IsCancellationRequested ? "cancelled"
                    : CpuSeconds - cpuStart > cpuLimitSeconds ? "cpu_limit"
                    : time.GetElapsedTime(started).TotalSeconds > wallLimitSeconds ? "wall_limit"
                    : null;
                if (stoppedBy is null)
                {
                    return;
                }
            }

            Kill();
        }, null, poll, poll);
        T? answer = null;
        Exception? error = null;
        try
        {
            answer = read();
        }
        catch (Exception ex) when (ex is EndOfStreamException or IOException or InvalidDataException or JsonException or ObjectDisposedException)
        {
            error = ex;
        }

        lock (gate)
        {
            done = true;
            return (answer, stoppedBy, error);
        }
    }

    /// <summary>
    /// Waits for a long-lived helper's answer to one request while judging that request's limits: CPU time (cgroup, counted
    /// from <paramref name="cpuStart"/>), wall time since <paramref name="started"/> and cancellation. When one is reached the
    /// whole tree is killed and the reason returned ("cancelled", "cpu_limit", "wall_limit"); null when the answer came.
    /// </summary>
    public async Task<string?> AwaitAnswerAsync(Task answer, double? cpuStart, long started, double cpuLimitSeconds, double wallLimitSeconds,
        TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(answer);
        ArgumentNullException.ThrowIfNull(time);
        while (!answer.IsCompleted)
        {
            await Task.WhenAny(answer, Task.Delay(TimeSpan.FromMilliseconds(10), time, CancellationToken.None));
            if (answer.IsCompleted)
            {
                break;
            }

            var stoppedBy = cancellationToken.IsCancellationRequested ? "cancelled"
                : CpuSeconds - cpuStart > cpuLimitSeconds ? "cpu_limit"
                : time.GetElapsedTime(started).TotalSeconds > wallLimitSeconds ? "wall_limit"
                : null;
            if (stoppedBy is not null)
            {
                Kill();
                return stoppedBy;
            }
        }

        return null;
    }

    public void Kill()
    {
        try
        {
            _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
        }

        _cgroup?.KillAll();
    }

    private void KillTree()
    {
        _cgroup?.KillAll();
        if (!_process.HasExited)
        {
            Kill();
        }
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        KillTree();
        _cgroup?.Dispose();
        _process.Dispose();
        _stdout?.Dispose();
        _stderr.Dispose();
    }
}

/// <summary>Drains a stream, keeping the first bytes and counting the rest; optionally watches the whole stream for a driver's evidence lines.</summary>
internal sealed class CappedReader : IDisposable
{
    private readonly MemoryStream _kept = new();
    private readonly int _keep;
    private readonly string? _nonce;
    private readonly byte[][] _markers;
    private readonly bool[] _found;
    private byte[] _carry = [];
    private long _total;

    public CappedReader(Stream stream, int keep, string? nonce = null)
    {
        _keep = keep;
        _nonce = nonce;
        _markers = nonce is null ? [] : [Encoding.ASCII.GetBytes(nonce + ":ok"), Encoding.ASCII.GetBytes(nonce + ":tampered"), Encoding.ASCII.GetBytes(nonce + ":revoked")];
        _found = new bool[_markers.Length];
        Completion = Task.Run(() => PumpAsync(stream));
    }

    /// <summary>What the evidence lines seen so far say: revoked or tampered outrank ok; missing when none was seen.</summary>
    public EvidenceState Evidence
    {
        get
        {
            lock (_kept)
            {
                return _found.Length == 0 ? EvidenceState.Missing
                    : _found[2] ? EvidenceState.Revoked
                    : _found[1] ? EvidenceState.Tampered
                    : _found[0] ? EvidenceState.Ok
                    : EvidenceState.Missing;
            }
        }
    }

    public Task Completion { get; }

    public long Total => Interlocked.Read(ref _total);

    public string Text
    {
        get
        {
            lock (_kept)
            {
                var text = Encoding.UTF8.GetString(_kept.GetBuffer(), 0, (int)_kept.Length);
                if (_nonce is not null && text.Contains(_nonce, StringComparison.Ordinal))
                {
                    text = string.Join('\n', text.Split('\n').Where(l => !l.Contains(_nonce, StringComparison.Ordinal)));
                }

                var dropped = Total - _kept.Length;
                return dropped > 0 ? text + $"\n… [{dropped.ToString(CultureInfo.InvariantCulture)} more bytes not kept]" : text;
            }
        }
    }

    public void Dispose() => _kept.Dispose();

    /// <summary>Looks for the markers in the carried tail of the previous chunks plus this one (a marker may straddle two reads).</summary>
    private void Scan(ReadOnlySpan<byte> chunk)
    {
        var window = new byte[_carry.Length + chunk.Length];
        _carry.CopyTo(window, 0);
        chunk.CopyTo(window.AsSpan(_carry.Length));
        for (var i = 0; i < _markers.Length; i++)
        {
            _found[i] |= window.AsSpan().IndexOf(_markers[i]) >= 0;
        }

        var keep = Math.Min(window.Length, _markers.Max(m => m.Length) - 1);
        _carry = window[^keep..];
    }

    private async Task PumpAsync(Stream stream)
    {
        var buffer = new byte[16384];
        try
        {
            int read;
            while ((read = await stream.ReadAsync(buffer)) > 0)
            {
                lock (_kept)
                {
                    var room = (int)Math.Max(0, _keep - _kept.Length);
                    if (room > 0)
                    {
                        _kept.Write(buffer, 0, Math.Min(room, read));
                    }

                    if (_markers.Length > 0)
                    {
                        Scan(buffer.AsSpan(0, read));
                    }
                }

                Interlocked.Add(ref _total, read);
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
        }
    }
}
