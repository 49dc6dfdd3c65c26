using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Spark.Eval.Sandbox.Execution;

/// <summary>What one TypeScript compile produced: the first errors (tsc's format) and the emitted JavaScript files.</summary>
public sealed record TypeScriptCompilation(IReadOnlyList<string> Errors, int ErrorCount, IReadOnlyDictionary<string, string> Outputs, double Milliseconds);

/// <summary>Pool of long-lived TypeScript compile servers (Helpers/tsserver.js, the locked TypeScript 5.9 compiler API), each under the sandbox.</summary>
/// <remarks>
/// A server keeps the parsed library files between requests and type-checks one program per request with a fresh checker.
/// It only parses untrusted text and never runs it, yet it runs confined like a program: bubblewrap (no network, read-only
/// system, its own /tmp and directory), its own cgroups and rlimits. A server that crashes, answers garbage or exceeds the
/// compile limits is killed with its whole tree and replaced; an idle one is reused.
/// </remarks>
public sealed class TypeScriptCompilePool(ProcessSandbox sandbox, TimeProvider time) : IDisposable
{
    /// <summary>CPU seconds one compile may use before the server is killed (compile timeout, judged on CPU).</summary>
    public const double CompileCpuSeconds = 30;

    /// <summary>Wall-clock backstop of one compile, in seconds.</summary>
    public const double CompileWallSeconds = 60;

    private readonly IdlePool<bool, TypeScriptCompileServer> _idle = new(server => server.Dispose());

    /// <summary>The helper script run by every server.</summary>
    public static string Script => Path.Combine(AppContext.BaseDirectory, "sandbox-helpers", "tsserver.js");

    /// <summary>Compiles the files (name → text) with the given @types; a timeout, crash or limit yields a result, never an exception.</summary>
    public async Task<TypeScriptCompileResult> CompileAsync(NodeTools tools, bool isolated, IReadOnlyList<(string Name, string Text)> files, IReadOnlyList<string> types, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_idle.IsDisposed, this);
        var server = _idle.TryTake(isolated, idle => idle.IsAlive);

        // The server is the harness's own process and starts before any answer reaches it, so a failed start is tried once
        // more: under heavy load (several graders at once) node now and then exits before its greeting with nothing on stderr.
        for (var start = 1; server is null; start++)
        {
            try
            {
                server = await TypeScriptCompileServer.StartAsync(sandbox, tools, isolated, time, cancellationToken);
            }
            catch (Exception ex) when ((ex is IOException or InvalidOperationException) && start < 2)
            {
                // Started again by the loop.
            }
            catch (Exception ex) when (ex is IOException or InvalidOperationException or ToolMissingException)
            {
                return new TypeScriptCompileResult(null, ExecutionOutcome.HarnessError, $"the TypeScript compile server did not start (tried {start} times): {ex.Message}");
            }
        }

        TypeScriptCompileResult result;
        try
        {
            result = await server.CompileAsync(files, types, cancellationToken);
        }
        catch
        {
            server.Dispose();
            throw;
        }

        _idle.Return(isolated, server, result.Compilation is not null && server.Requests < TypeScriptCompileServer.MaxRequests);
        return result;
    }

    public void Dispose() => _idle.Dispose();
}

/// <summary>A compile's result: the compilation, or the outcome and detail when the compiler did not answer (timeout, crash, limit).</summary>
public sealed record TypeScriptCompileResult(TypeScriptCompilation? Compilation, ExecutionOutcome Outcome, string? Detail);

/// <summary>One sandboxed <c>node tsserver.js</c> process speaking one JSON line per request and per response.</summary>
internal sealed class TypeScriptCompileServer : IDisposable
{
    /// <summary>Requests after which a server is retired (bounds any growth of its heap).</summary>
    public const int MaxRequests = 500;

    private const long MemoryBytes = 1536L << 20;
    private readonly SandboxedProcess _process;
    private readonly StreamWriter _writer;
    private readonly StreamReader _reader;
    private readonly string _hostDir;
    private readonly TimeProvider _time;
    private int _requests;

    private TypeScriptCompileServer(SandboxedProcess process, string hostDir, TimeProvider time)
    {
        _process = process;
        _hostDir = hostDir;
        _time = time;
        _writer = new StreamWriter(process.StandardInput, new UTF8Encoding(false), leaveOpen: true) { AutoFlush = false, NewLine = "\n" };
        _reader = new StreamReader(process.StandardOutput, Encoding.UTF8, false, 1 << 16, leaveOpen: true);
    }

    public int Requests => _requests;

    public bool IsAlive => !_process.HasExited;

