using System.Diagnostics;
using Spark.Eval.Core;

namespace Spark.Eval.Pilot.Tests;

/// <summary>Each supported format parses from its committed sample; a bad row names file, line and field.</summary>
public sealed class PilotFormatTests
{
    [Fact]
    public void PlainCsv_Sample_ParsesEveryRowWithTasksAndCounts()
    {
        var sink = Samples.Read(Samples.Path("plain-events.csv"), out var summary);
        Assert.Equal(("plain-csv", 15L, 0L), (summary.Format, summary.Rows, summary.Skipped));
        // The quoted "bo@corp.example" is the same developer as the unquoted one.
        Assert.Equal(2, sink.Developers.Count);
        var ana = Samples.Totals(sink, "ana@corp.example");
        Assert.Equal((2, 2, 12, 4, 2), (ana.Prompts, ana.Uses, ana.Shown, ana.Accepted, ana.Commits));
        Assert.Equal(4250, ana.WaitMs);
        var pay140 = sink.Tasks[(0L << 32) | (uint)sink.Task("PAY-140")];
        Assert.Equal(60, (pay140.FirstCommitMs - pay140.StartMs) / 60_000);
        Assert.Equal(Cohort.Pilot, sink.Developers[0].CohortFromEvents);
    }

    [Fact]
    public void PlainJsonLines_Sample_GivesTheSameCountsAsTheCsv()
    {
        var csv = Samples.Read("plain-events.csv");
        var jsonl = Samples.Read(Samples.Path("plain-events.jsonl"), out var summary);
        Assert.Equal("plain-jsonl", summary.Format);
        foreach (var dev in new[] { "ana@corp.example", "bo@corp.example" })
        {
            Assert.Equal(Samples.Totals(csv, dev), Samples.Totals(jsonl, dev));
        }
    }

    [Fact]
    public void ClaudeCodeOtlp_Sample_ReadsEventsAndMetrics()
    {
        var sink = Samples.Read(Samples.Path("claude-code.otlp.jsonl"), out var summary);
        Assert.Equal("otlp-json", summary.Format);
        var ana = Samples.Totals(sink, "ana@corp.example");
        Assert.Equal(2, ana.Prompts);
        Assert.Equal(4250, ana.WaitMs);
        // Two tool_decision events (1 accept) + the code_edit_tool.decision metric (3 accept, 1 reject).
        Assert.Equal((6, 4), (ana.Shown, ana.Accepted));
        Assert.Equal(1, ana.Commits);
        // api_request is stamped at completion: the request began duration_ms earlier, at 09:07:00.200.
        Assert.Contains(sink.Developers[0].ApiEndsMs, end => end == DateTimeOffset.Parse("2026-03-16T09:07:02.550Z", System.Globalization.CultureInfo.InvariantCulture).ToUnixTimeMilliseconds());
    }

    [Fact]
    public void CodexOtlp_Sample_ReadsPromptsRequestsAndDecisions()
    {
        var sink = Samples.Read("codex.otlp.jsonl");
        var bo = Samples.Totals(sink, "bo@corp.example");
        Assert.Equal((2, 6600.0, 2, 1), (bo.Prompts, bo.WaitMs, bo.Shown, bo.Accepted));
        // 9 records; the approved decision is also an acceptance event.
        Assert.Equal(10, bo.Events);
    }

    [Fact]
    public void GenAiSpans_Sample_CountsRootOperationsOnly()
    {
        var sink = Samples.Read("genai-spans.otlp.jsonl", Samples.Authors);
        // invoke_agent (its nested chat and tool spans are part of it) and one stand-alone chat; the HTTP span is not GenAI.
        var ana = Samples.Totals(sink, "ana@corp.example");
        Assert.Equal((2, 7700.0), (ana.Prompts, ana.WaitMs));
        Assert.Contains(sink.Developers[0].Prompts, p => p.Task == sink.Task("PAY-140"));
    }

    [Fact]
    public void CopilotUserReport_Sample_MapsLoginsAndCounts()
    {
        var sink = Samples.Read(Samples.Path("copilot-users.ndjson"), out var summary, Samples.Authors);
        Assert.Equal(("copilot-users", 2L), (summary.Format, summary.Rows));
        var ana = Samples.Totals(sink, "ana@corp.example");
        Assert.Equal((3, 12, 4), (ana.Uses, ana.Shown, ana.Accepted));
    }

    [Fact]
    public void CopilotOrgMetrics_Sample_SumsTheNestedBreakdowns()
    {
        var sink = Samples.Read(Samples.Path("copilot-metrics.json"), out var summary);
        Assert.Equal("copilot-metrics", summary.Format);
        Assert.Equal(
            [new TeamDay(new DateOnly(2026, 3, 16), "copilot-metrics", 24, 20, 745, 376, 45), new TeamDay(new DateOnly(2026, 3, 17), "copilot-metrics", 22, 19, 300, 90, 0)],
            sink.TeamDays);
    }

    [Fact]
    public void GitLog_Sample_ReadsCommitsTasksOffsetsAndAuthorMapping()
    {
        var sink = Samples.Read("repo.gitlog", Samples.Authors);
        Assert.Equal(2, sink.Developers.Count);
        Assert.Equal(2, Samples.Totals(sink, "bo@corp.example").Commits);
        var pay101 = sink.Tasks[(0L << 32) | (uint)sink.Task("PAY-101")];
        // 10:40+01:00 is 09:40 UTC.
        Assert.Equal(DateTimeOffset.Parse("2026-03-02T09:40:00Z", System.Globalization.CultureInfo.InvariantCulture).ToUnixTimeMilliseconds(), pay101.FirstCommitMs);
    }

