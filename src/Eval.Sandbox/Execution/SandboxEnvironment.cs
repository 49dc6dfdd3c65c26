using System.Diagnostics;
using System.Globalization;

namespace Spark.Eval.Sandbox.Execution;

/// <summary>What isolation this machine offers: bubblewrap, cgroup v1 controllers, prlimit; probed once.</summary>
public sealed class SandboxEnvironment
{
    private static readonly Lazy<SandboxEnvironment> Probed = new(Probe);

    public static SandboxEnvironment Current => Probed.Value;

    /// <summary>Path of bwrap when present and working, else null.</summary>
    public string? Bubblewrap { get; init; }
    public string? Prlimit { get; init; }
    /// <summary>cgroup v1 directories under which per-attempt groups can be made, by controller.</summary>
    public IReadOnlyDictionary<string, string> CgroupRoots { get; init; } = new Dictionary<string, string>();
    /// <summary>Where fresh attempt directories are made (tmpfs when cgroup memory charges its pages).</summary>
    public required string ScratchRoot { get; init; }

    public bool HasNamespaces => Bubblewrap is not null;

    /// <summary>
    /// True when bubblewrap can run a process as root with a few capabilities and no user namespace (the harness runs as
    /// root), so the Python fork-server can give each attempt slot its own unprivileged uid. SPARK_EVAL_SANDBOX=no-forkserver turns it off.
    /// </summary>
    public bool CanSwitchUsers { get; init; }

    /// <summary>util-linux <c>unshare</c> and <c>setpriv</c>, used to give each sandbox a network namespace whose loopback is down.</summary>
    public string? Unshare { get; init; }
    public string? Setpriv { get; init; }

    /// <summary>True when every sandbox's network namespace has loopback down (no interface up at all: connects fail with ENETUNREACH).</summary>
    public bool LoopbackDown { get; init; }

    /// <summary>This environment without bubblewrap: what a machine lacking it gets (process limits only).</summary>
    public SandboxEnvironment WithoutNamespaces() => new() { Prlimit = Prlimit, CgroupRoots = CgroupRoots, ScratchRoot = ScratchRoot };

    /// <summary>This environment with the loopback interface as bubblewrap leaves it (up): what a machine without util-linux's unshare/setpriv gets.</summary>
    public SandboxEnvironment WithLoopbackUp() => new() { Bubblewrap = Bubblewrap, CanSwitchUsers = CanSwitchUsers, Prlimit = Prlimit, CgroupRoots = CgroupRoots, ScratchRoot = ScratchRoot };

    /// <summary>This environment without the Python fork-server: every Python attempt in its own bubblewrap (the one-shot path).</summary>
    public SandboxEnvironment WithoutForkServer() => new()
    {
        Bubblewrap = Bubblewrap, Prlimit = Prlimit, CgroupRoots = CgroupRoots, ScratchRoot = ScratchRoot, Unshare = Unshare, Setpriv = Setpriv, LoopbackDown = LoopbackDown,
    };

    /// <summary>The isolation level a run under this environment reaches, e.g. bubblewrap+rlimits+cgroup(memory,pids,cpuacct).</summary>
    public string Describe(bool isolated)
    {
        var parts = new List<string>();
        if (isolated && HasNamespaces)
        {
            parts.Add("bubblewrap");
        }

        if (Prlimit is not null)
        {
            parts.Add("rlimits");
        }

        if (CgroupRoots.Count > 0)
        {
            parts.Add($"cgroup({string.Join(",", CgroupRoots.Keys.Order(StringComparer.Ordinal))})");
        }

        return parts.Count == 0 ? "none" : string.Join("+", parts);
    }

    private static SandboxEnvironment Probe()
    {
        var disable = Environment.GetEnvironmentVariable("SPARK_EVAL_SANDBOX");
        var bwrap = disable is "no-bwrap" or "none" ? null : Which("bwrap");
        if (bwrap is not null && !Works(bwrap, "--unshare-all", "--unshare-user", "--uid", "65534", "--gid", "65534", "--cap-drop", "ALL", "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "/bin/true"))
        {
            bwrap = null;
        }

        var unshare = Which("unshare");
        var setpriv = Which("setpriv");
        var loopbackDown = bwrap is not null && unshare is not null && setpriv is not null
            && Works(bwrap, "--unshare-user", "--unshare-pid", "--uid", "65534", "--gid", "65534", "--cap-drop", "ALL", "--cap-add", "CAP_SYS_ADMIN",
                "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", unshare, "--net", "--", setpriv, "--inh-caps=-all", "--ambient-caps=-all", "--", "/bin/true");
        var switchUsers = bwrap is not null && Environment.IsPrivilegedProcess && disable is not "no-forkserver"
            && Works(bwrap, "--unshare-pid", "--unshare-net", "--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "/bin/true");
        var cgroups = new Dictionary<string, string>(StringComparer.Ordinal);
        if (OperatingSystem.IsLinux() && disable is not "none" && disable is not "no-cgroup")
        {
            StaleSandboxes.RemoveCgroups(File.Exists("/proc/self/cgroup") ? File.ReadAllLines("/proc/self/cgroup") : []);
            var self = File.Exists("/proc/self/cgroup") ? File.ReadAllLines("/proc/self/cgroup") : [];
            foreach (var controller in new[] { "memory", "pids", "cpuacct" })
            {
                var mount = Path.Combine("/sys/fs/cgroup", controller);
                if (!File.Exists(Path.Combine(mount, "cgroup.procs")))
                {
                    continue;
                }

                // Nest under our own group so limits set above us (a container's) still hold.
                var own = self.Select(l => l.Split(':', 3)).FirstOrDefault(p => p.Length == 3 && p[1].Split(',').Contains(controller))?[2] ?? "/";
                var root = Path.Combine(mount + own, $"spark-eval-{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}");
                try
                {
                    Directory.CreateDirectory(root);
                    cgroups[controller] = root;
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    // Not ours to create: this controller is not used.
                }
            }

            if (cgroups.Count > 0)
            {
                AppDomain.CurrentDomain.ProcessExit += (_, _) =>
                {
                    foreach (var root in cgroups.Values)
                    {
                        try
                        {
                            Directory.Delete(root);
                        }
                        catch (IOException)
                        {
                        }
                    }
                };
            }
        }

        StaleSandboxes.RemoveScratch(["/dev/shm", Path.GetTempPath()]);
        var scratch = cgroups.ContainsKey("memory") && Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath();
        scratch = Path.Combine(scratch, $"spark-eval-sandbox-{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}");
        Directory.CreateDirectory(scratch);
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                Directory.Delete(scratch, true);
            }
            catch (IOException)
            {
            }
        };
        return new SandboxEnvironment
        {
            Bubblewrap = bwrap,
            CanSwitchUsers = switchUsers,
            Prlimit = Which("prlimit"),
            CgroupRoots = cgroups,
            ScratchRoot = scratch,
            Unshare = unshare,
            Setpriv = setpriv,
            LoopbackDown = loopbackDown,
        };
    }

    /// <summary>Finds an executable on PATH.</summary>
    public static string? Which(string name)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    private static bool Works(string file, params string[] args)
    {
        try
        {
            var info = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
            info.Environment.Clear();
            info.Environment["PATH"] = "/usr/local/bin:/usr/bin:/bin";
            foreach (var arg in args)
            {
                info.ArgumentList.Add(arg);
            }

            using var process = Process.Start(info);
            if (process is null)
            {
                return false;
            }

            if (!process.WaitForExit(10_000))
            {
                process.Kill(true);
                return false;
            }

            return process.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }
}
