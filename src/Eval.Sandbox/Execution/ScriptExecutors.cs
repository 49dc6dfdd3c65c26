using System.Globalization;

namespace Spark.Eval.Sandbox.Execution;

/// <summary>Executes one program of one language in a fresh directory under the sandbox.</summary>
public interface ICodeExecutor
{
    Task<ExecutionResult> ExecuteAsync(ProgramRequest request, AttemptDirectory directory, bool isolated, CancellationToken cancellationToken);
}

/// <summary>A fresh, empty directory for one attempt, deleted on dispose.</summary>
public sealed class AttemptDirectory : IDisposable
{
    private static long s_counter;

    public AttemptDirectory(string root)
    {
        Path = System.IO.Path.Combine(root, $"attempt-{Interlocked.Increment(ref s_counter).ToString(CultureInfo.InvariantCulture)}");
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }
    }
}

/// <summary>
/// Python: isolated attempts go to the pooled fork-server (<see cref="PythonForkServerPool"/>) when this machine allows per-attempt
/// uids, else <c>python3 -I -B prog.py</c> in its own sandbox; tests mode runs implementation + tests as one file (plain asserts or unittest.main()).
/// </summary>
public sealed class PythonExecutor(ProcessSandbox sandbox, PythonForkServerPool? forkServers = null) : ICodeExecutor
{
    /// <summary>The trusted check driver every one-shot Python program runs under.</summary>
    public static string DriverScript => Path.Combine(AppContext.BaseDirectory, "sandbox-helpers", "pydriver.py");

    public async Task<ExecutionResult> ExecuteAsync(ProgramRequest request, AttemptDirectory directory, bool isolated, CancellationToken cancellationToken)
    {
        var python = ToolLocator.Require(ToolLocator.Python, "python3", "Python 3.11 or later (apt-get install python3)");
        var source = request.Mode == ProgramMode.Tests ? request.Implementation + "\n" + request.Source : request.Source;
        var tests = request.Mode == ProgramMode.Tests;
        if (isolated && forkServers is not null && sandbox.Environment.CanSwitchUsers)
        {
            return await forkServers.ExecuteAsync(source, tests, request.Limits, cancellationToken);
        }

        // The trusted driver (Helpers/pydriver.py) runs prog.py as __main__ and reports completion with the per-grade nonce,
        // which it reads from stdin before the program starts (the program then sees an empty stdin).
        var driver = DriverScript;
        if (!File.Exists(driver))
        {
            throw new ToolMissingException($"{driver} is missing. Fix: rebuild spark-eval (Eval.Sandbox ships its helper scripts)");
        }

        var nonce = PassEvidence.NewNonce();
        await File.WriteAllTextAsync(directory.File("prog.py"), source, cancellationToken);
        var run = await sandbox.RunAsync(new ProcessSpec
        {
            Argv = [python.Executable, "-I", "-B", driver, "prog.py", tests ? "tests" : "program"],
            WorkDir = directory.Path,
            ReadOnlyBinds = [.. python.Binds, Path.GetDirectoryName(driver)!],
            Limits = request.Limits,
            LimitAddressSpace = sandbox.Environment.CgroupRoots.ContainsKey("memory") is false,
            Environment = new Dictionary<string, string> { ["PYTHONHASHSEED"] = "0", ["PYTHONIOENCODING"] = "utf-8" },
            StdinText = nonce + "\n",
            EvidenceNonce = nonce,
        }, isolated, cancellationToken);
        return Classifier.Classify(run, "python");
    }
}
