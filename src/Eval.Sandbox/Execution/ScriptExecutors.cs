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
    public async Task<ExecutionResult> ExecuteAsync(ProgramRequest request, AttemptDirectory directory, bool isolated, CancellationToken cancellationToken)
    {
        var python = ToolLocator.Require(ToolLocator.Python, "python3", "Python 3.11 or later (apt-get install python3)");
        var source = request.Mode == ProgramMode.Tests ? request.Implementation + "\n" + request.Source : request.Source;
        if (isolated && forkServers is not null && sandbox.Environment.CanSwitchUsers)
        {
            return await forkServers.ExecuteAsync(source, request.Limits, cancellationToken);
        }

        await File.WriteAllTextAsync(directory.File("prog.py"), source, cancellationToken);
        var run = await sandbox.RunAsync(new ProcessSpec
        {
            Argv = [python.Executable, "-I", "-B", "prog.py"],
            WorkDir = directory.Path,
            ReadOnlyBinds = python.Binds,
            Limits = request.Limits,
            LimitAddressSpace = sandbox.Environment.CgroupRoots.ContainsKey("memory") is false,
            Environment = new Dictionary<string, string> { ["PYTHONHASHSEED"] = "0", ["PYTHONIOENCODING"] = "utf-8" },
        }, isolated, cancellationToken);
        return Classifier.Classify(run, "python");
    }
}
