using System.Globalization;
using Spark.Eval.Sandbox.Execution;

namespace Spark.Eval.Sandbox.Tests;

/// <summary>The pooled Python fork-server: per-slot uid, fresh private directory, sweep of leftovers, reuse rules, parity with one-shot runs.</summary>
public sealed class ForkServerTests : IDisposable
{
    private readonly CodeSandbox _sandbox = new(new SandboxOptions { Limits = TestSupport.Tight }, TimeProvider.System);

    private static void RequireForkServer()
    {
        SandboxFixture.RequireIsolation();
        Assert.SkipUnless(SandboxEnvironment.Current.CanSwitchUsers, "the fork-server needs bubblewrap and a harness running as root (it gives each attempt slot its own uid); the one-shot path is used here");
    }

    private Task<ExecutionResult> Run(string source, CodeSandbox? sandbox = null, SandboxLimits? limits = null) =>
        (sandbox ?? _sandbox).ExecuteAsync(new ProgramRequest { Language = "python", Source = source, Limits = limits ?? TestSupport.Tight }, TestContext.Current.CancellationToken);

    private static async Task<ExecutionResult> Passing(Task<ExecutionResult> run)
    {
        var result = await run;
        Assert.True(result.Outcome == ExecutionOutcome.Passed, $"{result.Outcome}: {result.Detail} {result.Run?.Stderr}");
        return result;
    }

