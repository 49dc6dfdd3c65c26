using Spark.Eval.Sandbox.Execution;

namespace Spark.Eval.Sandbox.Tests;

/// <summary>Tool folders bound into the sandbox stay visible wherever they live, /tmp included.</summary>
public class BubblewrapMountTests
{
    [Fact]
    public async Task Isolated_ToolBoundFromUnderTmp_IsVisibleNotHiddenByTheTmpfs()
    {
        SandboxFixture.RequireIsolation();
        // spark-eval run from a build folder in /tmp binds its C# worker from there; the sandbox's own /tmp tmpfs
        // used to be mounted over that bind, and dotnet said "the specified command or file was not found".
        var tool = Directory.CreateTempSubdirectory("spark-tool-");
        var work = Directory.CreateTempSubdirectory("spark-work-");
        try
        {
            Assert.StartsWith("/tmp/", tool.FullName, StringComparison.Ordinal);
            var script = Path.Combine(tool.FullName, "tool.sh");
            await File.WriteAllTextAsync(script, "echo tool-ran\n", TestContext.Current.CancellationToken);
            var sandbox = new ProcessSandbox(SandboxEnvironment.Current, TimeProvider.System);
            var run = await sandbox.RunAsync(new ProcessSpec { Argv = ["/bin/sh", script], WorkDir = work.FullName, ReadOnlyBinds = [tool.FullName], Limits = TestSupport.Tight },
                isolated: true, TestContext.Current.CancellationToken);
            Assert.True(run.ExitCode == 0, run.Stderr);
            Assert.Equal("tool-ran\n", run.Stdout);
        }
        finally
        {
            tool.Delete(recursive: true);
            work.Delete(recursive: true);
        }
    }
}
