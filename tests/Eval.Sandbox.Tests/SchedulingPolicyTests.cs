using System.Runtime.InteropServices;
using Spark.Eval.Sandbox.Execution;

namespace Spark.Eval.Sandbox.Tests;

/// <summary>A harness run under <c>chrt -f</c> (as the timing docs advise) never hands its real-time policy to untrusted code.</summary>
public partial class SchedulingPolicyTests
{
    private const int SchedOther = 0;
    private const int SchedFifo = 1;

    [Fact]
    public async Task Sandboxed_StartedFromRealTimeThread_RunsUnderNormalPolicy()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux() && Environment.IsPrivilegedProcess, "needs Linux and root to take SCHED_FIFO");
        var work = Directory.CreateTempSubdirectory("spark-work-");
        try
        {
            var sandbox = new ProcessSandbox(SandboxEnvironment.Current, TimeProvider.System);
            // The child inherits the policy of the thread that forks it: make this thread real-time while it starts one.
            var priority = 1;
            Assert.Equal(0, SetScheduler(0, SchedFifo, ref priority));
            SandboxedProcess started;
            try
            {
                Assert.Equal(SchedFifo, GetScheduler(0));
                started = sandbox.Start(new ProcessSpec { Argv = ["/bin/sh", "-c", "cat /proc/self/sched | grep -m1 '^policy'"], WorkDir = work.FullName, Limits = TestSupport.Tight }, isolated: false);
            }
            finally
            {
                var normal = 0;
                SetScheduler(0, SchedOther, ref normal);
            }

            using (started)
            {
                var run = await started.WaitAsync(TestContext.Current.CancellationToken);
                Assert.True(run.ExitCode == 0, run.Stderr);
                Assert.Matches(@"^policy\s*:\s*0\s*$", run.Stdout.Trim());
            }
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    [LibraryImport("libc", EntryPoint = "sched_setscheduler", SetLastError = true)]
    private static partial int SetScheduler(int pid, int policy, ref int priority);

    [LibraryImport("libc", EntryPoint = "sched_getscheduler")]
    private static partial int GetScheduler(int pid);
}
