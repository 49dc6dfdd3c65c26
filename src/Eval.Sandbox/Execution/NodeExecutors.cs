using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Spark.Eval.Sandbox.Execution;

/// <summary>JavaScript: <c>node prog.mjs</c> (an ES module when it imports, else CommonJS).</summary>
public sealed partial class JavaScriptExecutor(ProcessSandbox sandbox) : ICodeExecutor
{
    public async Task<ExecutionResult> ExecuteAsync(ProgramRequest request, AttemptDirectory directory, bool isolated, CancellationToken cancellationToken)
    {
        var file = EsImport().IsMatch(request.Source) ? "prog.mjs" : "prog.cjs";
        await File.WriteAllTextAsync(directory.File(file), request.Source, cancellationToken);
        return await RunNodeAsync(sandbox, file, "javascript", request.Limits, directory, isolated, [], cancellationToken, driven: request.Mode == ProgramMode.Program);
    }

    /// <summary>The trusted check driver a one-shot program runs under (the pooled runner's workers run it too).</summary>
    public static string DriverScript => Path.Combine(AppContext.BaseDirectory, "sandbox-helpers", "nodedriver.js");

    /// <summary>Runs <c>node file</c>; <paramref name="driven"/> runs it under the check driver, so a pass needs its completion evidence.</summary>
    internal static async Task<ExecutionResult> RunNodeAsync(ProcessSandbox sandbox, string file, string language, SandboxLimits limits, AttemptDirectory directory, bool isolated, IReadOnlyList<string> binds, CancellationToken cancellationToken, string[]? extraArgs = null, bool driven = false)
    {
        var node = ToolLocator.Require(ToolLocator.Node, "node", "Node.js 20 or later (apt-get install nodejs)");
        var heapMb = Math.Max(64, limits.MemoryBytes / (1 << 20) - 64);
        var nonce = driven ? PassEvidence.NewNonce() : null;
        var driver = DriverScript;
        if (driven && !File.Exists(driver))
        {
            throw new ToolMissingException($"{driver} is missing. Fix: rebuild spark-eval (Eval.Sandbox ships its helper scripts)");
        }

        var run = await sandbox.RunAsync(new ProcessSpec
        {
            Argv = [node.Executable, $"--max-old-space-size={heapMb.ToString(CultureInfo.InvariantCulture)}", "--stack-size=2048", .. driven ? [driver] : Array.Empty<string>(), file, .. extraArgs ?? []],
            WorkDir = directory.Path,
            ReadOnlyBinds = [.. node.Binds, .. binds, .. driven ? [Path.GetDirectoryName(driver)!] : Array.Empty<string>()],
            Limits = limits,
            Environment = new Dictionary<string, string> { ["NODE_OPTIONS"] = "", ["NO_COLOR"] = "1", ["FORCE_COLOR"] = "0" },
            StdinText = nonce is null ? null : nonce + "\n",
            EvidenceNonce = nonce,
        }, isolated, cancellationToken);
        return Classifier.Classify(run, language);
    }

    [GeneratedRegex(@"^\s*(import\s|export\s)", RegexOptions.Multiline)]
    private static partial Regex EsImport();
}

/// <summary>TypeScript: a pooled, sandboxed compile server (locked TypeScript 5.9 compiler API, strict, CommonJS) type-checks and emits; a type error is compile_error; the JavaScript runs in a pooled, sandboxed node runner (a fresh worker thread and directory per attempt).</summary>
/// <remarks>
/// SPARK_EVAL_NODE_RUN=process runs the JavaScript in a fresh <c>node</c> process per attempt instead; SPARK_EVAL_TSC=native compiles with
/// the locked TypeScript 7 native tsc, one process per program, outside the sandbox (the first implementation, kept for comparison).
/// Jest tests always run in a fresh process.
/// </remarks>
public sealed partial class TypeScriptExecutor(ProcessSandbox sandbox, Action<string>? progress, TimeProvider time) : ICodeExecutor, IDisposable
{
    private readonly TypeScriptCompilePool _compilers = new(sandbox, time);
    private readonly NodeRunnerPool _runners = new(sandbox, time);

