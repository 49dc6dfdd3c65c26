using System.Diagnostics;
using System.Text.Json;
using Spark.Eval.Cli.Commands;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Backends;
using Spark.Eval.Core.Sessions;
using Spark.Eval.Core.Tokens;
using Spark.Eval.Diagnostics;
using Spark.Eval.Simulator.Server;

namespace Spark.Eval.Cli.Tests;

/// <summary>
/// How <c>run</c> with sessions in real time sets itself up (docs/benchmarks.md, "256 sessions against serve-sim in real time"):
/// it starts itself again under a gen0 budget (a garbage collection stops the wake-up threads), wakes its sessions on one
/// thread per core, and pre-connects one connection per session. No timing is asserted.
/// </summary>
public class SessionRuntimeTests
{
    private static RunPlanSpec Plan(SessionClock clock, string? policy = null) => new()
    {
        SuitePath = "datasets/spark-mini",
        BackendSpecs = ["openai?url=http://127.0.0.1:1/v1&model=m"],
        Sessions = new SessionPlanSpec { Count = 256, Clock = clock, Policy = policy },
    };

    [Fact]
    public void Wanted_OnlySessionsInRealTimeWithoutAGen0BudgetAlready()
    {
        static string? None(string _) => null;
        Assert.True(SessionRuntime.Wanted(Plan(SessionClock.Real), None));
        Assert.False(SessionRuntime.Wanted(Plan(SessionClock.Virtual), None));
        // The user's own budget (or the child's) is kept: no second start.
        Assert.False(SessionRuntime.Wanted(Plan(SessionClock.Real), name => name == SessionRuntime.Gen0Variable ? "0x4000000" : null));
    }

    [Fact]
    public void Wanted_ARealTimeRemoteBackendWithoutSessions_UnlessSwitchedOff()
    {
        static string? None(string _) => null;
        // A plain run through the openai backend: its send delay is inside the user-facing TTFT (docs/remote.md, "Send path").
        Assert.True(SessionRuntime.Wanted(Plan(SessionClock.Real) with { Sessions = null }, None));
        Assert.False(SessionRuntime.Wanted(Plan(SessionClock.Real) with { Sessions = null, BackendSpecs = ["sim?ttft_ms=50"] }, None));
        Assert.True(SessionRuntime.Wanted(Plan(SessionClock.Real) with { Sessions = null, BackendSpecs = ["sim?ttft_ms=50", "openai?url=http://127.0.0.1:1/v1&model=m"] }, None));
        Assert.False(SessionRuntime.Wanted(Plan(SessionClock.Real) with { Sessions = null }, name => name == SessionRuntime.OffVariable ? "off" : null));
        Assert.False(SessionRuntime.Wanted(Plan(SessionClock.Real), name => name == SessionRuntime.OffVariable ? "OFF" : null));
        Assert.StartsWith($"the runtime's default gen0 budget (not started again: {SessionRuntime.OffVariable}=off)",
            SessionRuntime.Describe(name => name == SessionRuntime.OffVariable ? "off" : null), StringComparison.Ordinal);
    }

    /// <summary>The real program, started plainly with an openai backend: it runs in a child under the gen0 budget and the manifest says so; switched off, it does not.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Run_OpenAIBackend_StartsItselfAgainUnderTheGen0Budget_UnlessSwitchedOff(bool off)
    {
        var ct = TestContext.Current.CancellationToken;
        var sim = new ConstantRateSimChatClient(TimeProvider.System, TokenCounter.Default, 5, 2000, "sim");
        await using var server = await SimServer.StartAsync(sim, new SimServerOptions { Port = 0 }, TimeProvider.System, ct);
        var dir = Path.Combine(CliHarness.TempDir(), "run");
        var backend = $"openai?name=served&url={server.BaseAddress.ToString().TrimEnd('/')}&model=sim&retries=0";
        var info = new ProcessStartInfo("dotnet") { WorkingDirectory = CliHarness.RepoRoot, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in (string[])[CliHarness.CliDll, "run", "--backend", backend, "--repeats", "1", "--tasks", "2", "--no-grade", "--out", dir])
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment.Remove(SessionRuntime.Gen0Variable);
        info.Environment.Remove(TunedRuntime.ChildVariable);
        info.Environment.Remove(SessionRuntime.OffVariable);
        if (off)
        {
            info.Environment[SessionRuntime.OffVariable] = "off";
        }

        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync(ct);
        var stderr = process.StandardError.ReadToEndAsync(ct);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        limit.CancelAfter(TimeSpan.FromMinutes(3));
        await process.WaitForExitAsync(limit.Token);

        Assert.True(process.ExitCode == 0, await stderr);
        var manifest = JsonSerializer.Deserialize(File.ReadAllBytes(Path.Combine(dir, "manifest.json")), CoreJsonContext.Default.RunManifest)!;
        Assert.Equal(off ? $"the runtime's default gen0 budget (not started again: {SessionRuntime.OffVariable}=off)"
            : $"gen0 budget {TunedRuntime.Gen0Mb} MB (DOTNET_GCgen0size={SessionRuntime.Settings[0].Value}; run started itself again under it)",
            manifest.Environment.ClientRuntime);
        Assert.Null(manifest.Environment.SessionWakeClock);
        // The backend's description names where its attempts begin (the send thread by default).
        Assert.Contains("attempts begun (start stamp to request write) on one send thread", Assert.Single(manifest.Backends).Description, StringComparison.Ordinal);
        _ = await stdout;
    }

