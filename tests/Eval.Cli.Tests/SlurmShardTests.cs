using System.Diagnostics;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Running;

namespace Spark.Eval.Cli.Tests;

/// <summary>
/// Slow (about a minute; run by .ci/run): deploy/slurm on a real single-node Slurm cluster. The 4-shard array job and its
/// merge job, submitted with deploy/slurm/submit.sh, give the same attempts slot for slot as the unsharded run of the plan.
/// </summary>
public sealed class SlurmShardTests(SlurmClusterFixture slurm) : IClassFixture<SlurmClusterFixture>
{
    [Fact]
    public async Task SlurmArrayJob_FourShardsMerged_SameAttemptsSlotForSlotAsTheUnshardedRun()
    {
        Assert.SkipWhen(slurm.SkipReason is not null, slurm.SkipReason ?? "");
        var root = CliHarness.TempDir();
        var nightly = Path.Combine(root, "nightly");
        // The embedded default's simulated backends (deterministic answers for a seed). Ungraded: five spark-eval processes
        // grading at once on 2 cores made the sandbox's TypeScript compiles time out on one side now and then (CI saw a
        // compile_error against a pass), which says nothing about sharding: a shard's grade is the same sandbox grading as any run's.
        string[] plan = [.. EmbeddedDefaults.Backends.Where(b => b.StartsWith("hwsim?", StringComparison.Ordinal)).SelectMany(b => new[] { "--backend", b }), "--seed", "42", "--no-grade"];

        var (submitExit, submitted, submitErr) = Submit(root, ["4", nightly, .. plan]);
        Assert.True(submitExit == 0, $"submit.sh exited {submitExit}: {submitErr}\n{slurm.Logs()}");
        var jobs = submitted.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal(2, jobs.Length);

        // The unsharded run of the same plan, here, while Slurm runs the shards.
        var whole = Path.Combine(root, "whole");
        var (wholeExit, _, wholeErr) = await CliHarness.RunAsync(["run", .. plan, "--out", whole]);
        Assert.True(wholeExit == 0, wholeErr);

        var finished = slurm.WaitForJobs(jobs, TimeSpan.FromSeconds(240));
        var logs = string.Join("\n", Directory.EnumerateFiles(Path.Combine(nightly, "logs")).Order(StringComparer.Ordinal)
            .Select(f => $"--- {Path.GetFileName(f)}:\n{string.Join('\n', File.ReadLines(f).TakeLast(8))}"));
        Assert.True(finished, $"the Slurm jobs did not finish in 240 s: {slurm.JobState(jobs[0])} {slurm.JobState(jobs[1])}\n{logs}\n{slurm.Logs()}");
        var mergeState = slurm.JobState(jobs[1]);
        Assert.True(mergeState.Contains("JobState=COMPLETED", StringComparison.Ordinal) && mergeState.Contains("ExitCode=0:0", StringComparison.Ordinal),
            $"merge job: {mergeState}; shards: {slurm.JobState(jobs[0])}\n{logs}");

        var merged = Path.Combine(nightly, "merged");
        var manifest = new RunDirectory(merged).ReadManifest();
        Assert.Equal([0, 1, 2, 3], manifest.MergedFrom!.Select(s => s.Index));
        Assert.Equal(Sharding.PlanHash(new RunDirectory(whole).ReadManifest().Plan), manifest.PlanHash);

        var expected = Measured(whole);
        var actual = Measured(merged);
        // 3 backends × 6 tasks × 2 repeats.
        Assert.Equal(36, expected.Count);
        Assert.Equal(expected.Keys.OrderBy(k => k.ToString()), actual.Keys.OrderBy(k => k.ToString()));
        foreach (var (slot, original) in expected)
        {
            var twin = actual[slot];
            Assert.True(original.Answer == twin.Answer, $"{slot}: the shard's answer differs from the unsharded run's");
            Assert.Equal(original.Outcome.Status, twin.Outcome.Status);
            Assert.Equal(original.Tokens.OutputTokenizer, twin.Tokens.OutputTokenizer);
            Assert.Equal(original.Simulated, twin.Simulated);
        }
    }

    private static Dictionary<SlotKey, AttemptRecord> Measured(string dir) =>
        AttemptLog.Read(Path.Combine(dir, AttemptLog.FileName)).Records.Where(r => !r.Slot.Warmup).ToDictionary(r => r.Slot);

    /// <summary>Runs deploy/slurm/submit.sh against the test cluster; shards run this build's spark-eval.</summary>
    private (int Exit, string Out, string Err) Submit(string workingDirectory, string[] args)
    {
        var info = new ProcessStartInfo("bash") { WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(Path.Combine(CliHarness.RepoRoot, "deploy", "slurm", "submit.sh"));
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        foreach (var (key, value) in slurm.ClientEnvironment())
        {
            info.Environment[key] = value;
        }

        info.Environment["SPARK_EVAL"] = $"dotnet {CliHarness.CliDll}";
        using var process = Process.Start(info) ?? throw new InvalidOperationException("could not start bash");
        var stdout = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        if (!process.WaitForExit(TimeSpan.FromSeconds(60)))
        {
            process.Kill(entireProcessTree: true);
            return (-1, "", "submit.sh did not finish in 60 s");
        }

        return (process.ExitCode, stdout.Result, stderr.Result);
    }
}
