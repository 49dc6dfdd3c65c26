using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Spark.Eval.Cli.Tests;

/// <summary>
/// A throwaway single-node Slurm cluster (Debian's slurm-wlm and munge) on loopback: a munge key, slurm.conf, state and
/// logs in a temp directory, munged + slurmctld + slurmd started as root (slurmd must be root to launch jobs as their
/// user), no cgroups; every job cancelled, every daemon stopped and the directory deleted at the end.
/// </summary>
public sealed class SlurmClusterFixture : IDisposable
{
    private static readonly string[] Daemons = ["munged", "slurmctld", "slurmd"];
    private static readonly string[] Clients = ["sbatch", "squeue", "scontrol", "scancel", "sinfo", "munge"];
    private readonly Dictionary<string, string> _bin = new(StringComparer.Ordinal);
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "spark-eval-slurm-" + Guid.NewGuid().ToString("N")[..12]);

    public string? SkipReason { get; }

    /// <summary>The generated slurm.conf: clients (sbatch, squeue…) find the cluster through SLURM_CONF.</summary>
    public string ConfPath => Path.Combine(_dir, "slurm.conf");

    public SlurmClusterFixture()
    {
        if (!OperatingSystem.IsLinux())
        {
            SkipReason = "Slurm runs on Linux only";
            return;
        }

        var missing = Daemons.Concat(Clients).Where(name => Find(name) is null).ToList();
        if (missing.Count > 0)
        {
            SkipReason = $"Slurm or munge not installed ({string.Join(", ", missing)} not found): install Debian's slurm-wlm and munge (listed in .ci/apt-packages.txt)";
            return;
        }

        if (Environment.UserName != "root")
        {
            SkipReason = "the single-node Slurm cluster needs root (slurmd launches jobs as their user): run the tests as root, as .ci/run does in CI";
            return;
        }

        try
        {
            Start();
        }
        catch (InvalidOperationException ex)
        {
            // Installed but cannot start here (e.g. a sandbox without the needed privileges): say why, with the daemons' logs.
            SkipReason = $"could not start a single-node Slurm cluster: {ex.Message}";
            Stop();
        }
    }

    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    private void Start()
    {
        Directory.CreateDirectory(_dir);
        // munged wants its socket's directory reachable by everyone, and its key readable by its owner only.
        File.SetUnixFileMode(_dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
        Directory.CreateDirectory(Path.Combine(_dir, "state"));
        Directory.CreateDirectory(Path.Combine(_dir, "spool"));
        var key = Path.Combine(_dir, "munge.key");
        File.WriteAllBytes(key, System.Security.Cryptography.RandomNumberGenerator.GetBytes(1024));
        File.SetUnixFileMode(key, UnixFileMode.UserRead);
        var socket = Path.Combine(_dir, "munge.socket");
        Run("munged", "--force", $"--key-file={key}", $"--socket={socket}", $"--pid-file={Pid("munged")}", $"--log-file={Path.Combine(_dir, "munged.log")}",
            $"--seed-file={Path.Combine(_dir, "munged.seed")}");

        var ic = CultureInfo.InvariantCulture;
        File.WriteAllText(ConfPath, string.Join('\n',
            "ClusterName=sparkeval",
            "SlurmctldHost=localhost(127.0.0.1)",
            string.Create(ic, $"SlurmctldPort={FreePort()}"),
            string.Create(ic, $"SlurmdPort={FreePort()}"),
            "AuthType=auth/munge",
            "CredType=cred/munge",
            $"AuthInfo=socket={socket}",
            "SlurmUser=root",
            "SlurmdUser=root",
            $"StateSaveLocation={Path.Combine(_dir, "state")}",
            $"SlurmdSpoolDir={Path.Combine(_dir, "spool")}",
            $"SlurmctldPidFile={Pid("slurmctld")}",
            $"SlurmdPidFile={Pid("slurmd")}",
            $"SlurmctldLogFile={Path.Combine(_dir, "slurmctld.log")}",
            $"SlurmdLogFile={Path.Combine(_dir, "slurmd.log")}",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "MpiDefault=none",
            "SwitchType=switch/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_CPU",
            "SchedulerType=sched/builtin",
            "ReturnToService=2",
            "MinJobAge=600",
            string.Create(ic, $"NodeName=localhost NodeAddr=127.0.0.1 CPUs={Environment.ProcessorCount} State=UNKNOWN"),
            "PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP",
            ""));

        // Both daemons fork into the background and write their pid files; -i: ignore any saved state.
        Run("slurmctld", "-f", ConfPath, "-i");
        Run("slurmd", "-f", ConfPath, "-N", "localhost");
        var started = TimeProvider.System.GetTimestamp();
        while (true)
        {
            var (exit, state, _) = Client("sinfo", "-h", "-n", "localhost", "-o", "%T");
            if (exit == 0 && state.Trim() == "idle")
            {
                return;
            }

            if (TimeProvider.System.GetElapsedTime(started) > TimeSpan.FromSeconds(60))
            {
                throw new InvalidOperationException($"the node did not become idle in 60 s (sinfo: '{state.Trim()}'); {Logs()}");
            }

            Thread.Sleep(250);
        }
    }

    /// <summary>Runs a Slurm client command (sbatch, squeue, scontrol…) against this cluster; returns its exit code, stdout and stderr.</summary>
    public (int Exit, string Out, string Err) Client(string name, params string[] args) => Exec(_bin.GetValueOrDefault(name) ?? Find(name)!, args, ClientEnvironment(), TimeSpan.FromSeconds(60));

    /// <summary>The environment a client or a submitted script needs to reach this cluster.</summary>
    public IReadOnlyDictionary<string, string> ClientEnvironment() => new Dictionary<string, string>(StringComparer.Ordinal) { ["SLURM_CONF"] = ConfPath };

    /// <summary>Waits until none of <paramref name="jobIds"/> (none at all, when empty) is pending or running, bounded by <paramref name="timeout"/>; false on timeout.</summary>
    public bool WaitForJobs(IReadOnlyCollection<string> jobIds, TimeSpan timeout)
    {
        var started = TimeProvider.System.GetTimestamp();
        while (TimeProvider.System.GetElapsedTime(started) < timeout)
        {
            var (exit, queued, _) = jobIds.Count == 0 ? Client("squeue", "-h") : Client("squeue", "-h", "-j", string.Join(',', jobIds), "-o", "%i %T");
            if (exit == 0 && queued.Trim().Length == 0)
            {
                return true;
            }

            Thread.Sleep(500);
        }

        return false;
    }

    /// <summary>A job's final state and exit code as the controller remembers them (MinJobAge keeps them 10 minutes).</summary>
    public string JobState(string jobId)
    {
        var (_, text, err) = Client("scontrol", "show", "job", jobId);
        return string.Join(' ', (text + err).Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries).Where(t => t.StartsWith("JobState=", StringComparison.Ordinal) || t.StartsWith("ExitCode=", StringComparison.Ordinal) || t.StartsWith("JobId=", StringComparison.Ordinal)));
    }

    /// <summary>The tail of the daemons' logs, for failure messages.</summary>
    public string Logs() => string.Join("\n", new[] { "slurmctld.log", "slurmd.log", "munged.log" }
        .Select(f => Path.Combine(_dir, f)).Where(File.Exists)
        .Select(f => $"--- {Path.GetFileName(f)}:\n" + string.Join('\n', File.ReadLines(f).TakeLast(15))));

    public void Dispose() => Stop();

    private void Stop()
    {
        if (_bin.ContainsKey("slurmctld") && File.Exists(Pid("slurmctld")))
        {
            // Leave no job behind: cancel every job of this private cluster, then stop both Slurm daemons.
            try
            {
                Client("scancel", "--full", "-u", "root");
                WaitForJobs([], TimeSpan.FromSeconds(20));
                Client("scontrol", "shutdown");
            }
            catch (InvalidOperationException)
            {
                // The controller is gone already: the pid files below stop what is left.
            }
        }

        foreach (var daemon in new[] { "slurmd", "slurmctld", "munged" })
        {
            StopByPidFile(Pid(daemon));
        }

        if (Directory.Exists(_dir))
        {
            try
            {
                Directory.Delete(_dir, recursive: true);
            }
            catch (IOException)
            {
                // A daemon still closing a log file: a temp directory left behind is harmless.
            }
        }
    }

    private static void StopByPidFile(string pidFile)
    {
        if (!File.Exists(pidFile) || !int.TryParse(File.ReadAllText(pidFile).Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var pid))
        {
            return;
        }

        try
        {
            using var process = Process.GetProcessById(pid);
            // SIGTERM first (a clean shutdown; the Slurm daemons are usually gone already after scontrol shutdown), SIGKILL after 10 s.
            if (!process.WaitForExit(TimeSpan.FromSeconds(2)))
            {
                _ = Exec("kill", ["-TERM", pid.ToString(CultureInfo.InvariantCulture)], null, TimeSpan.FromSeconds(5));
            }

            if (!process.WaitForExit(TimeSpan.FromSeconds(10)))
            {
                process.Kill();
            }
        }
        catch (ArgumentException)
        {
            // Already exited.
        }
    }

    private string Pid(string daemon) => Path.Combine(_dir, daemon + ".pid");

    private void Run(string name, params string[] args)
    {
        var (exit, stdout, stderr) = Exec(_bin[name], args, null, TimeSpan.FromSeconds(60));
        if (exit != 0)
        {
            throw new InvalidOperationException($"{name} {string.Join(' ', args)} exited {exit}: {stdout} {stderr}; {Logs()}");
        }
    }

    private string? Find(string name)
    {
        var path = (System.Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Concat(["/usr/sbin", "/sbin", "/usr/bin"])
            .Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);
        if (path is not null)
        {
            _bin[name] = path;
        }

        return path;
    }

    private static (int Exit, string Out, string Err) Exec(string file, IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment, TimeSpan timeout)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        foreach (var (k, v) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[k] = v;
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {file}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"{file} did not finish in {timeout.TotalSeconds} s");
        }

        return (process.ExitCode, stdout.Result, stderr.Result);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
