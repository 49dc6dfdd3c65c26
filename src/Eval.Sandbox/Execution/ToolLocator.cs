using System.Diagnostics;

namespace Spark.Eval.Sandbox.Execution;

/// <summary>Finds interpreters (python3, node, dotnet) and the host folders they need bound into the sandbox.</summary>
public static class ToolLocator
{
    private static readonly Lazy<Tool?> PythonTool = new(() => Probe("python3", "-c", "import sys; print(sys.executable); print(sys.base_prefix)"));
    private static readonly Lazy<Tool?> NodeTool = new(() => Probe("node", "-e", "console.log(process.execPath); console.log(require('path').dirname(require('path').dirname(process.execPath)))"));

    /// <summary>python3, or null when absent.</summary>
    public static Tool? Python => PythonTool.Value;

    public static Tool? Node => NodeTool.Value;

    public static Tool Require(Tool? tool, string name, string install) =>
        tool ?? throw new ToolMissingException($"{name} was not found on PATH. Fix: install {install}");

    private static Tool? Probe(string name, params string[] args)
    {
        var path = SandboxEnvironment.Which(name);
        if (path is null)
        {
            return null;
        }

        try
        {
            var info = new ProcessStartInfo(path) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var arg in args)
            {
                info.ArgumentList.Add(arg);
            }

            using var process = Process.Start(info)!;
            var lines = process.StandardOutput.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            process.WaitForExit(10_000);
            if (process.ExitCode != 0 || lines.Length < 2)
            {
                return null;
            }

            var executable = new FileInfo(lines[0]).ResolveLinkTarget(true)?.FullName ?? lines[0];
            var prefix = lines[1];
            return new Tool(executable, prefix.StartsWith("/usr", StringComparison.Ordinal) ? [] : [prefix]);
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }
}

/// <summary>An interpreter's real path and the host folders to bind read-only for it.</summary>
public sealed record Tool(string Executable, IReadOnlyList<string> Binds);

/// <summary>A required interpreter or tool is missing; the message names what to install.</summary>
public sealed class ToolMissingException : Exception
{
    public ToolMissingException(string message) : base(message) { }

    public ToolMissingException(string message, Exception inner) : base(message, inner) { }

    public ToolMissingException() { }
}
