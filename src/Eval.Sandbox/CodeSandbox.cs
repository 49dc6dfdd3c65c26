using Spark.Eval.Sandbox.Execution;

namespace Spark.Eval.Sandbox;

/// <summary>Options of the sandbox: limits, and whether untrusted code may run without namespaces.</summary>
public sealed record SandboxOptions
{
    /// <summary>Lets untrusted code run under process limits alone when bubblewrap is missing (--allow-unsandboxed).</summary>
    public bool AllowUnsandboxed { get; init; }
    public SandboxLimits Limits { get; init; } = SandboxLimits.Default;
}

/// <summary>The one entry point for executing code: picks the executor, makes a fresh directory, applies the isolation policy.</summary>
public sealed class CodeSandbox : IDisposable
{
    private readonly SandboxOptions _options;
    private readonly ProcessSandbox _process;
    private readonly CSharpExecutor _csharp;
    private readonly PythonForkServerPool _pythonServers;
    private readonly Dictionary<string, ICodeExecutor> _executors;
    private bool _disposed;

    public CodeSandbox(SandboxOptions options, TimeProvider time, Action<string>? progress = null, SandboxEnvironment? environment = null)
    {
        _options = options;
        Environment = environment ?? SandboxEnvironment.Current;
        _process = new ProcessSandbox(Environment, time);
        _csharp = new CSharpExecutor(_process, time);
        _pythonServers = new PythonForkServerPool(_process, time);
        _executors = new(StringComparer.Ordinal)
        {
            ["python"] = new PythonExecutor(_process, _pythonServers),
            ["javascript"] = new JavaScriptExecutor(_process),
            ["typescript"] = new TypeScriptExecutor(_process, progress, time),
            ["csharp"] = _csharp,
        };
    }

    public SandboxEnvironment Environment { get; }

    public SandboxOptions Options => _options;

    public static IReadOnlyCollection<string> Languages { get; } = ["csharp", "python", "typescript", "javascript"];

    /// <summary>The policy this sandbox applies, in words, for the run manifest and the grade summary.</summary>
    public string Policy => Environment.HasNamespaces
        ? $"isolated: {Environment.Describe(true)} for every program" + (Environment.CanSwitchUsers ? "; Python in pooled fork-servers, each attempt slot with its own uid" : "")
        : _options.AllowUnsandboxed
            ? $"UNSANDBOXED (--allow-unsandboxed): {Environment.Describe(false)} only, bubblewrap missing"
            : $"trusted-only: bubblewrap missing, so only suite references and mutants (matched by hash) run, under {Environment.Describe(false)}; other answers are refused";

    /// <summary>Executes one program and classifies the outcome; never throws for what the program does.</summary>
    public async Task<ExecutionResult> ExecuteAsync(ProgramRequest request, CancellationToken cancellationToken)
    {
        if (!_executors.TryGetValue(request.Language, out var executor))
        {
            return ExecutionResult.Harness($"no executor for language '{request.Language}' (known: {string.Join(", ", Languages)})", "none");
        }

        var isolated = Environment.HasNamespaces;
        if (!isolated && !request.Trusted && !_options.AllowUnsandboxed)
        {
            return ExecutionResult.Harness("refused: bubblewrap is not installed and this answer is not a suite reference or mutant. Fix: install bubblewrap (apt-get install bubblewrap), or pass --allow-unsandboxed to run it under process limits only", "none");
        }

        cancellationToken.ThrowIfCancellationRequested();
        var limits = request.Limits == SandboxLimits.Default ? _options.Limits : request.Limits;
        var size = (long)System.Text.Encoding.UTF8.GetByteCount(request.Source) + System.Text.Encoding.UTF8.GetByteCount(request.Implementation ?? "");
        if (size > limits.MaxProgramBytes)
        {
            // Refused before any helper sees it (a fork-server writing it past its own file-size limit used to die, and the
            // attempt was blamed on a crash).
            return new ExecutionResult
            {
                Outcome = ExecutionOutcome.SandboxViolation,
                Detail = string.Create(System.Globalization.CultureInfo.InvariantCulture,
                    $"program too large: {size} bytes, over the {limits.MaxProgramBytes} byte program size limit; not run"),
                Isolation = Environment.Describe(isolated),
            };
        }

        using var directory = new AttemptDirectory(Environment.ScratchRoot);
        try
        {
            return await executor.ExecuteAsync(request with { Limits = limits }, directory, isolated, cancellationToken);
        }
        catch (ToolMissingException ex)
        {
            return ExecutionResult.Harness(ex.Message, Environment.Describe(isolated));
        }
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        foreach (var executor in _executors.Values.OfType<IDisposable>())
        {
            executor.Dispose();
        }

        _pythonServers.Dispose();
    }
}
