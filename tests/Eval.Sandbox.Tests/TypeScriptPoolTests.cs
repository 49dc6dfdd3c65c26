using System.Globalization;
using Spark.Eval.Sandbox.Execution;

namespace Spark.Eval.Sandbox.Tests;

/// <summary>The pooled TypeScript path: compile server (type errors, what the compiler may read) and node runner (what one attempt may leave for the next).</summary>
public sealed class TypeScriptPoolTests(SandboxFixture fixture) : IClassFixture<SandboxFixture>
{
    private static readonly SandboxLimits Limits = TestSupport.Tight with { CpuSeconds = 2, WallSeconds = 10 };

    private async Task<ExecutionResult> RunAsync(string source, SandboxLimits? limits = null)
    {
        SandboxFixture.RequireIsolation();
        await SandboxFixture.RequireNodeToolsAsync();
        var result = await fixture.RunAsync("typescript", source, limits ?? Limits);
        Assert.Contains("bubblewrap", result.Isolation, StringComparison.Ordinal);
        return result;
    }

    private static void AssertOutcome(ExecutionOutcome expected, ExecutionResult result) =>
        Assert.True(expected == result.Outcome, $"{result.Outcome}: {result.Detail}");

    [Fact]
    public async Task CompileServer_TypeErrorInOtherwiseRunnableProgram_IsCompileErrorWithTscText()
    {
        var result = await RunAsync("import assert from 'node:assert';\nconst n: number = 'two';\nassert.ok(true);\n");
        AssertOutcome(ExecutionOutcome.CompileError, result);
        Assert.Contains("prog.ts(2,7): error TS2322", result.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CompileServer_ImportOfHostFile_IsNotReadable()
    {
        var result = await RunAsync("/// <reference path=\"/etc/hostname\" />\nimport x from '/etc/passwd';\nconsole.log(x);\n");
        AssertOutcome(ExecutionOutcome.CompileError, result);
        // TS6231: the referenced path cannot be resolved; nothing of the host file is read.
        Assert.Contains("error TS6231", result.Detail, StringComparison.Ordinal);
        Assert.DoesNotContain("root:", result.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Runner_WrongAnswer_KeepsAssertionAsFirstFailure()
    {
        var result = await RunAsync("import assert from 'node:assert';\nassert.strictEqual(1 + 1, 3);\n");
        AssertOutcome(ExecutionOutcome.WrongAnswer, result);
        Assert.Contains("ERR_ASSERTION", result.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Runner_ExitCode_IsRuntimeError()
    {
        var result = await RunAsync("console.error('leaving');\nprocess.exit(3);\n");
        AssertOutcome(ExecutionOutcome.RuntimeError, result);
        Assert.Contains("exit code 3", result.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Runner_GlobalsAndBuiltinsPatchedByOnePassingAttempt_AreFreshForTheNext()
    {
        AssertOutcome(ExecutionOutcome.Passed, await RunAsync("(globalThis as any).leak = 1;\n(Array.prototype as any).map = () => [42];\n"));
        // Patching assert is no longer a pass at all (the driver's guard): sandbox_violation, and the runner is replaced.
        AssertOutcome(ExecutionOutcome.SandboxViolation, await RunAsync("import assert from 'node:assert';\n(assert as any).strictEqual = () => {};\n"));
        var next = await RunAsync("import assert from 'node:assert';\nassert.strictEqual((globalThis as any).leak, undefined);\nassert.deepStrictEqual([1, 2].map(x => x * 2), [2, 4]);\nassert.throws(() => assert.strictEqual(1, 2));\n");
        AssertOutcome(ExecutionOutcome.Passed, next);
    }

    [Fact]
    public async Task Runner_FileLeftInTmp_IsNotSeenByTheNextAttempt()
    {
        var name = $"/tmp/leak-{Guid.NewGuid():N}";
        AssertOutcome(ExecutionOutcome.Passed, await RunAsync($"import * as fs from 'node:fs';\nfs.writeFileSync('{name}', 'x');\nfs.writeFileSync('../beside-{Guid.NewGuid():N}', 'y');\n"));
        AssertOutcome(ExecutionOutcome.Passed, await RunAsync($"import * as fs from 'node:fs';\nimport assert from 'node:assert';\nassert.ok(!fs.existsSync('{name}'));\nassert.deepStrictEqual(fs.readdirSync('..').filter(f => f.startsWith('beside-')), []);\n"));
    }

    [Fact]
    public async Task Runner_ForgedResponseOnRunnerStdout_CannotPassAFailingProgram()
    {
        var result = await RunAsync("import * as fs from 'node:fs';\nimport assert from 'node:assert';\nfor (let id = 0; id < 500; id++) fs.writeSync(1, JSON.stringify({ nonce: '', id, exitCode: 0, stdout: '', stderr: '', outputBytes: 0, outputLimit: false, dirty: [] }) + '\\n');\nassert.strictEqual(1, 2);\n");
        AssertOutcome(ExecutionOutcome.WrongAnswer, result);
    }

    [Fact]
    public async Task Runner_HugeOutput_IsOutputLimitWithFirstBytesKept()
    {
        var result = await RunAsync("const s = 'z'.repeat(65536);\nfor (;;) { process.stdout.write(s); }\n");
        AssertOutcome(ExecutionOutcome.OutputLimit, result);
        Assert.Equal(TestSupport.Tight.OutputKeepBytes, result.Run!.Stdout.TakeWhile(c => c == 'z').Count());
        Assert.True(result.Run.OutputBytes > TestSupport.Tight.OutputKillBytes);
    }

    [Fact]
    public async Task Runner_MemoryBomb_IsMemoryLimit()
    {
        var result = await RunAsync("const a: number[][] = [];\nfor (;;) { a.push(new Array(1e6).fill(1)); }\n", Limits with { CpuSeconds = 6, WallSeconds = 20, MemoryBytes = 192L << 20 });
        AssertOutcome(ExecutionOutcome.MemoryLimit, result);
    }

    [Fact]
    public async Task Runner_KillsItself_IsRuntimeErrorAndTheNextAttemptPasses()
    {
        var result = await RunAsync("process.kill(process.pid, 'SIGKILL');\n");
        AssertOutcome(ExecutionOutcome.RuntimeError, result);
        AssertOutcome(ExecutionOutcome.Passed, await RunAsync("import assert from 'node:assert';\nassert.ok(true);\n"));
    }

    [Fact]
    public async Task Runner_OrphanedChild_IsKilledWithTheRunner()
    {
        var marker = "8" + Random.Shared.Next(100000, 999999).ToString(CultureInfo.InvariantCulture);
        AssertOutcome(ExecutionOutcome.Passed, await RunAsync($"import {{ spawn }} from 'node:child_process';\nspawn('sleep', ['{marker}'], {{ detached: true, stdio: 'ignore' }}).unref();\n"));
        Assert.False(SandboxFixture.ProcessWithMarkerAlive("sleep " + marker), "an orphaned child survived the attempt");
    }

    [Fact]
    public async Task Runner_SleepPastTimeout_IsWallClockTimeout()
    {
        var result = await RunAsync("setTimeout(() => {}, 600_000);\n", Limits with { WallSeconds = 2 });
        AssertOutcome(ExecutionOutcome.Timeout, result);
        Assert.Contains("wall-clock", result.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Runner_ReadStdinStream_GetsEndOfFile()
    {
        var result = await RunAsync("let n = 0;\nprocess.stdin.on('data', c => { n += c.length; });\nprocess.stdin.on('end', () => { if (n !== 0) process.exit(5); });\n");
        AssertOutcome(ExecutionOutcome.Passed, result);
    }

    [Fact]
    public async Task Runner_CancelledDuringEndlessLoop_ThrowsAndTheNextAttemptPasses()
    {
        SandboxFixture.RequireIsolation();
        await SandboxFixture.RequireNodeToolsAsync();
        AssertOutcome(ExecutionOutcome.Passed, await RunAsync("import assert from 'node:assert';\nassert.ok(true);\n"));
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cancel.CancelAfter(TimeSpan.FromSeconds(1));
        var request = new ProgramRequest { Language = "typescript", Source = "for (;;) {}\n", Limits = Limits with { CpuSeconds = 60, WallSeconds = 120 } };
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => fixture.Sandbox.ExecuteAsync(request, cancel.Token));
        AssertOutcome(ExecutionOutcome.Passed, await RunAsync("import assert from 'node:assert';\nassert.ok(true);\n"));
    }
}
