using System.Diagnostics;
using System.Text.Json;
using Spark.Eval.Core.Results;

namespace Spark.Eval.Cli.Tests;

/// <summary>Crash and interrupt a real spark-eval process, then resume: exactly one attempt per planned slot.</summary>
public class ResumeTests
{
    // Slow enough (about 1–2 s per attempt) that the process is killed mid-run.
    private static readonly string[] Plan =
        ["run", "--backend", "sim?name=slow&ttft_ms=200&tokens_per_s=30", "--repeats", "2", "--warmup", "1", "--concurrency", "2"];

    /// <summary>
    /// True when this process ignores SIGINT (bit 2 of SigIgn in /proc/self/status): a test host started in the background by a
    /// non-interactive shell (`cmd &`) does, its children inherit that, and .NET then installs no handler for it.
    /// </summary>
    private static bool SigIntIgnored()
    {
        var line = File.Exists("/proc/self/status") ? File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("SigIgn:", StringComparison.Ordinal)) : null;
        return line is not null && (Convert.ToUInt64(line["SigIgn:".Length..].Trim(), 16) & 0x2) != 0;
    }

    private const string SigIntIgnoredReason = "SIGINT is ignored in this test process (started in the background by a non-interactive shell); run the tests in the foreground";

    private static async Task WaitForLines(string file, int lines, Process process)
    {
        for (var i = 0; i < 1200; i++)
        {
            if (File.Exists(file) && File.ReadLines(file).Count() >= lines)
            {
                return;
            }

            if (process.HasExited)
            {
                Assert.Fail("spark-eval exited early: " + await process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken));
            }

            await Task.Delay(50, TestContext.Current.CancellationToken);
        }

        Assert.Fail($"{file} did not reach {lines} lines");
    }

    private static void AssertExactlyOnePerPlannedSlot(string dir)
    {
        var (records, torn) = AttemptLog.Read(Path.Combine(dir, "attempts.jsonl"));
        Assert.False(torn);
        // 6 tasks × 1 backend × 2 repeats + 1 warm-up.
        Assert.Equal(13, records.Count);
        Assert.Equal(13, records.Select(r => r.Slot).Distinct().Count());
        Assert.Equal(12, records.Count(r => !r.Slot.Warmup));
        Assert.All(records, r => Assert.Equal(AttemptStatus.Ok, r.Outcome.Status));
        Assert.Equal(records.Count, records.Select(r => r.Sequence).Distinct().Count());
        var manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "manifest.json"))).RootElement;
        Assert.Equal("completed", manifest.GetProperty("status").GetString());
        Assert.Equal(1, manifest.GetProperty("resumes").GetInt32());
    }

    [Fact]
    public async Task Resume_AfterKillDashNine_ExactlyOneAttemptPerPlannedSlot()
    {
        var dir = Path.Combine(CliHarness.TempDir(), "run");
        using (var process = CliHarness.Start(CliHarness.RepoRoot, [.. Plan, "--out", dir]))
        {
            await WaitForLines(Path.Combine(dir, "attempts.jsonl"), 4, process);
            process.Kill(entireProcessTree: true); // SIGKILL: no chance to clean up
            await process.WaitForExitAsync(TestContext.Current.CancellationToken);
        }

        var (before, _) = AttemptLog.Read(Path.Combine(dir, "attempts.jsonl"));
        Assert.InRange(before.Count, 4, 12);

        var (exit, _, stderr) = await CliHarness.RunAsync("run", "--resume", dir);
        Assert.True(exit == 0, stderr);
        Assert.Contains("resuming", stderr, StringComparison.Ordinal);
        AssertExactlyOnePerPlannedSlot(dir);
    }

    [Fact]
    public async Task Interrupt_Sigint_KeepsDoneAttemptsRecordsCancelledAndResumeCompletes()
    {
        Assert.SkipWhen(SigIntIgnored(), SigIntIgnoredReason);
        var dir = Path.Combine(CliHarness.TempDir(), "run");
        using (var process = CliHarness.Start(CliHarness.RepoRoot, [.. Plan, "--out", dir]))
        {
            await WaitForLines(Path.Combine(dir, "attempts.jsonl"), 3, process);
            using (var kill = Process.Start("kill", ["-INT", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                await kill.WaitForExitAsync(TestContext.Current.CancellationToken);
            }

            await process.WaitForExitAsync(TestContext.Current.CancellationToken);
            Assert.Equal(130, process.ExitCode);
        }

        var manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "manifest.json"))).RootElement;
        Assert.Equal("interrupted", manifest.GetProperty("status").GetString());
        var (records, _) = AttemptLog.Read(Path.Combine(dir, "attempts.jsonl"));
        Assert.Contains(records, r => r.Outcome.Status == AttemptStatus.Cancelled && r.Outcome.ErrorClass == "interrupted");
        Assert.True(File.Exists(Path.Combine(dir, "summary.json")));

        var (exit, _, stderr) = await CliHarness.RunAsync("run", "--resume", dir);
        Assert.True(exit == 0, stderr);
        AssertExactlyOnePerPlannedSlot(dir);
        Assert.True(File.Exists(Path.Combine(dir, "interrupted.jsonl")));
    }

    [Fact]
    public async Task Resume_WithPlanFlag_Exit2()
    {
        var (exit, _, stderr) = await CliHarness.RunAsync("run", "--resume", CliHarness.TempDir(), "--repeats", "3");
        Assert.Equal(2, exit);
        Assert.Contains("--repeats cannot be combined with --resume", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Resume_WhileTheRunIsStillWriting_RefusedExit2NamingItsPid()
    {
        var dir = Path.Combine(CliHarness.TempDir(), "run");
        using var process = CliHarness.Start(CliHarness.RepoRoot, [.. Plan, "--out", dir]);
        try
        {
            await WaitForLines(Path.Combine(dir, "attempts.jsonl"), 2, process);

            var (exit, _, stderr) = await CliHarness.RunAsync("run", "--resume", dir);

            Assert.Equal(2, exit);
            Assert.Contains($"in use by another spark-eval (pid {process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)})", stderr, StringComparison.Ordinal);
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(TestContext.Current.CancellationToken);
        }

        // The kernel released the lock with the killed process: the resume that follows finishes the plan exactly once.
        var (resumed, _, err) = await CliHarness.RunAsync("run", "--resume", dir);
        Assert.True(resumed == 0, err);
        AssertExactlyOnePerPlannedSlot(dir);
    }

    [Fact]
    public async Task Interrupt_SigintDuringGrading_StopsGradingExit130StatusInterrupted()
    {
        Assert.SkipWhen(SigIntIgnored(), SigIntIgnoredReason);
        // Generation is instant; grading waits on a judge whose first token takes 60 s, far longer than the test waits.
        var dir = Path.Combine(CliHarness.TempDir(), "run");
        using var process = CliHarness.Start(CliHarness.RepoRoot, "run", "--backend", "sim?name=fast&ttft_ms=1&tokens_per_s=100000", "--repeats", "1", "--warmup", "0",
            "--judge", "sim?name=slow-judge&ttft_ms=60000&tokens_per_s=1000", "--grading", "after", "--out", dir);
        var grading = false;
        for (var i = 0; i < 600 && !grading; i++)
        {
            var line = await process.StandardError.ReadLineAsync(TestContext.Current.CancellationToken);
            Assert.True(line is not null, "spark-eval exited before grading");
            grading = line.StartsWith("grading ", StringComparison.Ordinal);
        }

        Assert.True(grading, "no grading line");
        await Task.Delay(500, TestContext.Current.CancellationToken);
        using (var kill = Process.Start("kill", ["-INT", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync(TestContext.Current.CancellationToken);
        }

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        // Bounded, with room for a loaded CI machine: the point is exit 130 after the signal, not how fast the reports render.
        deadline.CancelAfter(TimeSpan.FromSeconds(90));
        _ = process.StandardError.ReadToEndAsync(deadline.Token);
        await process.WaitForExitAsync(deadline.Token);
        Assert.Equal(130, process.ExitCode);
        var manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "manifest.json"))).RootElement;
        Assert.Equal("interrupted", manifest.GetProperty("status").GetString());
        var (records, _) = AttemptLog.Read(Path.Combine(dir, "attempts.jsonl"));
        Assert.Equal(6, records.Count);
        Assert.All(records, r => Assert.Null(r.Grade));
        Assert.True(File.Exists(Path.Combine(dir, "summary.json")));
    }
}
