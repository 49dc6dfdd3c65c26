using System.Diagnostics;
using Spark.Eval.Cli;

namespace Spark.Eval.Cli.Tests;

/// <summary>Runs spark-eval in process (fast) or as a real child process (for signals and kill -9).</summary>
internal static class CliHarness
{
    public static async Task<(int Exit, string Out, string Err)> RunAsync(params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var exit = await SparkEvalCli.RunAsync(args, stdout, stderr, TestContext.Current.CancellationToken);
        return (exit, stdout.ToString(), stderr.ToString());
    }

    public static string CliDll
    {
        get
        {
            var local = Path.Combine(AppContext.BaseDirectory, "spark-eval.dll");
            if (File.Exists(Path.Combine(AppContext.BaseDirectory, "spark-eval.runtimeconfig.json")))
            {
                return local;
            }

            var configuration = AppContext.BaseDirectory.Contains("/Release/", StringComparison.Ordinal) ? "Release" : "Debug";
            return Path.Combine(RepoRoot, "src", "Eval.Cli", "bin", configuration, "net10.0", "spark-eval.dll");
        }
    }

    public static Process Start(string workingDirectory, params string[] args)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(CliDll);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        return Process.Start(info) ?? throw new InvalidOperationException("could not start spark-eval");
    }

    public static string RepoRoot { get; } = FindRoot();

    public static string TempDir()
    {
        var dir = Path.Combine(Path.GetTempPath(), "spark-eval-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Eval.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("Eval.sln not found");
    }
}
