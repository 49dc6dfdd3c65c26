using System.Text.Json;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Sessions;

namespace Spark.Eval.Cli.Tests;

/// <summary>
/// <c>run --sessions</c> end to end: simulated developers on hwsim in virtual time, graded in the loop by the real sandbox
/// (repair turns), reproducible for a seed; and a real process killed with SIGKILL mid-session, then resumed.
/// </summary>
public class SessionRunTests
{
    private static readonly string[] Simulated =
        ["run", "--backend", "hwsim?name=fast&hw=wse-3&model=llama-3.1-8b", "--backend", "hwsim?name=deep&hw=h100-sxm&model=llama-3.1-70b&tp=4",
         "--sessions", "3", "--session-length", "20m", "--repair-turns", "2", "--seed", "11", "--interleave"];

    /// <summary>attempts.jsonl without the sandbox's own measurements (CPU and wall seconds of the graded program), which vary run to run.</summary>
    private static string Normalised(string dir) => System.Text.RegularExpressions.Regex.Replace(
        File.ReadAllText(Path.Combine(dir, "attempts.jsonl")), "\"(cpuSeconds|wallSeconds)\":[0-9.eE+-]+,?", "");

    [Fact]
    public async Task Sessions_Hwsim_VirtualTimeRepairTurnsRecordedAndSameSeedSameAttempts()
    {
        var first = Path.Combine(CliHarness.TempDir(), "a");
        var second = Path.Combine(CliHarness.TempDir(), "b");
        var (exit, _, stderr) = await CliHarness.RunAsync([.. Simulated, "--out", first]);
        Assert.True(exit == 0, stderr);
        var (exit2, _, stderr2) = await CliHarness.RunAsync([.. Simulated, "--out", second]);
        Assert.True(exit2 == 0, stderr2);

        Assert.Equal(Normalised(first), Normalised(second));
        var (records, _) = AttemptLog.Read(Path.Combine(first, "attempts.jsonl"));
        Assert.All(records, r => Assert.NotNull(r.Session));
        Assert.Equal(records.Count, records.Select(r => r.Slot).Distinct().Count());
        Assert.Equal(["deep", "fast"], records.Select(r => r.Slot.Backend).Distinct().Order(StringComparer.Ordinal));
        // 20 virtual minutes of three developers each: far more than a wall-clock test could wait for.
        Assert.True(records.Max(r => r.StartUs) > 15 * 60 * 1_000_000L);
        // Failed grades were repaired in the same conversation, and some repairs went green.
        Assert.Contains(records, r => r.Session!.Turn > 0);
        Assert.Contains(records, r => r.Session!.Turn > 0 && r.Grade!.IsPassed);
        Assert.All(records.Where(r => r.Session!.Turn > 0), r => Assert.True(r.Tokens.InputTokenizer > records.First(x =>
            x.Session!.Turn == 0 && x.Slot.Backend == r.Slot.Backend && x.Session.Session == r.Session!.Session && x.Session.TaskInSession == r.Session.TaskInSession).Tokens.InputTokenizer));
        Assert.All(records.Where(r => r.Grade is not null), r => Assert.True(r.Session!.GradingUs > 0));
        Assert.True(records.Where(r => r.Session!.Turn > 0).All(r => r.Session!.Turn <= 2));

        var manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(first, "manifest.json"))).RootElement;
        var sessions = manifest.GetProperty("plan").GetProperty("sessions");
        Assert.Equal("virtual", sessions.GetProperty("clock").GetString());
        Assert.Equal(3, sessions.GetProperty("count").GetInt32());
        Assert.Equal("in_loop", manifest.GetProperty("grading").GetProperty("mode").GetString());
        Assert.Contains("sessions (pass@turn", stderr, StringComparison.Ordinal);
        Assert.Contains("  fast: 3 sessions", stderr, StringComparison.Ordinal);
        Assert.Contains("time-to-green median", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Sessions_BadFlags_Exit2NamingTheFlagAndTheFix()
    {
        var (exit, _, stderr) = await CliHarness.RunAsync("run", "--backend", "sim", "--repair-turns", "2");
        Assert.Equal(2, exit);
        Assert.Contains("--repair-turns without --sessions", stderr, StringComparison.Ordinal);

        (exit, _, stderr) = await CliHarness.RunAsync("run", "--backend", "sim", "--sessions", "2", "--session-length", "ten minutes");
        Assert.Equal(2, exit);
        Assert.Contains("--session-length ten minutes: not a duration", stderr, StringComparison.Ordinal);

        (exit, _, stderr) = await CliHarness.RunAsync("run", "--backend", "openai?url=http://127.0.0.1:9&model=m", "--sessions", "2", "--clock", "virtual");
        Assert.Equal(2, exit);
        Assert.Contains("--clock virtual", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Sessions_ThinkTimesFromPilotExport_UsedAndRecordedInTheManifest()
    {
        var dir = CliHarness.TempDir();
        var think = Path.Combine(dir, "think.json");
        File.WriteAllText(think, """
            { "formatVersion": 1, "kind": "spark-eval.think-times", "definition": "hand-written", "idleCutoffSeconds": 900,
              "kinds": [ { "kind": "all", "samples": 3, "meanSeconds": 2, "quantiles": [ { "p": 0.1, "seconds": 1 }, { "p": 0.9, "seconds": 3 } ] } ] }
            """);
        var (exit, _, stderr) = await CliHarness.RunAsync("run", "--backend", "sim?name=s&ttft_ms=100&tokens_per_s=500", "--sessions", "2",
            "--session-length", "2m", "--think-times", think, "--no-grade", "--out", Path.Combine(dir, "run"));
        Assert.True(exit == 0, stderr);
        var (records, _) = AttemptLog.Read(Path.Combine(dir, "run", "attempts.jsonl"));
        Assert.All(records, r => Assert.InRange(r.Session!.ThinkBeforeUs, 1_000_000, 3_000_000));
        var sessions = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "run", "manifest.json"))).RootElement.GetProperty("plan").GetProperty("sessions");
        Assert.Equal(think, sessions.GetProperty("thinkTimes").GetString());
        Assert.Equal(64, sessions.GetProperty("thinkTimesSha256").GetString()!.Length);
    }

    [Fact]
    public async Task Sessions_ResumeAfterKillDashNine_EachSessionFinishedExactlyOnce()
    {
        // Real time (--clock real) so that the process is still in the middle of its sessions when it is killed.
        var dir = Path.Combine(CliHarness.TempDir(), "run");
        string[] plan = ["run", "--backend", "sim?name=slow&ttft_ms=150&tokens_per_s=80", "--sessions", "3", "--session-length", "6s",
            "--think-scale", "0.01", "--clock", "real", "--no-grade", "--seed", "3", "--out", dir];
        using (var process = CliHarness.Start(CliHarness.RepoRoot, plan))
        {
            var file = Path.Combine(dir, "attempts.jsonl");
            for (var i = 0; i < 1200 && !(File.Exists(file) && File.ReadLines(file).Count() >= 4); i++)
            {
                Assert.False(process.HasExited, "spark-eval exited early: " + await process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken));
                await Task.Delay(25, TestContext.Current.CancellationToken);
            }

            process.Kill(entireProcessTree: true); // SIGKILL: no chance to clean up
            await process.WaitForExitAsync(TestContext.Current.CancellationToken);
        }

        var (before, _) = AttemptLog.Read(Path.Combine(dir, "attempts.jsonl"));
        Assert.InRange(before.Count, 4, 60);
        var (exit, _, stderr) = await CliHarness.RunAsync("run", "--resume", dir);
        Assert.True(exit == 0, stderr);

        var (records, torn) = AttemptLog.Read(Path.Combine(dir, "attempts.jsonl"));
        Assert.False(torn);
        Assert.Equal(records.Count, records.Select(r => r.Slot).Distinct().Count());
        Assert.Equal(records.Count, records.Select(r => r.Sequence).Distinct().Count());
        Assert.All(before.Where(r => r.Outcome.Status != AttemptStatus.Cancelled), b => Assert.Contains(records, r => r.Slot == b.Slot));
        Assert.Equal([0, 1, 2], records.Select(r => r.Session!.Session).Distinct().Order());
        foreach (var session in records.GroupBy(r => r.Session!.Session))
        {
            // One interaction per task in the session's order, no gap, no repeat; each began inside the session's 6 s.
            var turns = session.OrderBy(r => r.Session!.TaskInSession).ToList();
            Assert.Equal(Enumerable.Range(0, turns.Count), turns.Select(r => r.Session!.TaskInSession));
            var order = SessionRunner.TaskOrder(3, session.Key, 6);
            Assert.All(turns, r => Assert.Equal(order[r.Session!.TaskInSession % 6], IndexOf(r.Slot.TaskId)));
            long used = 0;
            foreach (var r in turns)
            {
                Assert.True(used < 6_000_000, $"session {session.Key} started task {r.Session!.TaskInSession} after its end");
                used += r.Session!.ThinkBeforeUs + SessionRunner.DurationUs(r);
            }

            // It ended because its time was up: before the next task, or while thinking about it (200 ms for the harness's own gaps).
            var next = Mini[order[turns.Count % 6]];
            var nextThink = (long)(ThinkTimeModel.Defaults.Sample(3, session.Key, turns.Count, 0, next.Kind).Ticks / 10 * 0.01);
            Assert.True(used + nextThink >= 6_000_000 - 200_000, $"session {session.Key} ended early: {used} µs used, next think {nextThink} µs");
        }

        var manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "manifest.json"))).RootElement;
        Assert.Equal("completed", manifest.GetProperty("status").GetString());
        Assert.Equal(1, manifest.GetProperty("resumes").GetInt32());
    }

    private static readonly List<(string Id, string Kind)> Mini = [.. File.ReadLines(Path.Combine(CliHarness.RepoRoot, "datasets", "spark-mini", "tasks.jsonl"))
        .Select(l => JsonDocument.Parse(l).RootElement).Select(e => (e.GetProperty("id").GetString()!, e.GetProperty("kind").GetString()!))];

    private static int IndexOf(string taskId) => Mini.FindIndex(t => t.Id == taskId);
}
