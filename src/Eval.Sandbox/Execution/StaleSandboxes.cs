using System.Diagnostics;
using System.Globalization;

namespace Spark.Eval.Sandbox.Execution;

/// <summary>
/// Removes what a harness that crashed (or was killed) during grading left behind: its scratch folder
/// <c>spark-eval-sandbox-&lt;pid&gt;</c> and its cgroups <c>spark-eval-&lt;pid&gt;</c> (with any sandbox still running in them).
/// Only entries whose owner pid is no longer alive are touched; run once at start-up.
/// </summary>
public static class StaleSandboxes
{
    private const string ScratchPrefix = "spark-eval-sandbox-";
    private const string CgroupPrefix = "spark-eval-";

    /// <summary>Deletes stale scratch folders under each root; returns how many were removed.</summary>
    public static int RemoveScratch(IEnumerable<string> roots)
    {
        ArgumentNullException.ThrowIfNull(roots);
        var removed = 0;
        foreach (var root in roots.Distinct(StringComparer.Ordinal))
        {
            foreach (var dir in SafeEnumerate(root, ScratchPrefix + "*"))
            {
                if (DeadOwner(Path.GetFileName(dir), ScratchPrefix))
                {
                    try
                    {
                        // Never follows symlinks: a link inside is removed, not its target.
                        Directory.Delete(dir, recursive: true);
                        removed++;
                    }
                    catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                    {
                    }
                }
            }
        }

        return removed;
    }

    /// <summary>Kills every process left in a stale harness's cgroups and removes them, for each cgroup v1 controller we use; returns groups removed.</summary>
    public static int RemoveCgroups(IReadOnlyList<string> selfCgroupLines, string mountRoot = "/sys/fs/cgroup")
    {
        ArgumentNullException.ThrowIfNull(selfCgroupLines);
        var removed = 0;
        foreach (var controller in new[] { "memory", "pids", "cpuacct" })
        {
            var own = selfCgroupLines.Select(l => l.Split(':', 3)).FirstOrDefault(p => p.Length == 3 && p[1].Split(',').Contains(controller))?[2] ?? "/";
            var parent = Path.Join(Path.Combine(mountRoot, controller), own);
            foreach (var root in SafeEnumerate(parent, CgroupPrefix + "*"))
            {
                if (DeadOwner(Path.GetFileName(root), CgroupPrefix))
                {
                    removed += RemoveGroupTree(root);
                }
            }
        }

        return removed;
    }

    /// <summary>True when the name is prefix + a pid that is not ours and not alive.</summary>
    internal static bool DeadOwner(string name, string prefix)
    {
        if (!name.StartsWith(prefix, StringComparison.Ordinal)
            || !int.TryParse(name.AsSpan(prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
            || pid <= 0 || pid == Environment.ProcessId)
        {
            return false;
        }

        return !Directory.Exists("/proc/" + pid.ToString(CultureInfo.InvariantCulture));
    }

    private static int RemoveGroupTree(string group)
    {
        var removed = 0;
        foreach (var child in SafeEnumerate(group, "*"))
        {
            removed += RemoveGroupTree(child);
        }

        for (var pass = 0; pass < 50; pass++)
        {
            var pids = ReadPids(Path.Combine(group, "cgroup.procs"));
            if (pids.Count == 0)
            {
                try
                {
                    Directory.Delete(group);
                    return removed + 1;
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    // Dying processes still charged: try again shortly.
                }
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

        return removed;
    }

    private static List<int> ReadPids(string procs)
    {
        var pids = new List<int>();
        try
        {
            foreach (var line in File.ReadAllLines(procs))
            {
                if (int.TryParse(line, NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
                {
                    pids.Add(pid);
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }

        return pids;
    }

    private static string[] SafeEnumerate(string dir, string pattern)
    {
        try
        {
            return Directory.Exists(dir) ? Directory.GetDirectories(dir, pattern) : [];
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }
}
