using System.Text.Json;
using Spark.Eval.Pilot;

namespace Spark.Eval.Cli.Tests;

/// <summary>spark-eval pilot analyze / synth end to end: outputs, exit codes, pseudonyms, no prompt text, bad rows.</summary>
public sealed class PilotCommandTests
{
    private static string Sample(string name) => Path.Combine(CliHarness.RepoRoot, "tests", "Eval.Pilot.Tests", "samples", name);

    private static async Task<string> SynthAsync(string dir, string formats)
    {
        var (exit, _, err) = await CliHarness.RunAsync("pilot", "synth", "--out", dir, "--developers", "16", "--days", "40", "--seed", "7", "--effect", "-30", "--formats", formats);
        Assert.True(exit == 0, err);
        return dir;
    }

    [Fact]
    public async Task Analyze_SyntheticPlainEvents_WritesEveryOutputAndFindsThePlantedEffect()
    {
        var dir = await SynthAsync(CliHarness.TempDir(), "csv");
        var output = Path.Combine(dir, "report");
        var thinkTimes = Path.Combine(dir, "think-times.json");
        var (exit, stdout, stderr) = await CliHarness.RunAsync("pilot", "analyze", Path.Combine(dir, "events.csv"), "--out", output, "--json", "--salt", "test-salt", "--think-times", thinkTimes);
        Assert.True(exit == 0, stderr);

        foreach (var name in new[] { "report.html", "report.md", "pilot.json", "effects.csv", "developers.csv", "daily.csv", "tasks.csv", "plots/ttfc_by_cohort.svg", "plots/uses_over_time.png", "plots/adoption.svg", "plots/effect_ttfc_task.svg" })
        {
            Assert.True(File.Exists(Path.Combine(output, name)), name);
        }

        var report = JsonSerializer.Deserialize(stdout, PilotJsonContext.Default.PilotReport)!;
        Assert.Equal(PilotReport.CurrentFormatVersion, report.FormatVersion);
        var ttfc = report.Effects.Single(e => e.Metric == "ttfc_task").Effect!;
        Assert.InRange(-30, ttfc.Lower, ttfc.Upper);
        Assert.True(ttfc.MinimumDetectableEffect > 0);
        Assert.Contains("<svg", File.ReadAllText(Path.Combine(output, "report.html")), StringComparison.Ordinal);

        // Identities are pseudonymised in every output.
        foreach (var file in Directory.EnumerateFiles(output, "*", SearchOption.AllDirectories).Where(f => !f.EndsWith(".png", StringComparison.Ordinal)))
        {
            Assert.DoesNotContain("@corp.example", File.ReadAllText(file), StringComparison.Ordinal);
        }

        Assert.DoesNotContain("@corp.example", stdout, StringComparison.Ordinal);
        Assert.All(report.Developers, r => Assert.Matches("^dev-[0-9a-f]{12}$", r.Developer));

        var export = PilotService.ReadThinkTimes(thinkTimes);
        Assert.Contains(export.Kinds, k => k.Kind == "explain" && k.Samples > 0);
        // Synthetic explain tasks think longest (median 90 s against 30 s for stubs).
        var median = export.Kinds.ToDictionary(k => k.Kind, k => k.Quantiles.Single(q => q.P == 0.5).Seconds);
        Assert.True(median["explain"] > median["stub"], $"explain {median["explain"]} s, stub {median["stub"]} s");
    }

    [Fact]
    public async Task Analyze_SyntheticSources_GivesTheSameTtfcEffectAsThePlainEvents()
    {
        var dir = await SynthAsync(CliHarness.TempDir(), "csv,sources");
        var s = Path.Combine(dir, "sources");
        var (exitPlain, plain, errPlain) = await CliHarness.RunAsync("pilot", "analyze", Path.Combine(dir, "events.csv"), "--out", Path.Combine(dir, "a"), "--json", "--salt", "x");
        Assert.True(exitPlain == 0, errPlain);
        var (exit, sources, err) = await CliHarness.RunAsync("pilot", "analyze", Path.Combine(s, "tasks.csv"), Path.Combine(s, "repo.gitlog"), Path.Combine(s, "claude-code.otlp.jsonl"),
            Path.Combine(s, "codex.otlp.jsonl"), Path.Combine(s, "genai-spans.otlp.jsonl"), Path.Combine(s, "copilot-users.ndjson"), Path.Combine(s, "copilot-metrics.json"),
            "--cohorts", Path.Combine(s, "cohorts.csv"), "--authors", Path.Combine(s, "authors.csv"), "--out", Path.Combine(dir, "b"), "--json", "--salt", "x");
        Assert.True(exit == 0, err);
        var a = JsonSerializer.Deserialize(plain, PilotJsonContext.Default.PilotReport)!;
        var b = JsonSerializer.Deserialize(sources, PilotJsonContext.Default.PilotReport)!;
        // git log keeps whole seconds where the plain events keep milliseconds: equal to well under a second.
        var (ea, eb) = (a.Effects.Single(e => e.Metric == "ttfc_task").Effect!, b.Effects.Single(e => e.Metric == "ttfc_task").Effect!);
        Assert.Equal(ea.Estimate, eb.Estimate, 0.01);
        Assert.Equal(ea.Lower, eb.Lower, 0.01);
        Assert.Equal(ea.Upper, eb.Upper, 0.01);
        Assert.Equal(a.Effects.Single(e => e.Metric == "uses_per_dev_day").Effect!.Estimate, b.Effects.Single(e => e.Metric == "uses_per_dev_day").Effect!.Estimate, 6);
        Assert.Equal(8, b.PilotDevelopers);
        Assert.NotEmpty(b.TeamDays);
    }

