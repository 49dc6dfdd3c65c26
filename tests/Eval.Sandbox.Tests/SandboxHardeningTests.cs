using System.Diagnostics;
using System.Globalization;
using Spark.Eval.Sandbox.Execution;

namespace Spark.Eval.Sandbox.Tests;

/// <summary>Loopback down in every sandbox, the program size limit, stale sandboxes of a crashed harness, and prompt cancellation.</summary>
public sealed class SandboxHardeningTests(SandboxFixture fixture) : IClassFixture<SandboxFixture>
{
    private const string PyLoopback = "import socket\ns = socket.socket()\ns.bind(('127.0.0.1', 0))\ns.listen()\nsocket.create_connection(s.getsockname(), timeout=2).close()\nprint('connected')\n";

    private static void RequireLoopbackDown()
    {
        SandboxFixture.RequireIsolation();
        Assert.SkipUnless(SandboxEnvironment.Current.LoopbackDown, "util-linux unshare/setpriv are missing here, so loopback stays up (documented)");
    }

    [Fact]
    public async Task PythonForkServer_LoopbackConnect_IsBlocked()
    {
        RequireLoopbackDown();
        Assert.SkipUnless(SandboxEnvironment.Current.CanSwitchUsers, "the fork-server needs root");
        var result = await fixture.RunAsync("python", PyLoopback);
        Assert.True(result.Outcome == ExecutionOutcome.SandboxViolation, $"{result.Outcome}: {result.Detail} {result.Run?.Stdout}");
    }

    [Fact]
    public async Task PythonOneShot_LoopbackConnect_IsBlocked()
    {
        RequireLoopbackDown();
        using var sandbox = new CodeSandbox(new SandboxOptions { Limits = TestSupport.Tight }, TimeProvider.System, environment: SandboxEnvironment.Current.WithoutForkServer());
        var result = await sandbox.ExecuteAsync(new ProgramRequest { Language = "python", Source = PyLoopback, Limits = TestSupport.Tight }, TestContext.Current.CancellationToken);
        Assert.True(result.Outcome == ExecutionOutcome.SandboxViolation, $"{result.Outcome}: {result.Detail} {result.Run?.Stdout}");
    }

    [Fact]
    public async Task JavaScript_LoopbackConnect_IsBlocked()
    {
        RequireLoopbackDown();
        var result = await fixture.RunAsync("javascript",
            "const net = require('node:net'); const srv = net.createServer(); srv.listen(0, '127.0.0.1', () => { const c = net.connect(srv.address().port, '127.0.0.1', () => { console.log('connected'); process.exit(0); }); c.on('error', e => { console.error(e.code); process.exit(1); }); }); srv.on('error', e => { console.error(e.code); process.exit(1); });\n");
        Assert.True(result.Outcome == ExecutionOutcome.SandboxViolation, $"{result.Outcome}: {result.Detail} {result.Run?.Stdout}");
    }

    [Fact]
    public async Task CSharp_LoopbackConnect_IsBlocked()
    {
        RequireLoopbackDown();
        var result = await fixture.RunAsync("csharp", """
            using System.Net; using System.Net.Sockets;
            class P { static void Main() {
              var l = new TcpListener(IPAddress.Loopback, 0); l.Start();
              using var c = new TcpClient(); c.Connect(IPAddress.Loopback, ((IPEndPoint)l.LocalEndpoint).Port);
              System.Console.WriteLine("connected");
            } }
            """);
        Assert.NotEqual(ExecutionOutcome.Passed, result.Outcome);
        Assert.DoesNotContain("connected", result.Run?.Stdout ?? "", StringComparison.Ordinal);
    }

    [Fact]
    public async Task PythonForkServer_ProgramLargerThanItsFileLimit_RunsInsteadOfKillingTheServer()
    {
        SandboxFixture.RequireIsolation();
        Assert.SkipUnless(SandboxEnvironment.Current.CanSwitchUsers, "the fork-server needs root");
        // 9 MiB of program under an 8 MiB file-size limit: the server wrote it past its own RLIMIT_FSIZE and died (SIGXFSZ).
        var big = "# " + new string('x', 9 << 20) + "\nassert 1 + 1 == 2\n";
        var result = await fixture.RunAsync("python", big, TestSupport.Tight with { CpuSeconds = 10, WallSeconds = 60 });
        Assert.True(result.Outcome == ExecutionOutcome.Passed, $"{result.Outcome}: {result.Detail}");
    }