    public static async Task<TypeScriptCompileServer> StartAsync(ProcessSandbox sandbox, NodeTools tools, bool isolated, TimeProvider time, CancellationToken cancellationToken)
    {
        var node = ToolLocator.Require(ToolLocator.Node, "node", "Node.js 20 or later (apt-get install nodejs)");
        var script = TypeScriptCompilePool.Script;
        if (!File.Exists(script))
        {
            throw new ToolMissingException($"{script} is missing. Fix: rebuild spark-eval (Eval.Sandbox ships its helper scripts)");
        }

        var hostDir = Path.Combine(sandbox.Environment.ScratchRoot, $"tsserver-{Guid.NewGuid():N}");
        Directory.CreateDirectory(hostDir);
        var limits = new SandboxLimits
        {
            // A long-lived server: the per-compile CPU limit is enforced per request; these bound the process as a whole.
            CpuSeconds = TypeScriptCompilePool.CompileCpuSeconds * MaxRequests,
            WallSeconds = double.MaxValue,
            MemoryBytes = MemoryBytes,
            MaxProcesses = 16,
            FileSizeBytes = 1L << 20,
        };
        var process = sandbox.Start(new ProcessSpec
        {
            Argv = [node.Executable, $"--max-old-space-size={((MemoryBytes >> 20) - 256).ToString(CultureInfo.InvariantCulture)}", "--stack-size=2048", script, tools.NodeModules],
            WorkDir = hostDir,
            ReadOnlyBinds = [.. node.Binds, tools.Root, Path.GetDirectoryName(script)!],
            Limits = limits,
            KeepStdin = true,
            Environment = new Dictionary<string, string> { ["NODE_OPTIONS"] = "", ["NO_COLOR"] = "1" },
        }, isolated);
        var server = new TypeScriptCompileServer(process, hostDir, time);
        try
        {
            var greeting = await server.ReadLineAsync(TimeSpan.FromSeconds(120), cancellationToken);
            if (greeting is null || JsonNode.Parse(greeting) is not JsonObject ready || ready["ready"]?.GetValue<bool>() != true)
            {
                throw new IOException($"unexpected greeting: {greeting ?? "(none)"}");
            }
        }
        catch (Exception ex) when (ex is IOException or JsonException or TimeoutException or OperationCanceledException or InvalidOperationException)
        {
            var stderr = process.StderrText;
            server.Dispose();
            cancellationToken.ThrowIfCancellationRequested();
            throw new IOException($"{ex.Message}{Classifier.Tail(stderr, 3, prefix: ": ")}", ex);
        }

        return server;
    }

    public async Task<TypeScriptCompileResult> CompileAsync(IReadOnlyList<(string Name, string Text)> files, IReadOnlyList<string> types, CancellationToken cancellationToken)
    {
        var id = ++_requests;
        var request = new JsonObject
        {
            ["id"] = id,
            ["files"] = new JsonArray([.. files.Select(f => (JsonNode)new JsonObject { ["name"] = f.Name, ["text"] = f.Text })]),
            ["types"] = new JsonArray([.. types.Select(t => (JsonNode)JsonValue.Create(t))]),
        };
        var cpuStart = _process.CpuSeconds;
        var started = _time.GetTimestamp();
        try
        {
            await _writer.WriteLineAsync(request.ToJsonString().AsMemory(), cancellationToken);
            await _writer.FlushAsync(cancellationToken);
        }
        catch (IOException ex)
        {
            return Died($"the compile server could not take the request ({ex.Message})");
        }

        var response = _reader.ReadLineAsync(CancellationToken.None).AsTask();
        var stoppedBy = await _process.AwaitAnswerAsync(response, cpuStart, started,
            TypeScriptCompilePool.CompileCpuSeconds, TypeScriptCompilePool.CompileWallSeconds, _time, cancellationToken);
        if (stoppedBy is not null)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var reason = stoppedBy == "cpu_limit"
                ? $"CPU time limit reached ({F(_process.CpuSeconds - cpuStart)} s CPU)"
                : $"wall-clock limit reached ({F(_time.GetElapsedTime(started).TotalSeconds)} s wall)";
            return new TypeScriptCompileResult(null, ExecutionOutcome.Timeout, $"the TypeScript compiler did not finish: {reason}");
        }

        string? line;
        try
        {
            line = await response;
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            line = null;
        }

        if (line is null)
        {
            return Died("the compile server ended while compiling");
        }

        try
        {
            var answer = JsonNode.Parse(line)!.AsObject();
            if (answer["id"]?.GetValue<int>() != id)
            {
                return Died("the compile server answered out of turn");
            }

            if (answer["fatal"]?.GetValue<string>() is { } fatal)
            {
                // The compiler threw on this input: the text does not compile. The server's state is suspect, so it is replaced.
                return new TypeScriptCompileResult(null, ExecutionOutcome.CompileError, Classifier.Shorten($"the TypeScript compiler failed on this program: {fatal}"));
            }

            var errors = answer["errors"]!.AsArray().Select(e => e!.GetValue<string>()).ToList();
            var outputs = answer["outputs"]!.AsArray().ToDictionary(o => o!["name"]!.GetValue<string>(), o => o!["text"]!.GetValue<string>(), StringComparer.Ordinal);
            return new TypeScriptCompileResult(new TypeScriptCompilation(errors, answer["errorCount"]!.GetValue<int>(), outputs, answer["ms"]!.GetValue<double>()), ExecutionOutcome.Passed, null);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or NullReferenceException or FormatException)
        {
            return Died($"the compile server answered garbage ({ex.Message})");
        }

        TypeScriptCompileResult Died(string what)
        {
            _process.Kill();
            var stderr = _process.StderrText;
            var outcome = _process.MemoryLimitHit || stderr.Contains("heap out of memory", StringComparison.Ordinal) ? ExecutionOutcome.MemoryLimit : ExecutionOutcome.CompileError;
            var detail = outcome == ExecutionOutcome.MemoryLimit ? "the TypeScript compiler ran out of memory on this program" : what;
            return new TypeScriptCompileResult(null, outcome, Classifier.Shorten(detail + Classifier.Tail(stderr, 3, prefix: ": ")));
        }
    }

    private async Task<string?> ReadLineAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        try
        {
            return await _reader.ReadLineAsync(cts.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"no answer within {timeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s");
        }
    }

    private static string F(double? value) => value is { } v ? v.ToString("0.##", CultureInfo.InvariantCulture) : "?";

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
        try
        {
            Directory.Delete(_hostDir, true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }
    }
}
