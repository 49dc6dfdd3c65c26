using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace Spark.Eval.Sandbox.Execution;

/// <summary>C#: Roslyn compiles in memory with DEBUG defined; the program runs in a pooled worker process under the sandbox, never in the harness.</summary>
public sealed class CSharpExecutor(ProcessSandbox sandbox, TimeProvider time) : ICodeExecutor, IDisposable
{
    private static readonly CSharpParseOptions ParseOptions = new(LanguageVersion.Latest, preprocessorSymbols: ["DEBUG", "TRACE"]);
    private static readonly Lazy<ImmutableArray<MetadataReference>> FrameworkReferences = new(LoadReferences);
    private static readonly Lazy<CSharpCompilation> ProgramBase = new(() => EmptyCompilation(OutputKind.ConsoleApplication));
    private static readonly Lazy<CSharpCompilation> LibraryBase = new(() => EmptyCompilation(OutputKind.DynamicallyLinkedLibrary));
    private readonly IdlePool<bool, CSharpWorker> _idle = new(worker => worker.Dispose());

    public static string WorkerDll => Path.Combine(AppContext.BaseDirectory, "spark-sandbox-worker.dll");

    /// <summary>Compiles to an in-memory assembly; returns the image or the first errors.</summary>
    public static (byte[]? Image, string? Errors) Compile(string source, ProgramMode mode)
    {
        var tree = CSharpSyntaxTree.ParseText(source, ParseOptions, path: "Program.cs", encoding: Encoding.UTF8);
        // One empty compilation per mode, shared: adding a tree keeps its bound framework references (Roslyn reuses the
        // reference manager while the assembly name and references stay the same), which a fresh Create rebinds every time.
        // Every image is loaded in its own collectible load context, so the shared assembly name never clashes.
        var compilation = (mode == ProgramMode.Tests ? LibraryBase : ProgramBase).Value.AddSyntaxTrees(tree);
        using var stream = new MemoryStream();
        var emit = compilation.Emit(stream);
        if (!emit.Success)
        {
            var errors = emit.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).Take(3)
                .Select(d => d.ToString());
            return (null, string.Join(" | ", errors));
        }

        return (stream.ToArray(), null);
    }

    private static CSharpCompilation EmptyCompilation(OutputKind kind) => CSharpCompilation.Create("attempt", [], FrameworkReferences.Value,
        new CSharpCompilationOptions(kind, optimizationLevel: OptimizationLevel.Debug, nullableContextOptions: NullableContextOptions.Disable,
            concurrentBuild: false, deterministic: true));

    public async Task<ExecutionResult> ExecuteAsync(ProgramRequest request, AttemptDirectory directory, bool isolated, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_idle.IsDisposed, this);
        var source = request.Mode == ProgramMode.Tests
            ? request.Implementation + "\n" + request.Source
            : request.Source;
        var (image, errors) = Compile(source, request.Mode);
        var level = sandbox.Environment.Describe(isolated);
        if (image is null)
        {
            return new ExecutionResult { Outcome = ExecutionOutcome.CompileError, Detail = Classifier.Shorten(errors ?? ""), Isolation = level };
        }

        CSharpWorker worker;
        try
        {
            worker = await AcquireAsync(isolated, request.Limits, cancellationToken);
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException or TimeoutException or ToolMissingException)
        {
            return ExecutionResult.Harness($"the C# worker did not start: {ex.Message}", level);
        }

        var (result, reusable) = await worker.RunAsync(request, image, time, cancellationToken);
        // Recycle long-lived workers so code-heap growth from loaded attempts never reaches the memory limit.
        _idle.Return(isolated, worker, reusable && worker.Attempts < 100 && !cancellationToken.IsCancellationRequested);
        cancellationToken.ThrowIfCancellationRequested();

        return result;
    }

    private async Task<CSharpWorker> AcquireAsync(bool isolated, SandboxLimits limits, CancellationToken cancellationToken) =>
        _idle.TryTake(isolated, idle => idle.IsAlive && idle.Limits == limits)
        ?? await CSharpWorker.StartAsync(sandbox, isolated, limits, time, cancellationToken);

    public void Dispose() => _idle.Dispose();

    private static ImmutableArray<MetadataReference> LoadReferences()
    {
        var runtimeDir = Path.GetDirectoryName(typeof(object).Assembly.Location)!;
        var paths = ((string?)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Where(p => Path.GetDirectoryName(p) == runtimeDir)
            .ToList();
        var xunit = Path.Combine(AppContext.BaseDirectory, "xunit.v3.assert.dll");
        if (File.Exists(xunit))
        {
            paths.Add(xunit);
        }

        return [.. paths.Select(p => (MetadataReference)MetadataReference.CreateFromFile(p))];
    }
}