    [Fact]
    public async Task Program_OverTheProgramSizeLimit_IsRefusedNotBlamedOnACrash()
    {
        SandboxFixture.RequireIsolation();
        var huge = "# " + new string('x', 17 << 20) + "\nassert True\n";
        var result = await fixture.RunAsync("python", huge);
        Assert.Equal(ExecutionOutcome.SandboxViolation, result.Outcome);
        Assert.Contains("program size limit", result.Detail, StringComparison.Ordinal);
        Assert.Equal(ExecutionOutcome.Passed, (await fixture.RunAsync("python", "assert True\n")).Outcome);
    }

    [Fact]
    public void StaleSandboxes_OfADeadHarness_AreRemovedWithTheirProcesses()
    {
        Assert.SkipUnless(Environment.IsPrivilegedProcess && SandboxEnvironment.Current.CgroupRoots.Count > 0, "needs root and cgroup v1 controllers");
        using var gone = Process.Start("/bin/true")!;
        gone.WaitForExit();
        var dead = gone.Id.ToString(CultureInfo.InvariantCulture);
        Assert.False(Directory.Exists("/proc/" + dead));

        var scratch = Path.Combine("/dev/shm", "spark-eval-sandbox-" + dead);
        Directory.CreateDirectory(Path.Combine(scratch, "attempt-1"));
        File.WriteAllText(Path.Combine(scratch, "attempt-1", "prog.py"), "x");
        var live = Path.Combine("/dev/shm", "spark-eval-sandbox-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "-not-a-pid");
        Directory.CreateDirectory(live);

        // A left-over sandbox process in a dead harness's cgroup (what a kill -9 during grading leaves).
        var self = File.ReadAllLines("/proc/self/cgroup");
        var pids = SandboxEnvironment.Current.CgroupRoots["pids"];
        var staleRoot = Path.Combine(Path.GetDirectoryName(pids)!, "spark-eval-" + dead);
        var group = Path.Combine(staleRoot, "a1");
        Directory.CreateDirectory(group);
        using var orphan = Process.Start("/bin/sleep", "987654")!;
        File.WriteAllText(Path.Combine(group, "cgroup.procs"), orphan.Id.ToString(CultureInfo.InvariantCulture));
        try
        {
            Assert.True(StaleSandboxes.RemoveScratch(["/dev/shm"]) >= 1);
            Assert.True(StaleSandboxes.RemoveCgroups(self) >= 2);
            Assert.False(Directory.Exists(scratch), "the dead harness's scratch folder is still there");
            Assert.True(Directory.Exists(live), "a folder that is not a dead harness's was removed");
            Assert.False(Directory.Exists(staleRoot), "the dead harness's cgroup is still there");
            Assert.True(orphan.WaitForExit(5000), "the process left in the stale cgroup was not killed");
        }
        finally
        {
            Directory.Delete(live);
            if (!orphan.HasExited)
            {
                orphan.Kill();
            }
        }
    }

    public static TheoryData<string, string> Spinners => new()
    {
        { "python", "import subprocess\nsubprocess.Popen(['sleep', '{marker}'])\nwhile True:\n    pass\n" },
        { "javascript", "require('child_process').spawn('sleep', ['{marker}'], { stdio: 'ignore' });\nfor (;;) {}\n" },
        { "csharp", "class P { static void Main() { System.Diagnostics.Process.Start(\"/bin/sleep\", \"{marker}\"); while (true) { } } }" },
    };

    [Theory]
    [MemberData(nameof(Spinners))]
    public async Task Cancellation_DuringAnAttempt_ThrowsAndKillsTheTree(string language, string source)
    {
        SandboxFixture.RequireIsolation();
        var marker = "7" + Random.Shared.Next(100000, 999999).ToString(CultureInfo.InvariantCulture);
        var limits = TestSupport.Tight with { CpuSeconds = 120, WallSeconds = 120 };
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var started = TimeProvider.System.GetTimestamp();
        cts.CancelAfter(TimeSpan.FromSeconds(3));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            fixture.Sandbox.ExecuteAsync(new ProgramRequest { Language = language, Source = source.Replace("{marker}", marker, StringComparison.Ordinal), Limits = limits }, cts.Token));
        // Far below the 120 s limits: the attempt ended because of the cancellation, not a limit.
        Assert.True(TimeProvider.System.GetElapsedTime(started) < TimeSpan.FromSeconds(60), "cancellation was not honoured before the limits");
        Assert.False(SandboxFixture.ProcessWithMarkerAlive("sleep " + marker), "a process of the cancelled attempt survived");
        Assert.Equal(ExecutionOutcome.Passed, (await fixture.RunAsync(language, language switch
        {
            "python" => "assert True\n",
            "javascript" => "1;\n",
            _ => "class P { static void Main() { } }",
        })).Outcome);
    }
}
