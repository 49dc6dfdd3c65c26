using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Spark.Eval.Sandbox.Execution;

/// <summary>Pool of sandboxed Node.js runners (Helpers/noderunner.js): each runs one compiled program per request in a fresh worker thread and attempt directory.</summary>
/// <remarks>
/// The rules are the C# worker's: a runner lives under bubblewrap with its own cgroups and rlimits; every attempt gets a fresh
/// directory; CPU time (cgroup), wall time and output are judged per attempt; a runner is reused only after an attempt that
/// passed and left nothing behind (no process, open file, file in /tmp or in the runner's folder); after anything else it is
/// killed with its whole process tree and replaced.
/// </remarks>
public sealed class NodeRunnerPool(ProcessSandbox sandbox, TimeProvider time) : IDisposable
{
    private readonly IdlePool<(bool Isolated, SandboxLimits Limits), NodeRunner> _idle = new(runner => runner.Dispose());

    /// <summary>The runner script.</summary>
    public static string Script => Path.Combine(AppContext.BaseDirectory, "sandbox-helpers", "noderunner.js");

    /// <summary>Runs <paramref name="files"/>' entry (the first file) in a pooled runner; never throws for what the program does.</summary>
    public async Task<ExecutionResult> RunAsync(IReadOnlyList<(string Name, string Text)> files, string language, SandboxLimits limits, bool isolated, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_idle.IsDisposed, this);
        var level = sandbox.Environment.Describe(isolated);
        var runner = _idle.TryTake((isolated, limits), idle => idle.IsAlive);

        try
        {
            runner ??= await NodeRunner.StartAsync(sandbox, isolated, limits, time, cancellationToken);
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException or ToolMissingException or TimeoutException)
        {
            return ExecutionResult.Harness($"the node runner did not start: {ex.Message}", level);
        }

        ExecutionResult result;
        bool reusable;
        try
        {
            (result, reusable) = await runner.RunAsync(files, language, cancellationToken);
        }
        catch
        {
            // Cancelled (or the attempt's files could not be written): the runner's state is unknown, so it goes.
            runner.Dispose();
            throw;
        }

        _idle.Return((isolated, limits), runner, reusable && runner.Attempts < NodeRunner.MaxAttempts);
        return result;
    }

    public void Dispose() => _idle.Dispose();
}

/// <summary>One sandboxed <c>node noderunner.js</c> process and its folder of attempt directories.</summary>
internal sealed class NodeRunner : IDisposable
{
    /// <summary>Attempts after which a runner is retired.</summary>
    public const int MaxAttempts = 200;

    private readonly SandboxedProcess _process;
    private readonly StreamWriter _writer;
    private readonly StreamReader _reader;
    private readonly string _hostDir;
    private readonly string _insideDir;
    private readonly string _nonce = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
    private readonly SandboxLimits _limits;
    private readonly TimeProvider _time;
    private int _attempts;
    private int? _baselineProcesses;

    private NodeRunner(SandboxedProcess process, string hostDir, string insideDir, SandboxLimits limits, TimeProvider time)
    {
        _process = process;
        _hostDir = hostDir;
        _insideDir = insideDir;
        _limits = limits;
        _time = time;
        _writer = new StreamWriter(process.StandardInput, new UTF8Encoding(false), leaveOpen: true) { NewLine = "\n" };
        _reader = new StreamReader(process.StandardOutput, Encoding.UTF8, false, 1 << 16, leaveOpen: true);
    }

    public int Attempts => _attempts;

    public bool IsAlive => !_process.HasExited;

