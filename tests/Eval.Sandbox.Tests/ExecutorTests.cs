using Spark.Eval.Sandbox.Execution;

namespace Spark.Eval.Sandbox.Tests;

public class ExecutorTests(SandboxFixture fixture) : IClassFixture<SandboxFixture>
{
    [Theory]
    [InlineData("python", "assert sum([1, 2]) == 3\n", ExecutionOutcome.Passed)]
    [InlineData("python", "assert sum([1, 2]) == 4, 'sum'\n", ExecutionOutcome.WrongAnswer)]
    [InlineData("python", "def f(:\n    pass\n", ExecutionOutcome.CompileError)]
    [InlineData("python", "raise ValueError('boom')\n", ExecutionOutcome.RuntimeError)]
    [InlineData("javascript", "const assert = require('node:assert'); assert.strictEqual(1 + 1, 2);\n", ExecutionOutcome.Passed)]
    [InlineData("javascript", "import assert from 'node:assert'; assert.strictEqual(1 + 1, 3);\n", ExecutionOutcome.WrongAnswer)]
    [InlineData("typescript", "import assert from 'node:assert';\nconst n: number = 2;\nassert.strictEqual(n, 2);\n", ExecutionOutcome.Passed)]
    [InlineData("typescript", "const n: string = 2;\nconsole.log(n);\n", ExecutionOutcome.CompileError)]
    [InlineData("csharp", "using System.Diagnostics; class P { static void Main() { Debug.Assert(1 + 1 == 2); } }", ExecutionOutcome.Passed)]
    [InlineData("csharp", "using System.Diagnostics; class P { static void Main() { Debug.Assert(1 + 1 == 3, \"sum\"); } }", ExecutionOutcome.WrongAnswer)]
    [InlineData("csharp", "class P { static void Main() { int x = \"s\"; } }", ExecutionOutcome.CompileError)]
    [InlineData("csharp", "class P { static void Main() { throw new System.InvalidOperationException(\"boom\"); } }", ExecutionOutcome.RuntimeError)]
    public async Task Execute_Program_IsClassified(string language, string source, ExecutionOutcome expected)
    {
        SandboxFixture.RequireIsolation();
        if (language == "typescript")
        {
            await SandboxFixture.RequireNodeToolsAsync();
        }

        var result = await fixture.RunAsync(language, source);
        Assert.True(expected == result.Outcome, $"{result.Outcome}: {result.Detail}");
        Assert.Contains("bubblewrap", result.Isolation, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Execute_WrongAnswer_KeepsFirstFailingCheck()
    {
        SandboxFixture.RequireIsolation();
        var result = await fixture.RunAsync("python", "assert 1 == 1\nassert 2 + 2 == 5, 'second check'\nassert 3 == 4\n");
        Assert.Equal(ExecutionOutcome.WrongAnswer, result.Outcome);
        Assert.Contains("second check", result.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CSharp_AfterCrashedWorker_NextAttemptPassesInFreshWorker()
    {
        SandboxFixture.RequireIsolation();
        var crash = await fixture.RunAsync("csharp", "class P { static void Main() { System.Environment.Exit(3); } }");
        Assert.Equal(ExecutionOutcome.RuntimeError, crash.Outcome);
        var next = await fixture.RunAsync("csharp", "using System.Diagnostics; class P { static void Main() { Debug.Assert(System.IO.Directory.GetFiles(\".\").Length == 0); System.Console.Write(\"ok\"); } }");
        Assert.True(next.Outcome == ExecutionOutcome.Passed, next.Detail);
        Assert.Equal("ok", next.Run?.Stdout);
    }

    [Fact]
    public async Task Policy_NoBubblewrap_RefusesUntrustedButRunsTrusted()
    {
        using var sandbox = new CodeSandbox(new SandboxOptions { Limits = TestSupport.Tight }, TimeProvider.System, environment: SandboxEnvironment.Current.WithoutNamespaces());
        var untrusted = await sandbox.ExecuteAsync(new ProgramRequest { Language = "python", Source = "print(1)\n" }, TestContext.Current.CancellationToken);
        Assert.Equal(ExecutionOutcome.HarnessError, untrusted.Outcome);
        Assert.StartsWith("refused", untrusted.Detail, StringComparison.Ordinal);

        var trusted = await sandbox.ExecuteAsync(new ProgramRequest { Language = "python", Source = "print(1)\n", Trusted = true }, TestContext.Current.CancellationToken);
        Assert.Equal(ExecutionOutcome.Passed, trusted.Outcome);
        Assert.DoesNotContain("bubblewrap", trusted.Isolation, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Policy_NoBubblewrapWithAllowUnsandboxed_RunsUntrusted()
    {
        using var sandbox = new CodeSandbox(new SandboxOptions { Limits = TestSupport.Tight, AllowUnsandboxed = true }, TimeProvider.System, environment: SandboxEnvironment.Current.WithoutNamespaces());
        var result = await sandbox.ExecuteAsync(new ProgramRequest { Language = "python", Source = "assert 2 == 2\n" }, TestContext.Current.CancellationToken);
        Assert.Equal(ExecutionOutcome.Passed, result.Outcome);
        Assert.Contains("UNSANDBOXED", sandbox.Policy, StringComparison.Ordinal);
    }
}
