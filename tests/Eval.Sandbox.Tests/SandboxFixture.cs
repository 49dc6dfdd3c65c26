using Spark.Eval.Sandbox.Execution;

namespace Spark.Eval.Sandbox.Tests;

/// <summary>One sandbox (and its C# worker pool) shared by a test class.</summary>
public sealed class SandboxFixture : IDisposable
{
    public CodeSandbox Sandbox { get; } = new(new SandboxOptions { Limits = TestSupport.Tight }, TimeProvider.System);

    public async Task<ExecutionResult> RunAsync(string language, string source, SandboxLimits? limits = null) =>
        await Sandbox.ExecuteAsync(new ProgramRequest { Language = language, Source = source, Limits = limits ?? TestSupport.Tight }, TestContext.Current.CancellationToken);

    public static void RequireIsolation() =>
        Assert.SkipUnless(SandboxEnvironment.Current.HasNamespaces, "bubblewrap is not installed here (apt-get install bubblewrap); isolation tests need it");

    /// <summary>Skips when the locked npm tools cannot be installed (no registry access); TypeScript needs them.</summary>
    public static async Task RequireNodeToolsAsync()
    {
        try
        {
            _ = await NodeTools.EnsureAsync(null, TestContext.Current.CancellationToken);
        }
        catch (ToolMissingException ex)
        {
            Assert.Skip($"the locked TypeScript/Jest tools are unavailable here: {ex.Message}");
        }
    }

    /// <summary>True when some live process's command line contains the marker.</summary>
    public static bool ProcessWithMarkerAlive(string marker)
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            try
            {
                var cmdline = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ');
                if (cmdline.Contains(marker, StringComparison.Ordinal) && !cmdline.Contains("dotnet", StringComparison.Ordinal))
                {
                    return true;
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
            }
        }

        return false;
    }

    public void Dispose() => Sandbox.Dispose();
}