    public static async Task<NodeRunner> StartAsync(ProcessSandbox sandbox, bool isolated, SandboxLimits limits, TimeProvider time, CancellationToken cancellationToken)
    {
        var node = ToolLocator.Require(ToolLocator.Node, "node", "Node.js 20 or later (apt-get install nodejs)");
        var script = NodeRunnerPool.Script;
        if (!File.Exists(script))
        {
            throw new ToolMissingException($"{script} is missing. Fix: rebuild spark-eval (Eval.Sandbox ships its helper scripts)");
        }

        var hostDir = Path.Combine(sandbox.Environment.ScratchRoot, $"noderunner-{Guid.NewGuid():N}");
        Directory.CreateDirectory(hostDir);
        // The runner's own heap (about 50 MB) comes on top of the program's limit; RLIMIT_CPU bounds its whole life.
        var runnerLimits = limits with { MemoryBytes = limits.MemoryBytes + (128L << 20), CpuSeconds = (limits.CpuSeconds * (MaxAttempts + 1)) + 30, WallSeconds = double.MaxValue };
        var process = sandbox.Start(new ProcessSpec
        {
            Argv = [node.Executable, "--stack-size=2048", script],
            WorkDir = hostDir,
            ReadOnlyBinds = [.. node.Binds, Path.GetDirectoryName(script)!],
            Limits = runnerLimits,
            KeepStdin = true,
            Environment = new Dictionary<string, string> { ["NODE_OPTIONS"] = "", ["NO_COLOR"] = "1", ["FORCE_COLOR"] = "0" },
        }, isolated);
        var runner = new NodeRunner(process, hostDir, sandbox.WorkPath(hostDir, isolated), limits, time);
        try
        {
            await runner._writer.WriteLineAsync(runner._nonce.AsMemory(), cancellationToken);
            await runner._writer.FlushAsync(cancellationToken);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(60));
            var greeting = await runner._reader.ReadLineAsync(timeout.Token);
            if (greeting is null || !greeting.StartsWith(runner.Prefix, StringComparison.Ordinal) || !greeting.Contains("\"ready\":true", StringComparison.Ordinal))
            {
                throw new IOException($"unexpected greeting: {greeting ?? "(none)"}");
            }

            runner._baselineProcesses = process.ProcessCount;
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException)
        {
            var stderr = process.StderrText;
            runner.Dispose();
            cancellationToken.ThrowIfCancellationRequested();
            throw new IOException($"{ex.Message}{Classifier.Tail(stderr, 3, prefix: ": ")}", ex);
        }

