using System.Diagnostics;
using System.Text.RegularExpressions;
using Spark.Eval.Core;

namespace Spark.Eval.Pilot;

/// <summary>
/// Commits per developer from git itself: a repository directory (runs <c>git log</c>, so the repository's .mailmap
/// applies) or a saved <c>.gitlog</c> file written by the same command (docs/pilot.md).
/// </summary>
internal static class GitHistoryReader
{
    /// <summary>The exact <c>git log</c> arguments; a saved .gitlog file is this command's output.</summary>
    public static readonly string[] LogArguments = ["log", "--no-merges", "--date=iso-strict", "--pretty=format:%H%x09%aI%x09%aE%x09%aN%x09%s"];

    public const string DefaultTaskPattern = @"\b[A-Z][A-Z0-9]+-[0-9]+\b";

    public static long ReadFile(string path, PilotAggregator sink, RowErrors errors, Regex taskPattern)
    {
        using var reader = new StreamReader(path);
        return ReadLines(reader, sink, errors, taskPattern);
    }

    public static long ReadRepository(string directory, PilotAggregator sink, RowErrors errors, Regex taskPattern)
    {
        var info = new ProcessStartInfo("git")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add("-C");
        info.ArgumentList.Add(directory);
        foreach (var arg in LogArguments)
        {
            info.ArgumentList.Add(arg);
        }

        Process process;
        try
        {
            process = Process.Start(info) ?? throw new InvalidOperationException("git did not start");
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw InputException.At(directory, null, null, "git could not be run (" + ex.Message + ")", "install git or pass a saved .gitlog file instead");
        }

        using (process)
        {
            var stderrTask = process.StandardError.ReadToEndAsync();
            var rows = ReadLines(process.StandardOutput, sink, errors, taskPattern);
            process.WaitForExit();
            if (process.ExitCode != 0)
            {
                throw InputException.At(directory, null, null, $"git log failed ({stderrTask.Result.Trim()})", "pass a git repository with at least one commit");
            }

            return rows;
        }
    }

    private static long ReadLines(TextReader reader, PilotAggregator sink, RowErrors errors, Regex taskPattern)
    {
        long rows = 0;
        var lineNumber = 0;
        string? line;
        while ((line = reader.ReadLine()) is not null)
        {
            lineNumber++;
            if (line.Length == 0)
            {
                continue;
            }

            rows++;
            var parts = line.Split('\t', 5);
            if (parts.Length < 5)
            {
                errors.Bad(lineNumber, parts.Length switch { 1 => "date", 2 => "email", 3 => "name", _ => "subject" }, $"{parts.Length} tab-separated fields where 5 are needed",
                    $"write the file with: git {string.Join(' ', LogArguments.Select(a => a.Contains(' ', StringComparison.Ordinal) ? $"'{a}'" : a))}");
                continue;
            }

            if (parts[0].Length is not (40 or 64) || !parts[0].All(char.IsAsciiHexDigitLower))
            {
                errors.Bad(lineNumber, "hash", $"'{parts[0]}' is not a full commit hash", "write %H (the full hash) first");
                continue;
            }

            if (!Timestamps.TryParseUnixMs(parts[1], out var timeMs))
            {
                errors.Bad(lineNumber, "date", $"'{parts[1]}' is not an ISO 8601 date", "write %aI (strict ISO author date)");
                continue;
            }

            var email = parts[2].Trim();
            if (email.Length == 0)
            {
                errors.Bad(lineNumber, "email", "empty author e-mail", "write %aE; map e-mails to developers with --authors");
                continue;
            }

            var dev = sink.Developer(email);
            var first = true;
            foreach (Match match in taskPattern.Matches(parts[4]))
            {
                sink.Add(dev, timeMs, PilotEventKind.Commit, sink.Task(match.Value), 0, first ? 1 : 0);
                first = false;
            }

            if (first)
            {
                sink.Add(dev, timeMs, PilotEventKind.Commit);
            }
        }

        return rows;
    }
}
