using System.Text.Json;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Tasks;
using Spark.Eval.Sandbox.Execution;

namespace Spark.Eval.Cli.Tests;

/// <summary><c>spark-eval datasets check</c> and <c>run</c> then <c>grade</c> through the real sandbox (moved from Eval.Sandbox.Tests: only this project references the CLI).</summary>
public class DatasetsAndGradeCommandTests
{
    private static readonly TaskSuite Mini = TaskSuiteLoader.Load(Path.Combine(CliHarness.RepoRoot, "datasets", "spark-mini"));

    private static void RequireIsolation() =>
        Assert.SkipUnless(SandboxEnvironment.Current.HasNamespaces, "bubblewrap is not installed here (apt-get install bubblewrap); isolation tests need it");

    private static async Task RequireNodeToolsAsync()
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

    [Fact]
    public async Task DatasetsCheck_SparkMini_EveryReferencePassesEveryMutantFails()
    {
        RequireIsolation();
        await RequireNodeToolsAsync();
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var exit = await SparkEvalCli.RunAsync(["datasets", "check", Path.Combine(CliHarness.RepoRoot, "datasets", "spark-mini")], stdout, stderr, TestContext.Current.CancellationToken);
        Assert.True(exit == 0, stdout.ToString() + stderr);
        Assert.Contains($"{Mini.Tasks.Count} ok, 0 failed", stdout.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task DatasetsCheck_SparkBounded_EveryReferencePassesEveryMutantFails()
    {
        RequireIsolation();
        await RequireNodeToolsAsync();
        var suite = TaskSuiteLoader.Load(Path.Combine(CliHarness.RepoRoot, "datasets", "spark-bounded"));
        var mutants = suite.Tasks.Sum(t => t.Mutants.Count);
        Assert.Equal(60, suite.Tasks.Count);
        Assert.Equal(176, mutants);
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var exit = await SparkEvalCli.RunAsync(["datasets", "check", Path.Combine(CliHarness.RepoRoot, "datasets", "spark-bounded")], stdout, stderr, TestContext.Current.CancellationToken);
        var text = stdout.ToString() + stderr;
        Assert.True(exit == 0, text);
        Assert.Contains("60 ok, 0 failed, 0 skipped of 60 tasks; references passing 60, mutants failing 176/176", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunThenGrade_SimulatedBackend_WritesGradesAndPassRates()
    {
        RequireIsolation();
        var dir = Path.Combine(Path.GetTempPath(), "spark-eval-tests", Guid.NewGuid().ToString("N"), "run");
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var exit = await SparkEvalCli.RunAsync(["run", "--backend", "sim?name=fast&ttft_ms=1&tokens_per_s=100000", "--tasks", "2", "--repeats", "2", "--warmup", "0", "--out", dir],
            stdout, stderr, TestContext.Current.CancellationToken);
        Assert.True(exit == 0, stderr.ToString());
        var (records, _) = AttemptLog.Read(Path.Combine(dir, AttemptLog.FileName));
        Assert.All(records, r => Assert.Equal("passed", r.Grade?.Outcome));
        Assert.All(records, r => Assert.True(r.Grade?.Trusted == true));
        using var summary = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(dir, "summary.json"), TestContext.Current.CancellationToken));
        var grading = summary.RootElement.GetProperty("backends")[0].GetProperty("grading");
        Assert.Equal(1.0, grading.GetProperty("passRate").GetDouble());
        Assert.Equal(1.0, grading.GetProperty("passAtK").GetProperty("pass@2").GetDouble());
        Assert.False(grading.GetProperty("passAtK").TryGetProperty("pass@5", out _));

        // Re-grading a stored answer that was tampered with gives a different grade.
        var tampered = records.Select(r => r.Slot.TaskId == "py-stub-email" ? r with { Answer = "```python\ndef is_valid_email(address):\n    return True\n```" } : r).ToList();
        AttemptLog.Rewrite(Path.Combine(dir, AttemptLog.FileName), tampered);
        exit = await SparkEvalCli.RunAsync(["grade", dir], stdout, stderr, TestContext.Current.CancellationToken);
        Assert.Equal(0, exit);
        (records, _) = AttemptLog.Read(Path.Combine(dir, AttemptLog.FileName));
        var regraded = records.First(r => r.Slot.TaskId == "py-stub-email").Grade!;
        Assert.Equal("wrong_answer", regraded.Outcome);
        Assert.Equal("fenced:python", regraded.Extraction?.Method);
    }
}