    /// <summary>True when SPARK_EVAL_TSC=native asks for one native tsc process per program (the slower path kept for comparison).</summary>
    public static bool UseNativeTsc => string.Equals(System.Environment.GetEnvironmentVariable("SPARK_EVAL_TSC"), "native", StringComparison.Ordinal);

    /// <summary>True when SPARK_EVAL_NODE_RUN=process asks for a fresh node process per attempt instead of the pooled runner.</summary>
    public static bool UseNodeProcessPerAttempt => string.Equals(System.Environment.GetEnvironmentVariable("SPARK_EVAL_NODE_RUN"), "process", StringComparison.Ordinal);

    public async Task<ExecutionResult> ExecuteAsync(ProgramRequest request, AttemptDirectory directory, bool isolated, CancellationToken cancellationToken)
    {
        NodeTools tools;
        try
        {
            tools = await NodeTools.EnsureAsync(progress, cancellationToken);
        }
        catch (ToolMissingException ex)
        {
            return ExecutionResult.Harness(ex.Message, "none");
        }

        var files = new List<(string Name, string Text)>();
        if (request.Mode == ProgramMode.Tests)
        {
            files.Add((SafeName(request.ImplementationPath ?? "implementation.ts"), request.Implementation ?? ""));
            files.Add(("answer.test.ts", request.Source));
        }
        else
        {
            files.Add(("prog.ts", request.Source));
        }

        var useNodeTypes = !DeclaresRequire().IsMatch(request.Source);
        string[] types = request.Mode == ProgramMode.Tests ? ["node", "jest"] : useNodeTypes ? ["node"] : [];
        var level = sandbox.Environment.Describe(isolated);
        ExecutionResult? compile;
        IReadOnlyDictionary<string, string>? emitted = null;
        if (UseNativeTsc)
        {
            foreach (var (name, text) in files)
            {
                await File.WriteAllTextAsync(directory.File(name), text, cancellationToken);
            }

            compile = await CompileNativeAsync(tools, directory.Path, [.. files.Select(f => f.Name)], string.Join(',', types), cancellationToken);
        }
        else
        {
            (compile, emitted) = await CompileInServerAsync(isolated, tools, files, types, cancellationToken);
        }

        if (compile is not null)
        {
            return compile with { Isolation = level };
        }

        if (emitted is not null && request.Mode == ProgramMode.Program && !UseNodeProcessPerAttempt)
        {
            return await _runners.RunAsync([("prog.js", emitted["prog.js"])], "typescript", request.Limits, isolated, cancellationToken);
        }

        foreach (var (name, text) in emitted ?? new Dictionary<string, string>())
        {
            await File.WriteAllTextAsync(directory.File(name), text, cancellationToken);
        }

        if (request.Mode == ProgramMode.Tests)
        {
            await File.WriteAllTextAsync(directory.File("jest.config.json"), "{\"testEnvironment\":\"node\",\"testMatch\":[\"**/*.test.js\"],\"transform\":{},\"cache\":false,\"watchman\":false,\"maxWorkers\":1}", cancellationToken);
            var limits = request.Limits with { CpuSeconds = Math.Max(request.Limits.CpuSeconds, 20), WallSeconds = Math.Max(request.Limits.WallSeconds, 60), MemoryBytes = Math.Max(request.Limits.MemoryBytes, 1L << 30) };
            var result = await JavaScriptExecutor.RunNodeAsync(sandbox, tools.Jest, "typescript", limits, directory, isolated, [tools.Root], cancellationToken,
                ["--ci", "--runInBand", "--no-cache", "--config", "jest.config.json", "--rootDir", "."]);
            return result.Outcome == ExecutionOutcome.RuntimeError && result.Run is { } r && r.Stderr.Contains('●')
                ? result with { Outcome = ExecutionOutcome.WrongAnswer, Detail = JestFailure(r.Stderr) }
                : result;
        }

        return await JavaScriptExecutor.RunNodeAsync(sandbox, "prog.js", "typescript", request.Limits, directory, isolated, [], cancellationToken, driven: true);
    }