    [Fact]
    public async Task Analyze_Samples_NeverStoresPromptTextOrIdentities()
    {
        Assert.Contains("SECRET-PROMPT-TEXT", File.ReadAllText(Sample("claude-code.otlp.jsonl")), StringComparison.Ordinal);
        var output = Path.Combine(CliHarness.TempDir(), "report");
        var (exit, stdout, stderr) = await CliHarness.RunAsync("pilot", "analyze", Sample("plain-events.csv"), Sample("claude-code.otlp.jsonl"), Sample("codex.otlp.jsonl"),
            Sample("genai-spans.otlp.jsonl"), Sample("copilot-users.ndjson"), Sample("copilot-metrics.json"), Sample("repo.gitlog"),
            "--cohorts", Sample("cohorts.csv"), "--authors", Sample("authors.csv"), "--out", output, "--pilot-start", "2026-03-09", "--json");
        Assert.True(exit == 0, stderr);
        foreach (var text in Directory.EnumerateFiles(output, "*", SearchOption.AllDirectories).Where(f => !f.EndsWith(".png", StringComparison.Ordinal)).Select(File.ReadAllText).Append(stdout))
        {
            Assert.DoesNotContain("SECRET-PROMPT-TEXT", text, StringComparison.Ordinal);
            Assert.DoesNotContain("ana@corp.example", text, StringComparison.Ordinal);
            Assert.DoesNotContain("ana-silva", text, StringComparison.Ordinal);
        }

        var report = JsonSerializer.Deserialize(stdout, PilotJsonContext.Default.PilotReport)!;
        Assert.Equal(7, report.Inputs.Count);
        Assert.Equal((1, 1, 0), (report.PilotDevelopers, report.ControlDevelopers, report.UnassignedDevelopers));
        Assert.Contains(report.Effects, e => e.Effect is null && e.Note is not null);
    }

    public static TheoryData<string, int, string, string, string> BadRows => new()
    {
        { "plain-events.csv", 3, "2026-03-02T10:40:00Z", "2026-03-02T25:99:00Z", "timestamp" },
        { "plain-events.jsonl", 7, "2350.0", "\"slow\"", "duration_ms" },
        { "claude-code.otlp.jsonl", 1, "{\"stringValue\":\"2350\"}", "{\"stringValue\":\"fast\"}", "resourceLogs[0].scopeLogs[0].logRecords[1].attributes[duration_ms]" },
        { "codex.otlp.jsonl", 1, "{\"intValue\":\"2500\"}", "{\"stringValue\":\"-\"}", "resourceLogs[0].scopeLogs[0].logRecords[7].attributes[duration_ms]" },
        { "genai-spans.otlp.jsonl", 1, "\"endTimeUnixNano\":\"1773654001200000000\"", "\"endTimeUnixNano\":\"later\"", "resourceSpans[0].scopeSpans[0].spans[4].endTimeUnixNano" },
        { "copilot-users.ndjson", 2, "\"user_login\":\"bo-lind\"", "\"user_login\":7", "user_login" },
        { "copilot-metrics.json", 38, "\"2026-03-17\"", "\"yesterday\"", "[1].date" },
        { "repo.gitlog", 2, "4b2a6c8d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f7", "4b2a6c8", "hash" },
    };

    [Theory]
    [MemberData(nameof(BadRows))]
    public async Task Analyze_BadRowInEachFormat_Exit2NamingFileLineFieldAndWritesNothing(string sample, int line, string find, string replace, string field)
    {
        var dir = CliHarness.TempDir();
        var path = Path.Combine(dir, sample);
        var lines = File.ReadAllLines(Sample(sample));
        Assert.Contains(find, lines[line - 1], StringComparison.Ordinal);
        lines[line - 1] = lines[line - 1].Replace(find, replace, StringComparison.Ordinal);
        File.WriteAllLines(path, lines);
        var output = Path.Combine(dir, "report");
        var thinkTimes = Path.Combine(dir, "think.json");

        var (exit, _, stderr) = await CliHarness.RunAsync("pilot", "analyze", Sample("plain-events.csv"), path, "--authors", Sample("authors.csv"), "--out", output, "--think-times", thinkTimes);

        Assert.Equal(SparkEvalCli.ExitBadInput, exit);
        var expectedLine = sample == "copilot-metrics.json" ? line - 1 : line;
        Assert.Contains($"{path}:{expectedLine}: field '{field}'", stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(output), "nothing is written on bad input");
        Assert.False(File.Exists(thinkTimes));

        // --lenient skips the row, counts it and goes on.
        var (lenientExit, _, lenientErr) = await CliHarness.RunAsync("pilot", "analyze", Sample("plain-events.csv"), path, "--authors", Sample("authors.csv"), "--out", output, "--lenient", "--pilot-start", "2026-03-09");
        Assert.True(lenientExit == 0, lenientErr);
        Assert.Contains("skipped 1 bad rows", lenientErr, StringComparison.Ordinal);
        Assert.Contains("| 1 (first: ", File.ReadAllText(Path.Combine(output, "report.md")), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Analyze_NoPilotCohort_Exit2WithTheFix()
    {
        var output = Path.Combine(CliHarness.TempDir(), "report");
        var (exit, _, stderr) = await CliHarness.RunAsync("pilot", "analyze", CliHarness.RepoRoot, "--out", output);
        Assert.Equal(SparkEvalCli.ExitBadInput, exit);
        Assert.Contains("--pilot-start", stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(output));
    }

    [Fact]
    public async Task Synth_BadOption_Exit2()
    {
        var (exit, _, stderr) = await CliHarness.RunAsync("pilot", "synth", "--out", CliHarness.TempDir(), "--developers", "2");
        Assert.Equal(SparkEvalCli.ExitBadInput, exit);
        Assert.Contains("--developers 2", stderr, StringComparison.Ordinal);
    }
}