        return runner;
    }

    private string Prefix => "{\"nonce\":\"" + _nonce + "\"";

    public async Task<(ExecutionResult Result, bool Reusable)> RunAsync(IReadOnlyList<(string Name, string Text)> files, string language, CancellationToken cancellationToken)
    {
        var id = ++_attempts;
        var name = $"attempt-{id.ToString(CultureInfo.InvariantCulture)}";
        var hostAttempt = Path.Combine(_hostDir, name);
        Directory.CreateDirectory(hostAttempt);
        foreach (var (file, text) in files)
        {
            await File.WriteAllTextAsync(Path.Combine(hostAttempt, file), text, cancellationToken);
        }

        var heapMb = Math.Max(64, _limits.MemoryBytes / (1 << 20) - 64);
        var evidenceNonce = PassEvidence.NewNonce();
        var request = new JsonObject
        {
            ["evidence"] = evidenceNonce,
            ["id"] = id,
            ["dir"] = _insideDir + "/" + name,
            ["file"] = files[0].Name,
            ["heapMb"] = heapMb,
            ["keep"] = _limits.OutputKeepBytes,
            ["kill"] = _limits.OutputKillBytes,
        };
        var cpuStart = _process.CpuSeconds;
        var started = _time.GetTimestamp();
        string? stoppedBy = null;
        string? line = null;
        var extraOutput = new StringBuilder();
        try
        {
            await _writer.WriteLineAsync(request.ToJsonString().AsMemory(), cancellationToken);
            await _writer.FlushAsync(cancellationToken);
            while (line is null && stoppedBy is null)
            {
                var read = _reader.ReadLineAsync(CancellationToken.None).AsTask();
                stoppedBy = await _process.AwaitAnswerAsync(read, cpuStart, started, _limits.CpuSeconds, _limits.WallSeconds, _time, cancellationToken);

                if (stoppedBy is not null)
                {
                    break;
                }

                var text = await read;
                if (text is null)
                {
                    break;
                }

                // Whatever precedes the nonce was written straight to the runner's stdout (fs.writeSync(1), a child with
                // inherited stdio): the program's output, never a response.
                var at = text.IndexOf(Prefix, StringComparison.Ordinal);
                if (at < 0)
                {
                    extraOutput.Append(text).Append('\n');
                    continue;
                }

                extraOutput.Append(text.AsSpan(0, at));
                line = text[at..];
            }
        }
        catch (IOException)
        {
            line = null;
        }

        var wall = _time.GetElapsedTime(started).TotalSeconds;
        var cpuUsed = _process.CpuSeconds - cpuStart;
        TryDelete(hostAttempt);
        if (stoppedBy is "cancelled")
        {
            cancellationToken.ThrowIfCancellationRequested();
        }

        JsonObject? answer = null;
        try
        {
            answer = line is null ? null : JsonNode.Parse(line)?.AsObject();
        }
        catch (JsonException)
        {
        }

        if (answer is null || answer["id"]?.GetValue<int>() != id)
        {
            if (stoppedBy is null)
            {
                _process.Kill();
            }

            var stderr = _process.StderrText;
            var crash = new ProcessRun
            {
                ExitCode = stoppedBy is null ? 1 : null,
                Stdout = extraOutput.ToString(),
                Stderr = stoppedBy is null ? "the program ended the node runner" + Classifier.Tail(stderr, 3, prefix: ": ") : stderr,
                WallSeconds = wall,
                CpuSeconds = cpuUsed,
                StoppedBy = stoppedBy ?? (_process.MemoryLimitHit ? "memory_limit" : null),
                Isolation = _process.Isolation,
            };
            return (Classifier.Classify(crash, language, _process.PidsLimitHit), false);
        }

        if (answer["fatal"]?.GetValue<string>() is { } fatal)
        {
            return (ExecutionResult.Harness($"the node runner failed: {Classifier.Shorten(fatal)}", _process.Isolation), false);
        }

        var outputLimit = answer["outputLimit"]?.GetValue<bool>() == true;
        var run = new ProcessRun
        {
            ExitCode = answer["exitCode"]?.GetValue<int>(),
            Stdout = extraOutput + (answer["stdout"]?.GetValue<string>() ?? ""),
            Stderr = answer["stderr"]?.GetValue<string>() ?? "",
            OutputBytes = (long)(answer["outputBytes"]?.GetValue<double>() ?? 0) + extraOutput.Length,
            WallSeconds = wall,
            CpuSeconds = cpuUsed,
            StoppedBy = outputLimit ? "output_limit" : _process.MemoryLimitHit ? "memory_limit" : null,
            Isolation = _process.Isolation,
            Evidence = PassEvidence.Parse(answer["evidence"]?.GetValue<string>(), evidenceNonce),
        };
        var result = Classifier.Classify(run, language, _process.PidsLimitHit);
        var dirty = answer["dirty"]?.AsArray().Count > 0 || extraOutput.Length > 0 || _process.ProcessCount != _baselineProcesses || RunnerFolderDirty();
        return (result, result.Outcome == ExecutionOutcome.Passed && !dirty);
    }

    private bool RunnerFolderDirty()
    {
        try
        {
            return Directory.EnumerateFileSystemEntries(_hostDir).Any();
        }
        catch (IOException)
        {
            return true;
        }
    }

    private static void TryDelete(string dir)
    {
        try
        {
            Directory.Delete(dir, true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }
    }

    public void Dispose()
    {
        _process.Dispose();
        try
        {
            _writer.Dispose();
        }
        catch (IOException)
        {
        }

        _reader.Dispose();
        TryDelete(_hostDir);
    }
}