/// <summary>One sandboxed worker process and its pool directory; replaced after any attempt that did not end normally.</summary>
internal sealed class CSharpWorker : IDisposable
{
    private const int Magic = 0x4B525053;
    private readonly SandboxedProcess _process;
    private readonly BinaryWriter _writer;
    private readonly BinaryReader _reader;
    private readonly string _hostDir;
    private readonly string _insideDir;
    private int _attempts;
    private int? _baselineProcesses;

    private CSharpWorker(SandboxedProcess process, string hostDir, string insideDir, SandboxLimits limits)
    {
        _process = process;
        _hostDir = hostDir;
        _insideDir = insideDir;
        Limits = limits;
        _writer = new BinaryWriter(process.StandardInput, Encoding.UTF8, leaveOpen: true);
        _reader = new BinaryReader(process.StandardOutput, Encoding.UTF8, leaveOpen: true);
    }

    public SandboxLimits Limits { get; }

    public int Attempts => _attempts;

    public bool IsAlive => !_process.HasExited;

    public static async Task<CSharpWorker> StartAsync(ProcessSandbox sandbox, bool isolated, SandboxLimits limits, TimeProvider time, CancellationToken cancellationToken)
    {
        var dotnet = SandboxEnvironment.Which("dotnet") ?? throw new ToolMissingException("dotnet was not found on PATH. Fix: install the .NET 10 runtime");
        var real = new FileInfo(dotnet).ResolveLinkTarget(true)?.FullName ?? dotnet;
        var root = Path.GetDirectoryName(real)!;
        if (!File.Exists(CSharpExecutor.WorkerDll))
        {
            throw new ToolMissingException($"{CSharpExecutor.WorkerDll} is missing. Fix: rebuild spark-eval (Eval.Sandbox references the worker project)");
        }

        var hostDir = Path.Combine(sandbox.Environment.ScratchRoot, $"csworker-{Guid.NewGuid():N}");
        Directory.CreateDirectory(hostDir);
        // The worker keeps its runtime overhead (about 60 MB) on top of the program's limit.
        var workerLimits = limits with { MemoryBytes = limits.MemoryBytes + (128L << 20), MaxProcesses = Math.Max(limits.MaxProcesses, 64) };
        var process = sandbox.Start(new ProcessSpec
        {
            Argv = [real, CSharpExecutor.WorkerDll],
            WorkDir = hostDir,
            ReadOnlyBinds = [root, AppContext.BaseDirectory.TrimEnd('/')],
            Limits = workerLimits,
            KeepStdin = true,
            Environment = new Dictionary<string, string>
            {
                ["DOTNET_ROOT"] = root,
                ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
                ["DOTNET_gcServer"] = "0",
                ["DOTNET_GCHeapHardLimit"] = "0x" + limits.MemoryBytes.ToString("X", CultureInfo.InvariantCulture),
                ["DOTNET_TieredPGO"] = "0",
                ["DOTNET_TC_QuickJitForLoops"] = "1",
                ["DOTNET_EnableDiagnostics"] = "0",
            },
        }, isolated);
        var worker = new CSharpWorker(process, hostDir, sandbox.WorkPath(hostDir, isolated), limits);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        try
        {
            var ready = await Task.Run(() => worker._reader.ReadInt32() == Magic && worker._reader.ReadString() == "ready", timeout.Token).WaitAsync(timeout.Token);
            if (!ready)
            {
                throw new IOException("the worker answered with an unexpected greeting");
            }

            worker._baselineProcesses = process.ProcessCount;
        }
        catch (Exception ex) when (ex is EndOfStreamException or OperationCanceledException or IOException)
        {
            var stderr = process.StderrText;
            worker.Dispose();
            cancellationToken.ThrowIfCancellationRequested();
            throw new IOException($"worker start failed: {Classifier.Tail(stderr, 3)}", ex);
        }

        return worker;
    }