    [Fact]
    public async Task ForkServer_Attempt_RunsAsItsOwnUidInAFreshPrivateDirectory()
    {
        RequireForkServer();
        var result = await Passing(Run("import os, stat\nst = os.stat('.')\nprint(os.getuid(), os.getgid(), os.getgroups(), os.getcwd(), oct(stat.S_IMODE(st.st_mode)), st.st_uid, sorted(os.listdir('.')))\n"));
        var fields = result.Run!.Stdout.Trim().Split(' ', 7);
        var uid = int.Parse(fields[0], CultureInfo.InvariantCulture);
        Assert.True(uid >= 1_000_000, $"attempt uid {uid} is not an unprivileged per-slot uid");
        Assert.Equal(fields[0], fields[1]);
        Assert.Equal("[]", fields[2]);
        Assert.StartsWith("/sandbox/a", fields[3], StringComparison.Ordinal);
        Assert.Equal("0o700", fields[4]);
        Assert.Equal(fields[0], fields[5]);
        Assert.Equal("['prog.py']", fields[6]);
        Assert.Contains("forkserver", result.Isolation, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ForkServer_WriteIntoAnotherAttemptsDirectory_IsDenied()
    {
        RequireForkServer();
        var first = await Passing(Run("import os\nopen('mine.txt', 'w').write('first')\nprint(os.getcwd())\n"));
        var firstDir = first.Run!.Stdout.Trim();
        // The same server's next attempt: the first directory is gone and cannot be re-created, /sandbox cannot be listed or written.
        var probe = "import os\ndenied = 0\n"
            + $"for action in (lambda: open('{firstDir}/mine.txt', 'w'), lambda: os.mkdir('{firstDir}'), lambda: os.listdir('/sandbox'), lambda: open('/sandbox/x', 'w'), lambda: open('/tmp/x', 'w'), lambda: open('/dev/shm/x', 'w')):\n"
            + "    try:\n        action()\n    except OSError:\n        denied += 1\n"
            + "print(os.getcwd(), denied)\n";
        var second = await Passing(Run(probe));
        var parts = second.Run!.Stdout.Trim().Split(' ');
        Assert.NotEqual(firstDir, parts[0]);
        Assert.Equal("6", parts[1]);
    }

    [Fact]
    public async Task ForkServer_SymlinksLeftInTheDirectory_AreNotFollowedWhenItIsDeleted()
    {
        RequireForkServer();
        var outside = Directory.CreateTempSubdirectory("spark-outside-");
        try
        {
            var keep = Path.Combine(outside.FullName, "keep.txt");
            await File.WriteAllTextAsync(keep, "keep", TestContext.Current.CancellationToken);
            // The harness deletes the attempt directory from the host: links pointing at host paths must go, not their targets.
            await Passing(Run($"import os\nos.symlink('{outside.FullName}', 'dir-link')\nos.symlink('{keep}', 'file-link')\nos.mkdir('sub')\nos.symlink('{outside.FullName}', 'sub/link')\n"));
            Assert.Equal("keep", await File.ReadAllTextAsync(keep, TestContext.Current.CancellationToken));
        }
        finally
        {
            outside.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task ForkServer_SharedMemoryLeftBehind_ServerIsReplaced()
    {
        RequireForkServer();
        // A SysV segment outlives the program and could carry data to the next attempt of the same uid: the server is replaced.
        // (ctypes is refused inside the graded process itself, which holds the pass nonce; a child interpreter may use it.)
        var result = await Passing(Run("import os, subprocess, sys\nsubprocess.run([sys.executable, '-c', 'import ctypes; assert ctypes.CDLL(None).shmget(0x5eed, 4096, 0o1600) >= 0'], check=True)\nprint(os.getcwd())\n"));
        Assert.Equal("/sandbox/a1", result.Run!.Stdout.Trim());
        var next = await Passing(Run("import os\nprint(os.getcwd())\n"));
        Assert.Equal("/sandbox/a1", next.Run!.Stdout.Trim());
    }

    [Fact]
    public async Task ForkServer_ConcurrentAttempts_GetDifferentUidsAndCannotSignalEachOther()
    {
        RequireForkServer();
        // Each lists every process it can see and tries to kill those that are not its own: none may be hit.
        const string Source = "import os, signal, time\nme = os.getuid()\nhit = 0\nfor pid in [int(p) for p in os.listdir('/proc') if p.isdigit()]:\n"
            + "    try:\n        uid = int(open(f'/proc/{pid}/status').read().split('Uid:')[1].split()[0])\n    except OSError:\n        continue\n"
            + "    if uid != me:\n        try:\n            os.kill(pid, signal.SIGKILL)\n            hit += 1\n        except PermissionError:\n            pass\n"
            + "time.sleep(0.3)\nprint(me, hit)\n";
        var runs = await Task.WhenAll(Run(Source), Run(Source));
        foreach (var run in runs)
        {
            Assert.True(run.Outcome == ExecutionOutcome.Passed, $"{run.Outcome}: {run.Detail}");
            Assert.EndsWith(" 0", run.Run!.Stdout.Trim(), StringComparison.Ordinal);
        }

        Assert.NotEqual(runs[0].Run!.Stdout.Split(' ')[0], runs[1].Run!.Stdout.Split(' ')[0]);
    }

    [Fact]
    public async Task ForkServer_SignalServerOrInit_IsDeniedAndServerKeepsServing()
    {
        RequireForkServer();
        var attack = await Run("import os, signal\ndenied = 0\nfor pid in (os.getppid(), 1, -1):\n    try:\n        os.kill(pid, signal.SIGKILL)\n    except PermissionError:\n        denied += 1\nprint(os.getcwd(), denied)\n");
        Assert.True(attack.Outcome == ExecutionOutcome.Passed, $"{attack.Outcome}: {attack.Detail}");
        // kill(-1) reaches nothing but the program's own uid (and spares the caller), so only the server and init count as denied.
        Assert.StartsWith("/sandbox/a1 2", attack.Run!.Stdout, StringComparison.Ordinal);
        var next = await Passing(Run("import os\nprint(os.getcwd())\n"));
        Assert.Equal("/sandbox/a2", next.Run!.Stdout.Trim());
    }

    [Fact]
    public async Task ForkServer_BackgroundChildLeftBehind_IsKilledAndServerReplaced()
    {
        RequireForkServer();
        var marker = "7" + Random.Shared.Next(100000, 999999).ToString(CultureInfo.InvariantCulture);
        var result = await Passing(Run($"import os, subprocess\nsubprocess.Popen(['sleep', '{marker}'], start_new_session=True)\nif os.fork() == 0:\n    os.setsid()\n    os.execv('/bin/sleep', ['sleep', '{marker}1'])\nprint(os.getcwd())\n"));
        Assert.Equal("/sandbox/a1", result.Run!.Stdout.Trim());
        Assert.False(SandboxFixture.ProcessWithMarkerAlive("sleep " + marker), "a background child of the attempt survived");
        // Leftovers make the server not reusable: the next attempt runs in a fresh server (its first directory).
        var next = await Passing(Run("import os\nprint(os.getcwd())\n"));
        Assert.Equal("/sandbox/a1", next.Run!.Stdout.Trim());
    }

    [Fact]
    public async Task ForkServer_AfterPassing_IsReusedAndAfterFailure_IsReplaced()
    {
        RequireForkServer();
        Assert.Equal("/sandbox/a1", (await Passing(Run("import os\nprint(os.getcwd())\n"))).Run!.Stdout.Trim());
        Assert.Equal("/sandbox/a2", (await Passing(Run("import os\nprint(os.getcwd())\n"))).Run!.Stdout.Trim());
        Assert.Equal(ExecutionOutcome.WrongAnswer, (await Run("assert 1 == 2\n")).Outcome);
        Assert.Equal("/sandbox/a1", (await Passing(Run("import os\nprint(os.getcwd())\n"))).Run!.Stdout.Trim());
    }

    [Fact]
    public async Task ForkServer_ProcessCountLimit_CountsOnlyTheAttemptsUid()
    {
        RequireForkServer();
        // RLIMIT_NPROC applies to the attempt uid alone: the program can start MaxProcesses - 1 children, never more.
        var result = await Run("import os, time\nn = 0\nwhile n < 200:\n    try:\n        if os.fork() == 0:\n            time.sleep(2)\n            os._exit(0)\n        n += 1\n    except OSError:\n        break\nprint(n)\n",
            limits: TestSupport.Tight with { CpuSeconds = 5, WallSeconds = 10 });
        Assert.True(result.Outcome == ExecutionOutcome.Passed, $"{result.Outcome}: {result.Detail}");
        var started = int.Parse(result.Run!.Stdout.Trim(), CultureInfo.InvariantCulture);
        Assert.InRange(started, TestSupport.Tight.MaxProcesses / 2, TestSupport.Tight.MaxProcesses - 1);
    }

    [Fact]
    public async Task ForkServer_ExitSemantics_MatchTheInterpreter()
    {
        RequireForkServer();
        var threads = await Passing(Run("import atexit, threading, time\natexit.register(lambda: print('atexit ran'))\nt = threading.Thread(target=lambda: (time.sleep(0.05), print('thread done')))\nt.start()\nprint(__name__)\n"));
        Assert.Equal("__main__\nthread done\natexit ran\n", threads.Run!.Stdout);
        var exit3 = await Run("import sys\nsys.exit(3)\n");
        Assert.Equal(ExecutionOutcome.RuntimeError, exit3.Outcome);
        Assert.Equal(3, exit3.Run!.ExitCode);
        var message = await Run("import sys\nsys.exit('bad input')\n");
        Assert.Equal(1, message.Run!.ExitCode);
        Assert.Contains("bad input", message.Run.Stderr, StringComparison.Ordinal);
        var unittestFail = await Run("import unittest\nclass T(unittest.TestCase):\n    def test_a(self):\n        self.assertEqual(1, 2)\nunittest.main()\n");
        Assert.Equal(ExecutionOutcome.WrongAnswer, unittestFail.Outcome);
    }

    [Theory]
    [InlineData("assert sorted([3, 1]) == [1, 3]\n")]
    [InlineData("def f(x):\n    return x\nassert f(2) == 3, 'f(2)'\n")]
    [InlineData("def f(:\n    pass\n")]
    [InlineData("raise KeyError('k')\n")]
    [InlineData("import sys\nsys.exit(2)\n")]
    [InlineData("input()\n")]
    [InlineData("import sys\nprint('e' * 100000, file=sys.stderr)\nraise SystemExit(1)\n")]
    [InlineData("while True:\n    pass\n")]
    public async Task ForkServer_Outcome_MatchesOneShotInterpreter(string source)
    {
        RequireForkServer();
        using var oneShot = new CodeSandbox(new SandboxOptions { Limits = TestSupport.Tight }, TimeProvider.System, environment: SandboxEnvironment.Current.WithoutForkServer());
        var forked = await Run(source);
        var fresh = await Run(source, oneShot);
        Assert.Contains("forkserver", forked.Isolation, StringComparison.Ordinal);
        Assert.DoesNotContain("forkserver", fresh.Isolation, StringComparison.Ordinal);
        Assert.True(forked.Outcome == fresh.Outcome, $"fork-server {forked.Outcome} ({forked.Detail}) vs one-shot {fresh.Outcome} ({fresh.Detail})");
        if (fresh.Outcome != ExecutionOutcome.Timeout)
        {
            Assert.Equal(fresh.Run?.ExitCode, forked.Run?.ExitCode);
        }

        if (fresh.Outcome == ExecutionOutcome.WrongAnswer)
        {
            Assert.Equal(fresh.Detail, forked.Detail);
        }
    }

    public void Dispose() => _sandbox.Dispose();
}