    /// <summary>Type-checks and emits in a pooled compile server: a result when the program does not compile, else the emitted JavaScript (file name → text).</summary>
    private async Task<(ExecutionResult? Failure, IReadOnlyDictionary<string, string>? Emitted)> CompileInServerAsync(bool isolated, NodeTools tools, IReadOnlyList<(string Name, string Text)> files, IReadOnlyList<string> types, CancellationToken cancellationToken)
    {
        var result = await _compilers.CompileAsync(tools, isolated, files, types, cancellationToken);
        if (result.Compilation is not { } compilation)
        {
            return (new ExecutionResult { Outcome = result.Outcome, Detail = result.Detail, Isolation = "" }, null);
        }

        if (compilation.ErrorCount > 0)
        {
            return (new ExecutionResult { Outcome = ExecutionOutcome.CompileError, Detail = Classifier.Shorten(compilation.Errors[0]), Isolation = "" }, null);
        }

        var emitted = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, _) in files)
        {
            var js = Path.ChangeExtension(name, ".js");
            if (!compilation.Outputs.TryGetValue(js, out var text))
            {
                return (new ExecutionResult { Outcome = ExecutionOutcome.CompileError, Detail = $"the TypeScript compiler emitted no {js}", Isolation = "" }, null);
            }

            emitted[js] = text;
        }

        return (null, emitted);
    }

    public void Dispose()
    {
        _compilers.Dispose();
        _runners.Dispose();
    }

    /// <summary>The previous path (SPARK_EVAL_TSC=native): the native tsc 7, one process per program, outside the sandbox; a compile_error result when it reports any error, else null.</summary>
    private static async Task<ExecutionResult?> CompileNativeAsync(NodeTools tools, string dir, IReadOnlyList<string> files, string types, CancellationToken cancellationToken)
    {
        var native = tools.NativeTsc;
        var info = new ProcessStartInfo(native ?? ToolLocator.Require(ToolLocator.Node, "node", "Node.js 20 or later").Executable)
        {
            WorkingDirectory = dir,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (native is null)
        {
            info.ArgumentList.Add(tools.JsTsc);
        }

        foreach (var arg in new[] { "--strict", "--target", "es2022", "--module", "commonjs", "--esModuleInterop", "--skipLibCheck", "--pretty", "false", "--typeRoots", tools.TypesRoot, "--types", types })
        {
            info.ArgumentList.Add(arg);
        }

        foreach (var file in files)
        {
            info.ArgumentList.Add(file);
        }

        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(true);
            return new ExecutionResult { Outcome = ExecutionOutcome.Timeout, Detail = "tsc did not finish within 60 s", Isolation = "" };
        }

        var output = (await stdout) + (await stderr);
        var firstError = output.Split('\n').FirstOrDefault(l => l.Contains("error TS", StringComparison.Ordinal));
        if (firstError is not null || (process.ExitCode != 0 && !files.All(f => File.Exists(Path.Combine(dir, Path.ChangeExtension(f, ".js"))))))
        {
            return new ExecutionResult { Outcome = ExecutionOutcome.CompileError, Detail = Classifier.Shorten((firstError ?? output).Trim()), Isolation = "" };
        }

        return null;
    }

    private static string JestFailure(string stderr)
    {
        var lines = stderr.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0).ToList();
        var at = lines.FindIndex(l => l.StartsWith('●'));
        return at < 0 ? Classifier.Tail(stderr, 4) : Classifier.Shorten(string.Join(" | ", lines.Skip(at).Take(8).Where(l => !l.StartsWith("at ", StringComparison.Ordinal))));
    }

    private static string SafeName(string path)
    {
        var name = Path.GetFileName(path);
        return name.Length == 0 || name.StartsWith('.') ? "implementation.ts" : name;
    }

    [GeneratedRegex(@"declare\s+(var|let|const)\s+require\b")]
    private static partial Regex DeclaresRequire();
}
