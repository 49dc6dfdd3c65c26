using System.Text.RegularExpressions;

namespace Spark.Eval.Cli.Tests;

/// <summary>Every command's --help, found by walking the tree from the root's "Commands:" lists: defaults printed once, exit codes always shown.</summary>
public partial class HelpTextTests
{
    [Fact]
    public async Task EveryHelp_PrintsEachDefaultOnceAndTheExitCodes()
    {
        var pending = new Queue<string[]>([[]]);
        var seen = 0;
        var problems = new List<string>();
        while (pending.Count > 0 && seen < 200)
        {
            var path = pending.Dequeue();
            seen++;
            var (exit, stdout, stderr) = await CliHarness.RunAsync([.. path, "--help"]);
            var name = "spark-eval " + string.Join(' ', path);
            Assert.True(exit == 0, $"{name} --help exited {exit}: {stderr}");
            if (!stdout.Contains("Exit codes: 0 ok", StringComparison.Ordinal))
            {
                problems.Add($"{name}: no exit codes in --help");
            }

            foreach (var entry in Entries(stdout, "Options:"))
            {
                var bracket = entry.IndexOf("[default:", StringComparison.Ordinal);
                if (bracket >= 0 && DefaultWord().IsMatch(entry[..bracket]))
                {
                    problems.Add($"{name}: default printed twice: {entry}");
                }
            }

            foreach (var entry in Entries(stdout, "Commands:"))
            {
                pending.Enqueue([.. path, entry.Split(' ', 2)[0]]);
            }
        }

        Assert.True(seen > 10, $"only {seen} commands found; the walk of 'Commands:' sections is broken");
        Assert.True(problems.Count == 0, string.Join('\n', problems));
    }

    [Fact]
    public async Task SimulateProfiles_SaysWhereTheCommittedCpuLocalProfilesWereMeasured()
    {
        var (exit, stdout, stderr) = await CliHarness.RunAsync("simulate", "profiles");
        Assert.True(exit == 0, stderr);
        var cpuLocal = stdout.Split('\n').Where(l => l.TrimStart().StartsWith("cpu-local", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(cpuLocal);
        Assert.All(cpuLocal, l => Assert.Contains("where spark-eval calibrate ran", l, StringComparison.Ordinal));
        Assert.All(cpuLocal, l => Assert.Contains("not necessarily this one", l, StringComparison.Ordinal));
        Assert.DoesNotContain("This machine's CPU", stdout, StringComparison.Ordinal);
    }

    /// <summary>The entries of one help section, each with its wrapped continuation lines joined.</summary>
    private static List<string> Entries(string help, string section)
    {
        var entries = new List<string>();
        var inside = false;
        foreach (var raw in help.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (!inside)
            {
                inside = line == section;
                continue;
            }

            if (line.Trim().Length == 0)
            {
                break;
            }

            if (line.Length > 2 && line.StartsWith("  ", StringComparison.Ordinal) && line[2] != ' ')
            {
                entries.Add(line.Trim());
            }
            else if (entries.Count > 0)
            {
                entries[^1] += " " + line.Trim();
            }
        }

        return entries;
    }

    [GeneratedRegex(@"\bdefault\b", RegexOptions.IgnoreCase)]
    private static partial Regex DefaultWord();
}
