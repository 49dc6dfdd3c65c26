using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Spark.Eval.Core;
using Spark.Eval.Core.Results;
using Spark.Eval.Reporting;
using Spectre.Console;

namespace Spark.Eval.Cli;

/// <summary><c>spark-eval compare &lt;baseline&gt; &lt;candidate&gt;</c>: the regression gate between two runs.</summary>
public static class CompareCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var baselineArg = new Argument<string>("baseline") { Description = "The baseline run directory (e.g. last night's run)." };
        var candidateArg = new Argument<string?>("candidate") { Description = "The candidate run directory (optional with --plan-power).", Arity = ArgumentArity.ZeroOrOne };
        var backend = new Option<string[]>("--backend")
        {
            Description = "Pair backends with different names: BASELINE=CANDIDATE (repeatable). Default: by equal name, or the only backend of each run.",
            AllowMultipleArgumentsPerToken = true,
        };
        var tolerance = new Option<string?>("--tolerance")
        {
            Description = "Allowed worsening per metric before a significant change counts as a regression, e.g. 'ttft_p50_ms=15%,pass_rate=0.02'. Defaults: latency medians 10 %, pass_rate and flow_in_flow_ratio 0.05, error_rate 0.02.",
        };
        var json = new Option<bool>("--json") { Description = "Print the comparison as one JSON object." };
        var output = new Option<string?>("--out") { Description = "Also write the comparison as Markdown to this file." };
        var junit = new Option<string?>("--junit") { Description = "Also write the gate as JUnit XML here (one test case per backend × metric); a Markdown summary goes to $GITHUB_STEP_SUMMARY when set." };
        var planPower = new Option<string?>("--plan-power") { Description = "Recommend repeats (and tolerances) so these worsenings are flagged with 80 % power, from the baseline's spread, e.g. 'ttft_p50_ms=10%,pass_rate=5pts'." };
        var alsoBaseline = new Option<string[]>("--also-baseline") { Description = "More runs of the baseline's configuration (repeatable): pooled into one baseline, with a per-metric estimate and interval across runs." };
        var command = new Command("compare",
            "Compare a candidate run with a baseline: per backend, latency medians (bootstrap interval of the ratio), pass rate, error rate and in-flow ratio (Newcombe interval of the difference). Exits 1 when a metric regressed: worse than its tolerance and significant at 95 %.")
        {
            baselineArg, candidateArg, backend, tolerance, json, output, junit, planPower, alsoBaseline,
        };
        command.SetAction(parse =>
        {
            var map = ParseMap(parse.GetValue(backend) ?? []);
            var tolerances = ParseTolerances(parse.GetValue(tolerance));
            GateReport.CheckWritable(parse.GetValue(junit), "--junit");
            GateReport.CheckWritable(parse.GetValue(output), "--out");
            var baseline = NightlyOutput.LoadBaseline(parse.GetValue(baselineArg)!, parse.GetValue(alsoBaseline) ?? [], stdout);
            if (parse.GetValue(planPower) is { } targets)
            {
                NightlyOutput.WritePlan(stdout, PowerAnalysis.Plan(baseline, PowerAnalysis.ParseTargets(targets)));
                if (parse.GetValue(candidateArg) is null)
                {
                    return SparkEvalCli.ExitOk;
                }
            }

            var candidate = new RunDirectory(parse.GetValue(candidateArg)
                ?? throw new InputException("compare: no candidate run. Fix: pass compare <baseline> <candidate>, or --plan-power to plan from the baseline alone")).Load();
            var result = RunComparison.Compare(baseline, candidate, map, tolerances);
            if (parse.GetValue(json))
            {
                stdout.WriteLine(ToJson(result).ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            }
            else
            {
                WriteTable(stdout, result);
            }

            if (parse.GetValue(output) is { } path)
            {
                RunDirectory.WriteAtomic(path, Encoding.UTF8.GetBytes(ToMarkdown(result)));
                stderr.WriteLine($"wrote {path}");
            }

            if (result.Regressed)
            {
                stderr.WriteLine("REGRESSION: " + string.Join("; ", result.Rows.Where(r => r.Verdict == RunComparison.Regressed).Select(r => $"{r.Backend} {r.Metric} {RunComparison.FormatChange(r)}")));
            }

            GateReport.FromComparison(result, TimeProvider.System.GetUtcNow())
                .Publish(parse.GetValue(junit), Environment.GetEnvironmentVariable(StepSummary.GitHubVariable), stderr);
            return result.Regressed ? SparkEvalCli.ExitThresholdFailed : SparkEvalCli.ExitOk;
        });
        return command;
    }

    internal static Dictionary<string, string> ParseMap(IEnumerable<string> pairs)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in pairs)
        {
            var at = pair.IndexOf('=', StringComparison.Ordinal);
            if (at <= 0 || at == pair.Length - 1)
            {
                throw new InputException($"--backend '{pair}': expected BASELINE=CANDIDATE. Fix: write e.g. --backend sim-h100=sim-h200");
            }

            map[pair[..at]] = pair[(at + 1)..];
        }

        return map;
    }

    internal static Dictionary<string, double> ParseTolerances(string? text)
    {
        var result = new Dictionary<string, double>(StringComparer.Ordinal);
        if (string.IsNullOrWhiteSpace(text))
        {
            return result;
        }

        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var at = part.IndexOf('=', StringComparison.Ordinal);
            var name = at > 0 ? part[..at] : part;
            if (!RunComparison.DefaultTolerances.ContainsKey(name))
            {
                throw new InputException($"--tolerance '{part}': unknown metric '{name}'. Fix: use one of {string.Join(", ", RunComparison.DefaultTolerances.Keys)}");
            }

            var raw = at > 0 ? part[(at + 1)..] : "";
            var percent = raw.EndsWith('%');
            if (!double.TryParse(percent ? raw[..^1] : raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || value < 0)
            {
                throw new InputException($"--tolerance '{part}': '{raw}' is not a non-negative number. Fix: write e.g. ttft_p50_ms=15% or pass_rate=0.02");
            }

            result[name] = percent ? value / 100 : value;
        }

        return result;
    }

    private static void WriteTable(TextWriter writer, RunComparisonResult result)
    {
        var console = SummaryTable.TableConsole(writer, 180);
        writer.WriteLine($"baseline {result.BaselineRun}  →  candidate {result.CandidateRun}");
        var table = new Table().Border(TableBorder.Simple)
            .AddColumn("backend").AddColumn("metric")
            .AddColumn(new TableColumn("baseline").RightAligned()).AddColumn(new TableColumn("candidate").RightAligned())
            .AddColumn(new TableColumn("change").RightAligned()).AddColumn(new TableColumn("95 % interval").RightAligned())
            .AddColumn(new TableColumn("detectable").RightAligned()).AddColumn("verdict");
        foreach (var row in result.Rows)
        {
            string[] cells =
            [
                row.Backend, row.Metric, Value(row, row.Baseline), Value(row, row.Candidate),
                RunComparison.FormatChange(row), RunComparison.FormatInterval(row), RunComparison.FormatDetectable(row), row.Verdict == RunComparison.Regressed ? "REGRESSED" : row.Verdict,
            ];
            table.AddRow([.. cells.Select(Markup.Escape)]);
        }

        console.Write(table);
        foreach (var note in result.Notes)
        {
            writer.WriteLine($"note: {note}");
        }

        writer.WriteLine("Latency: ratio of medians with a seeded percentile-bootstrap interval; proportions: difference with Newcombe's interval (docs/metrics.md).");
        writer.WriteLine("detectable: the smallest worsening these sample sizes flag with 80 % power at the tolerance (plan repeats with --plan-power; docs/reports.md).");
    }

    private static string Value(MetricComparison row, double? value) => value is not { } v ? "–"
        : row.ChangeKind == "ratio" ? ReportTables.F(v) : ReportTables.Percent(v);

    private static string ToMarkdown(RunComparisonResult result)
    {
        var md = new StringBuilder();
        md.Append(CultureInfo.InvariantCulture, $"# Comparison: {result.BaselineRun} → {result.CandidateRun}\n\n");
        md.Append("| backend | metric | baseline | candidate | change | 95 % interval | detectable | verdict |\n|---|---|---|---|---|---|---|---|\n");
        foreach (var row in result.Rows)
        {
            md.Append(CultureInfo.InvariantCulture, $"| {row.Backend} | {row.Metric} | {Value(row, row.Baseline)} | {Value(row, row.Candidate)} | {RunComparison.FormatChange(row)} | {RunComparison.FormatInterval(row)} | {RunComparison.FormatDetectable(row)} | {(row.Verdict == RunComparison.Regressed ? "**REGRESSED**" : row.Verdict)} |\n");
        }

        foreach (var note in result.Notes)
        {
            md.Append(CultureInfo.InvariantCulture, $"\n- {note}");
        }

        return md.Append('\n').ToString();
    }

    private static JsonObject ToJson(RunComparisonResult result)
    {
        var rows = new JsonArray();
        foreach (var r in result.Rows)
        {
            rows.Add(new JsonObject
            {
                ["backend"] = r.Backend, ["metric"] = r.Metric, ["baseline"] = r.Baseline, ["candidate"] = r.Candidate,
                ["change"] = r.Change, ["changeKind"] = r.ChangeKind, ["ciLow"] = r.CiLow, ["ciHigh"] = r.CiHigh,
                ["verdict"] = r.Verdict, ["method"] = r.Method, ["minimumDetectable"] = r.MinimumDetectable,
            });
        }

        return new JsonObject
        {
            ["baselineRun"] = result.BaselineRun,
            ["candidateRun"] = result.CandidateRun,
            ["regressed"] = result.Regressed,
            ["rows"] = rows,
            ["notes"] = new JsonArray([.. result.Notes.Select(n => (JsonNode?)JsonValue.Create(n))]),
        };
    }
}