    [Fact]
    public void Settings_AreTheGen0BudgetOfServeSimAlone()
    {
        var (name, value) = Assert.Single(SessionRuntime.Settings);
        Assert.Equal("DOTNET_GCgen0size", name);
        Assert.Equal(TunedRuntime.Gen0Mb * (1L << 20), Convert.ToInt64(value, 16));
    }

    [Fact]
    public void Describe_SaysWhetherTheRunStartedItselfAgain()
    {
        var ours = SessionRuntime.Settings[0].Value;
        Assert.Equal($"gen0 budget {TunedRuntime.Gen0Mb} MB (DOTNET_GCgen0size={ours}; run started itself again under it)",
            SessionRuntime.Describe(name => name == SessionRuntime.Gen0Variable ? ours : name == TunedRuntime.ChildVariable ? "1" : null));
        Assert.Equal("DOTNET_GCgen0size=0x4000000 (as launched)", SessionRuntime.Describe(name => name == SessionRuntime.Gen0Variable ? "0x4000000" : null));
        Assert.StartsWith("the runtime's default gen0 budget", SessionRuntime.Describe(_ => null), StringComparison.Ordinal);
    }

    [Fact]
    public void InFlight_OnePerSessionThatCanAskTheBackend_NoneInVirtualTime()
    {
        Assert.Equal(256, SessionOptions.InFlight(Plan(SessionClock.Real).Sessions!));
        Assert.Equal(512, SessionOptions.InFlight(Plan(SessionClock.Real, "policy.yaml").Sessions!));
        Assert.Equal(0, SessionOptions.InFlight(Plan(SessionClock.Virtual).Sessions!));
    }

    [Fact]
    public void WakeLanes_OnePerCoreUpToTheMost()
    {
        Assert.Equal(1, SessionOptions.WakeLanes(1));
        Assert.Equal(2, SessionOptions.WakeLanes(2));
        Assert.Equal(SessionOptions.MaxWakeLanes, SessionOptions.WakeLanes(64));
    }

    /// <summary>The real program, started plainly: it runs the sessions in a child under the gen0 budget, and the manifest says so.</summary>
    [Fact]
    public async Task Run_SessionsInRealTime_StartsItselfAgainUnderTheGen0Budget()
    {
        var ct = TestContext.Current.CancellationToken;
        var sim = new ConstantRateSimChatClient(TimeProvider.System, TokenCounter.Default, 5, 2000, "sim");
        await using var server = await SimServer.StartAsync(sim, new SimServerOptions { Port = 0 }, TimeProvider.System, ct);
        var work = CliHarness.TempDir();
        var dir = Path.Combine(work, "run");
        var backend = $"openai?name=served&url={server.BaseAddress.ToString().TrimEnd('/')}&model=sim&retries=0";
        var info = new ProcessStartInfo("dotnet") { WorkingDirectory = CliHarness.RepoRoot, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in (string[])[CliHarness.CliDll, "run", "--backend", backend, "--sessions", "4", "--session-length", "1s", "--think-scale", "0.01",
            "--no-grade", "--seed", "3", "--out", dir])
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment.Remove(SessionRuntime.Gen0Variable);
        info.Environment.Remove(TunedRuntime.ChildVariable);
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync(ct);
        var stderr = process.StandardError.ReadToEndAsync(ct);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        limit.CancelAfter(TimeSpan.FromMinutes(3));
        await process.WaitForExitAsync(limit.Token);

        Assert.True(process.ExitCode == 0, await stderr);
        var manifest = JsonSerializer.Deserialize(File.ReadAllBytes(Path.Combine(dir, "manifest.json")), CoreJsonContext.Default.RunManifest)!;
        Assert.EndsWith($"gen0 budget {TunedRuntime.Gen0Mb} MB (DOTNET_GCgen0size={SessionRuntime.Settings[0].Value}; run started itself again under it)",
            manifest.Environment.SessionWakeClock, StringComparison.Ordinal);
        Assert.Contains("run started itself again under it", await stderr, StringComparison.Ordinal);
        var (records, _) = AttemptLog.Read(Path.Combine(dir, "attempts.jsonl"));
        Assert.NotEmpty(records);
        _ = await stdout;
    }
}
