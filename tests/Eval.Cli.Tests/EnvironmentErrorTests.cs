using System.Text.Json.Nodes;

namespace Spark.Eval.Cli.Tests;

/// <summary>
/// Issue #15 items 8 and 10: environment errors and bad values end with one line naming the fix and exit 2 — never a
/// stack trace, never a half-written run directory, never a silently disabled gate or a lost verdict.
/// </summary>
public class EnvironmentErrorTests
{
    private const string Sim = "sim?name=a&ttft_ms=1&tokens_per_s=100000";

    private static string[] Run(string outDir, params string[] extra) =>
        ["run", "--backend", Sim, "--tasks", "1", "--repeats", "1", "--warmup", "0", "--no-grade", "--out", outDir, .. extra];

    [Theory]
    [InlineData("")]
    [InlineData(" , ")]
    [InlineData("ttft_p99_ms>NaN")]
    [InlineData("error_rate>Infinity")]
    public async Task FailIf_EmptyOrNotFinite_IsBadInputNotASilentlyDisabledGate(string failIf)
    {
        var dir = Path.Combine(CliHarness.TempDir(), "run");
        var (exit, _, stderr) = await CliHarness.RunAsync(Run(dir, "--fail-if", failIf));
        Assert.True(exit == 2, stderr);
        Assert.Contains("--fail-if", stderr, StringComparison.Ordinal);
        Assert.Contains("Fix:", stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(dir), "nothing is written for a refused plan");
    }

    [Theory]
    [InlineData("--duration", "1e300")]
    [InlineData("--temperature", "1e300")]
    [InlineData("--rate", "1e300")]
    [InlineData("--timeout", "1e300")]
    [InlineData("--temperature", "NaN")]
    public async Task HugeOrNaNPlanValues_AreBadInput(string flag, string value)
    {
        var dir = Path.Combine(CliHarness.TempDir(), "run");
        var (exit, _, stderr) = await CliHarness.RunAsync(Run(dir, flag, value));
        Assert.True(exit == 2, stderr);
        Assert.Contains(flag, stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(dir));
    }

    [Fact]
    public async Task SymlinkLoopSuite_IsOneLineExitTwo_AndNoRunDirectory()
    {
        var root = CliHarness.TempDir();
        var loop = Path.Combine(root, "loop");
        File.CreateSymbolicLink(loop, loop);
        var dir = Path.Combine(root, "run");
        var (exit, _, stderr) = await CliHarness.RunAsync(Run(dir, "--suite", loop));
        Assert.True(exit == 2, stderr);
        Assert.StartsWith("error: ", stderr, StringComparison.Ordinal);
        Assert.Contains("symlink loop", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(dir));
    }

    [Fact]
    public async Task CorruptHistory_IsAWarning_AndTheFailIfVerdictStands()
    {
        var root = CliHarness.TempDir();
        var history = Path.Combine(root, "history.sqlite");
        var (first, _, err1) = await CliHarness.RunAsync(Run(Path.Combine(root, "r1"), "--history", history));
        Assert.True(first == 0, err1);
        // Keep the header page (so the file opens) and destroy the rest: the insert then hits "database disk image is malformed".
        var bytes = File.ReadAllBytes(history);
        Assert.True(bytes.Length > 4096);
        Array.Fill(bytes, (byte)0xFF, 4096, bytes.Length - 4096);
        File.WriteAllBytes(history, bytes);

        var (exit, _, stderr) = await CliHarness.RunAsync(Run(Path.Combine(root, "r2"), "--history", history, "--fail-if", "error_rate>=0"));
        Assert.True(exit == 1, stderr); // the breached threshold, not a crash
        Assert.Contains("warning: run not recorded in history", stderr, StringComparison.Ordinal);
        Assert.Contains("FAIL", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task History_OnEmptyFile_IsRefusedAndTheFileUntouched()
    {
        var file = Path.Combine(CliHarness.TempDir(), "empty.sqlite");
        File.WriteAllBytes(file, []);
        var (exit, _, stderr) = await CliHarness.RunAsync("history", file);
        Assert.True(exit == 2, stderr);
        Assert.Contains("not a Spark Eval history store", stderr, StringComparison.Ordinal);
        Assert.Equal(0, new FileInfo(file).Length);
    }

    [Theory]
    [InlineData(-5L, 0)]
    [InlineData(1L, 1)]
    public async Task Compare_NegativeOrDecreasingEventTimes_AreBadInputNamingFileAndLine(long time, int eventIndex)
    {
        var root = CliHarness.TempDir();
        var run = Path.Combine(root, "r");
        var (first, _, err1) = await CliHarness.RunAsync(Run(run));
        Assert.True(first == 0, err1);
        var attempts = Path.Combine(run, "attempts.jsonl");
        var lines = File.ReadAllLines(attempts);
        var record = JsonNode.Parse(lines[0])!;
        var events = record["events"]!.AsArray();
        Assert.True(events.Count > 2);
        events[eventIndex]!["t_us"] = eventIndex == 0 ? time : 0;
        if (eventIndex > 0)
        {
            events[0]!["t_us"] = 50;
        }

        lines[0] = record.ToJsonString();
        File.WriteAllLines(attempts, lines);

        var (exit, _, stderr) = await CliHarness.RunAsync("compare", run, run);
        Assert.True(exit == 2, stderr);
        Assert.Contains("attempts.jsonl:1", stderr, StringComparison.Ordinal);
        Assert.Contains("t_us", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void DiskFull_IsDescribedWithItsFix()
    {
        var full = new IOException("No space left on device : '/x/attempts.jsonl'", 28);
        Assert.True(EnvironmentErrors.IsEnvironmentError(full));
        var line = EnvironmentErrors.Describe(full);
        Assert.StartsWith("error: No space left on device : '/x/attempts.jsonl'.", line, StringComparison.Ordinal);
        Assert.Contains("Fix: free disk space", line, StringComparison.Ordinal);
    }
}
