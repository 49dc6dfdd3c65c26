using System.Diagnostics;
using System.Globalization;

namespace Spark.Eval.Sandbox.Execution;

/// <summary>One attempt's cgroup v1 groups (memory, pids, cpuacct): limits, CPU time, OOM detection, and the final sweep.</summary>
internal sealed class Cgroup : IDisposable
{
    private static long s_counter;
    private readonly Dictionary<string, string> _dirs;

    private Cgroup(Dictionary<string, string> dirs) => _dirs = dirs;

    public IEnumerable<string> ProcsFiles => _dirs.Values.Select(d => Path.Combine(d, "cgroup.procs"));

    public bool Has(string controller) => _dirs.ContainsKey(controller);

    public string Controllers => string.Join(",", _dirs.Keys.Order(StringComparer.Ordinal));

    public static Cgroup? Create(SandboxEnvironment environment, SandboxLimits limits)
    {
        if (environment.CgroupRoots.Count == 0)
        {
            return null;
        }

        var name = $"a{Interlocked.Increment(ref s_counter).ToString(CultureInfo.InvariantCulture)}";
        var dirs = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (controller, root) in environment.CgroupRoots)
        {
            var dir = Path.Combine(root, name);
            try
            {
                Directory.CreateDirectory(dir);
                switch (controller)
                {
                    case "memory":
                        Write(dir, "memory.limit_in_bytes", limits.MemoryBytes);
                        // Without swap accounting this file is absent; the plain limit still holds.
                        TryWrite(dir, "memory.memsw.limit_in_bytes", limits.MemoryBytes);
                        break;
                    case "pids":
                        Write(dir, "pids.max", limits.MaxProcesses);
                        break;
                    default:
                        break;
                }

                dirs[controller] = dir;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                TryRemove(dir);
            }
        }

        return dirs.Count == 0 ? null : new Cgroup(dirs);
    }

    /// <summary>CPU seconds used by every process ever in the group; null without cpuacct.</summary>
    public double? CpuSeconds
    {
        get
        {
            if (!_dirs.TryGetValue("cpuacct", out var dir))
            {
                return null;
            }

            try
            {
                return long.Parse(File.ReadAllText(Path.Combine(dir, "cpuacct.usage")).Trim(), CultureInfo.InvariantCulture) / 1e9;
            }
            catch (Exception ex) when (ex is IOException or FormatException)
            {
                return null;
            }
        }
    }

    /// <summary>True when the kernel's OOM killer acted inside the group (memory limit reached).</summary>
    public bool OomKilled
    {
        get
        {
            if (!_dirs.TryGetValue("memory", out var dir))
            {
                return false;
            }

            try
            {
                foreach (var line in File.ReadAllLines(Path.Combine(dir, "memory.oom_control")))
                {
                    var parts = line.Split(' ');
                    if (parts.Length == 2 && parts[0] is "oom_kill" or "under_oom" && parts[1] != "0")
                    {
                        return true;
                    }
                }
            }
            catch (IOException)
            {
            }

            return false;
        }
    }

    /// <summary>True when the group hit its memory limit at least once.</summary>
    public bool MemoryLimitHit => _dirs.TryGetValue("memory", out var dir) && Read(dir, "memory.failcnt") > 0;

    /// <summary>True when a fork was refused by pids.max.</summary>
    public bool PidsLimitHit => _dirs.TryGetValue("pids", out var dir) && ReadEvents(dir, "pids.events", "max") > 0;

    public IReadOnlyList<int> Pids()
    {
        var pids = new HashSet<int>();
        foreach (var file in ProcsFiles)
        {
            try
            {
                foreach (var line in File.ReadAllLines(file))
                {
                    if (int.TryParse(line, NumberStyles.Integer, CultureInfo.InvariantCulture, out var pid))
                    {
                        pids.Add(pid);
                    }
                }
            }
            catch (IOException)
            {
            }
        }

        return [.. pids];
    }

    /// <summary>Kills every process in the group until none is left (forks racing the sweep are caught by the next pass).</summary>
    public void KillAll()
    {
        for (var pass = 0; pass < 50; pass++)
        {
            var pids = Pids();
            if (pids.Count == 0)
            {
                return;
            }

            foreach (var pid in pids)
            {
                try
                {
                    using var process = Process.GetProcessById(pid);
                    process.Kill();
                }
                catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
                {
                }
            }

            Thread.Sleep(pass < 5 ? 2 : 20);
        }
    }

    public void Dispose()
    {
        KillAll();
        foreach (var dir in _dirs.Values)
        {
            TryRemove(dir);
        }
    }

    private static void TryRemove(string dir)
    {
        for (var i = 0; i < 20; i++)
        {
            try
            {
                if (Directory.Exists(dir))
                {
                    Directory.Delete(dir);
                }

                return;
            }
            catch (IOException)
            {
                Thread.Sleep(5);
            }
        }
    }

    private static void Write(string dir, string file, long value) =>
        File.WriteAllText(Path.Combine(dir, file), value.ToString(CultureInfo.InvariantCulture));

    private static void TryWrite(string dir, string file, long value)
    {
        try
        {
            Write(dir, file, value);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }
    }

    private static long Read(string dir, string file)
    {
        try
        {
            return long.Parse(File.ReadAllText(Path.Combine(dir, file)).Trim(), CultureInfo.InvariantCulture);
        }
        catch (Exception ex) when (ex is IOException or FormatException)
        {
            return 0;
        }
    }

    private static long ReadEvents(string dir, string file, string key)
    {
        try
        {
            foreach (var line in File.ReadAllLines(Path.Combine(dir, file)))
            {
                var parts = line.Split(' ');
                if (parts.Length == 2 && parts[0] == key)
                {
                    return long.Parse(parts[1], CultureInfo.InvariantCulture);
                }
            }
        }
        catch (Exception ex) when (ex is IOException or FormatException)
        {
        }

        return 0;
    }
}