    public async Task<(ExecutionResult Result, bool Reusable)> RunAsync(ProgramRequest request, byte[] image, TimeProvider time, CancellationToken cancellationToken)
    {
        var name = $"attempt-{(++_attempts).ToString(CultureInfo.InvariantCulture)}";
        var hostAttempt = Path.Combine(_hostDir, name);
        Directory.CreateDirectory(hostAttempt);
        var limits = request.Limits;
        var cpuStart = _process.CpuSeconds;
        var started = time.GetTimestamp();
        var nonce = PassEvidence.NewNonce();
        try
        {
            _writer.Write(request.Mode == ProgramMode.Tests ? 2 : 1);
            _writer.Write(nonce);
            _writer.Write(_insideDir + "/" + name);
            _writer.Write(limits.OutputKeepBytes);
            _writer.Write(limits.OutputKillBytes);
            _writer.Write(image.Length);
            _writer.Write(image);
            _writer.Flush();
        }
        catch (IOException ex)
        {
            return (Crashed($"the worker could not take the request ({ex.Message})", time.GetElapsedTime(started).TotalSeconds, 0), false);
        }

        var response = Task.Run(() => ReadResponse(), CancellationToken.None);
        var stoppedBy = await _process.AwaitAnswerAsync(response, cpuStart, started, limits.CpuSeconds, limits.WallSeconds, time, cancellationToken);

        var wall = time.GetElapsedTime(started).TotalSeconds;
        var cpuUsed = _process.CpuSeconds - cpuStart;
        Response? answer = null;
        try
        {
            answer = await response.WaitAsync(TimeSpan.FromSeconds(5), time, CancellationToken.None);
        }
        catch (Exception ex) when (ex is EndOfStreamException or IOException or TimeoutException or InvalidDataException)
        {
        }

        TryDelete(hostAttempt);
        var run = new ProcessRun
        {
            ExitCode = answer is null ? null : 0,
            Stdout = answer?.Output ?? "",
            Stderr = answer is null ? _process.StderrText : "",
            OutputBytes = answer?.OutputBytes ?? 0,
            WallSeconds = wall,
            CpuSeconds = cpuUsed,
            StoppedBy = stoppedBy,
            Isolation = _process.Isolation,
        };
        ExecutionResult Result(ExecutionOutcome outcome, string? detail) => new() { Outcome = outcome, Detail = detail, Run = run, Isolation = _process.Isolation };
        if (stoppedBy is "cancelled")
        {
            // The worker was killed with its whole tree by the watchdog; the caller disposes it (not reusable).
            return (Result(ExecutionOutcome.RuntimeError, "cancelled"), false);
        }

        if (stoppedBy is "cpu_limit" or "wall_limit")
        {
            return (Result(ExecutionOutcome.Timeout, stoppedBy == "cpu_limit"
                ? $"CPU time limit reached ({F(cpuUsed)} s CPU, {F(wall)} s wall)"
                : $"wall-clock limit reached ({F(wall)} s wall, {F(cpuUsed)} s CPU)"), false);
        }

        if (answer is null)
        {
            _process.Kill();
            return (Crashed("the program ended the worker", wall, cpuUsed), false);
        }

        if (!string.Equals(answer.Nonce, nonce, StringComparison.Ordinal))
        {
            // Bytes on the protocol channel that do not carry this attempt's nonce were written by the program, not the worker.
            _process.Kill();
            return (Result(ExecutionOutcome.RuntimeError, Classifier.NoEvidenceDetail), false);
        }

        // A program that left processes behind (even one that passed) gets its worker replaced, which kills them; so does one
        // that left threads, queued work, timers or environment changes in the worker (answer.Reusable).
        var clean = _process.ProcessCount == _baselineProcesses && answer.Reusable;
        return answer.Status switch
        {
            0 => (Result(ExecutionOutcome.Passed, request.Mode == ProgramMode.Tests ? answer.Detail : null), clean),
            5 => (Result(ExecutionOutcome.SandboxViolation, Classifier.TamperedDetail + ": " + answer.Detail), false),
            1 => (Result(ExecutionOutcome.WrongAnswer, Classifier.Shorten(answer.Detail)), false),
            3 => (Result(ExecutionOutcome.OutputLimit, answer.Detail), false),
            4 => (Result(ExecutionOutcome.HarnessError, answer.Detail), false),
            _ => (Result(answer.Detail.Contains("OutOfMemoryException", StringComparison.Ordinal) ? ExecutionOutcome.MemoryLimit : ExecutionOutcome.RuntimeError, Classifier.Shorten(answer.Detail)), false),
        };

        ExecutionResult Crashed(string what, double wallSeconds, double? cpuSeconds)
        {
            var stderr = _process.StderrText;
            var crashRun = new ProcessRun { Stdout = "", Stderr = stderr, WallSeconds = wallSeconds, CpuSeconds = cpuSeconds, Isolation = _process.Isolation };
            var outcome = _process.MemoryLimitHit || stderr.Contains("OutOfMemory", StringComparison.Ordinal) || stderr.Contains("Out of memory", StringComparison.Ordinal) ? ExecutionOutcome.MemoryLimit
                : _process.PidsLimitHit ? ExecutionOutcome.SandboxViolation
                : ExecutionOutcome.RuntimeError;
            return new ExecutionResult { Outcome = outcome, Detail = what + Classifier.Tail(stderr, 3, prefix: ": "), Run = crashRun, Isolation = _process.Isolation };
        }
    }

    private Response ReadResponse()
    {
        if (_reader.ReadInt32() != Magic)
        {
            throw new InvalidDataException("the program wrote to the worker's protocol channel");
        }

        var nonce = _reader.ReadString();
        return new Response(nonce, _reader.ReadInt32(), _reader.ReadString(), _reader.ReadString(), _reader.ReadInt64(), _reader.ReadBoolean());
    }

    private static string F(double? value) => value is { } v ? v.ToString("0.##", CultureInfo.InvariantCulture) : "?";

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
        _writer.Dispose();
        _reader.Dispose();
        TryDelete(_hostDir);
    }

    private sealed record Response(string Nonce, int Status, string Detail, string Output, long OutputBytes, bool Reusable);
}