    [Fact]
    public void GitRepository_ThisProjectsHistory_EveryNonMergeCommitIsRead()
    {
        var expected = long.Parse(Git("rev-list", "--no-merges", "--count", "HEAD"), System.Globalization.CultureInfo.InvariantCulture);
        var sink = Samples.Read(Samples.RepoRoot, out var summary);
        Assert.Equal("git", summary.Format);
        Assert.Equal(expected, summary.Rows);
        Assert.Equal(expected, sink.Developers.Sum(d => d.Days.Values.Sum(c => c.Commits)));
        var authors = Git("log", "--no-merges", "--format=%aE").Split('\n', StringSplitOptions.RemoveEmptyEntries).Distinct(StringComparer.OrdinalIgnoreCase).Count();
        Assert.Equal(authors, sink.Developers.Count);
    }

    [Fact]
    public void SavedGitLog_OfThisProject_MatchesReadingTheRepository()
    {
        var path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"spark-eval-{Guid.NewGuid():N}.gitlog");
        File.WriteAllText(path, Git([.. GitHistoryReader.LogArguments]));
        var fromFile = Samples.Read(path, out var fileSummary);
        var fromRepo = Samples.Read(Samples.RepoRoot, out var repoSummary);
        Assert.Equal(repoSummary.Rows, fileSummary.Rows);
        Assert.Equal(fromRepo.MinTimeMs, fromFile.MinTimeMs);
        Assert.Equal(fromRepo.MaxTimeMs, fromFile.MaxTimeMs);
    }

    public static TheoryData<string, int, string, string, string> BadRows => new()
    {
        { "plain-events.csv", 3, "2026-03-02T10:40:00Z", "2026-03-02T25:99:00Z", "timestamp" },
        { "plain-events.csv", 4, "task_start", "task_begin", "event" },
        { "plain-events.jsonl", 7, "2350.0", "\"slow\"", "duration_ms" },
        { "claude-code.otlp.jsonl", 1, "{\"stringValue\":\"2350\"}", "{\"stringValue\":\"fast\"}", "resourceLogs[0].scopeLogs[0].logRecords[1].attributes[duration_ms]" },
        { "codex.otlp.jsonl", 1, "{\"intValue\":\"4100\"}", "{\"stringValue\":\"soon\"}", "resourceLogs[0].scopeLogs[0].logRecords[2].attributes[duration_ms]" },
        { "genai-spans.otlp.jsonl", 1, "\"endTimeUnixNano\":\"1773654001200000000\"", "\"endTimeUnixNano\":\"later\"", "resourceSpans[0].scopeSpans[0].spans[4].endTimeUnixNano" },
        { "copilot-users.ndjson", 2, "\"day\":\"2026-03-16\"", "\"day\":\"16/03/2026\"", "day" },
        { "copilot-metrics.json", 38, "\"2026-03-17\"", "\"yesterday\"", "[1].date" },
        { "repo.gitlog", 2, "2026-03-16T11:50:00+00:00", "yesterday", "date" },
    };

    [Theory]
    [MemberData(nameof(BadRows))]
    public void BadRow_EachFormat_NamesFileLineAndField(string sample, int line, string find, string replace, string field)
    {
        var path = Samples.Corrupt(sample, line, find, replace);
        var ex = Assert.Throws<InputException>(() => Samples.Read(path, out _));
        // A bad element of a JSON array is named by the line where the element starts.
        var expectedLine = sample == "copilot-metrics.json" ? line - 1 : line;
        Assert.StartsWith($"{path}:{expectedLine}: field '{field}'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Fix:", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(BadRows))]
    public void BadRow_Lenient_IsSkippedAndCounted(string sample, int line, string find, string replace, string field)
    {
        var path = Samples.Corrupt(sample, line, find, replace);
        Samples.Read(path, out var summary, lenient: true);
        Assert.Equal(1, summary.Skipped);
        Assert.Contains(field, summary.FirstSkipped, StringComparison.Ordinal);
    }

    [Fact]
    public void CohortMap_UnknownCohort_NamesLineAndField()
    {
        var path = Samples.Corrupt("cohorts.csv", 3, "control", "maybe");
        var ex = Assert.Throws<InputException>(() => CohortMap.Load(path));
        Assert.StartsWith($"{path}:3: field 'cohort'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Timestamps_FastPathAgreesWithTheFramework()
    {
        foreach (var text in new[] { "2026-03-02T09:10:00Z", "2026-03-02T09:10:00.5Z", "2026-03-02T09:10:00.123456789Z", "2026-03-02T10:40:00+01:00", "2026-03-02 09:10:00", "1999-12-31T23:59:59-05:30" })
        {
            Assert.True(Timestamps.TryParseUnixMs(text, out var fast));
            var framework = DateTimeOffset.Parse(text, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal).ToUnixTimeMilliseconds();
            Assert.Equal(framework, fast);
        }

        Assert.False(Timestamps.TryParseUnixMs("2026-02-30T09:10:00Z", out _));
    }

    private static string Git(params string[] args)
    {
        var info = new ProcessStartInfo("git") { RedirectStandardOutput = true, UseShellExecute = false, WorkingDirectory = Samples.RepoRoot };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        Assert.Equal(0, process.ExitCode);
        return output.Trim();
    }
}
