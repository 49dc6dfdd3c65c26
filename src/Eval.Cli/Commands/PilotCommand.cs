using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Spark.Eval.Core;
using Spark.Eval.Pilot;

namespace Spark.Eval.Cli.Commands;

/// <summary><c>spark-eval pilot analyze|synth</c>: pilot telemetry → effects with intervals; synthetic telemetry with a planted effect.</summary>
public static class PilotCommand
{
    public const string SaltVariable = "SPARK_EVAL_PILOT_SALT";

    public static Command Create(TextWriter stdout, TextWriter stderr) =>
        new("pilot", "Pilot telemetry: did developers get faster? (docs/pilot.md)") { Analyze(stdout, stderr), Synth(stdout, stderr) };

    private static Command Analyze(TextWriter stdout, TextWriter stderr)
    {
        var files = new Argument<string[]>("files") { Description = "Telemetry: .csv/.jsonl plain events, OTLP JSON (.jsonl/.json), Copilot .ndjson/.json, .gitlog files or git repository directories.", Arity = ArgumentArity.OneOrMore };
        var cohorts = new Option<string?>("--cohorts") { Description = "CSV 'developer,cohort' (pilot|control); wins over cohort columns in events." };
        var authors = new Option<string?>("--authors") { Description = "CSV 'identity,developer' mapping e-mails, logins and account ids to one developer." };
        var output = new Option<string>("--out") { Description = "Report directory.", DefaultValueFactory = _ => "pilot-report" };
        var json = new Option<bool>("--json") { Description = "Print the report as JSON on stdout." };
        var lenient = new Option<bool>("--lenient") { Description = "Skip bad rows and count them instead of failing (exit 2)." };
        var thinkTimes = new Option<string?>("--think-times") { Description = "Also write think-time distributions per task kind to this JSON file (docs/formats.md)." };
        var pilotStart = new Option<string?>("--pilot-start") { Description = "First pilot day, yyyy-MM-dd (default: the first assistant use by a pilot developer)." };
        var salt = new Option<string?>("--salt") { Description = $"Pseudonym salt (default: ${SaltVariable}, else random per run)." };
        var seed = new Option<int>("--seed") { Description = "Bootstrap seed.", DefaultValueFactory = _ => 1 };
        var bootstrap = new Option<int>("--bootstrap") { Description = "Cluster-bootstrap resamples.", DefaultValueFactory = _ => DifferenceInDifferences.DefaultBootstrap };
        var taskPattern = new Option<string>("--task-pattern") { Description = "Regex for task keys in commit subjects.", DefaultValueFactory = _ => new PilotReadOptions().TaskPattern };
        var command = new Command("analyze", "Read pilot telemetry and write a report: effects by difference-in-differences with 95 % cluster-bootstrap intervals and minimum detectable effects.")
        {
            files, cohorts, authors, output, json, lenient, thinkTimes, pilotStart, salt, seed, bootstrap, taskPattern,
        };
        command.SetAction(parse =>
        {
            DateOnly? start = null;
            if (parse.GetValue(pilotStart) is { } text)
            {
                start = DateOnly.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var d)
                    ? d : throw new InputException($"--pilot-start '{text}': not a date. Fix: write yyyy-MM-dd, e.g. 2026-03-02.");
            }

            var result = PilotService.Analyze(new PilotAnalyzeRequest
            {
                Inputs = parse.GetValue(files)!,
                CohortsPath = parse.GetValue(cohorts),
                AuthorsPath = parse.GetValue(authors),
                Read = new PilotReadOptions { Lenient = parse.GetValue(lenient), TaskPattern = parse.GetValue(taskPattern)! },
                Analysis = new PilotAnalysisOptions
                {
                    PilotStart = start,
                    Bootstrap = parse.GetValue(bootstrap),
                    Seed = parse.GetValue(seed),
                    Salt = Salt(parse.GetValue(salt)),
                },
                ThinkTimes = parse.GetValue(thinkTimes) is not null,
            });
            var directory = parse.GetValue(output)!;
            PilotReportWriter.Write(result.Report, directory);
            if (result.ThinkTimes is not null)
            {
                PilotService.WriteThinkTimes(result.ThinkTimes, parse.GetValue(thinkTimes)!);
            }

            if (parse.GetValue(json))
            {
                stdout.WriteLine(JsonSerializer.Serialize(result.Report, PilotJsonContext.Default.PilotReport));
            }
            else
            {
                WriteSummary(stdout, result.Report);
            }

            var skipped = result.Report.Inputs.Sum(i => i.Skipped);
            stderr.WriteLine($"wrote report.html, report.md, pilot.json, effects.csv, developers.csv, daily.csv, tasks.csv and plots/ in {directory}"
                + (skipped > 0 ? $"; skipped {skipped} bad rows (--lenient; counts per file in the report)" : ""));
            return SparkEvalCli.ExitOk;
        });
        return command;
    }

    private static string Salt(string? option)
    {
        if (!string.IsNullOrEmpty(option))
        {
            return option;
        }

        var environment = Environment.GetEnvironmentVariable(SaltVariable);
        return string.IsNullOrEmpty(environment) ? Pseudonymizer.RandomSalt() : environment;
    }

    private static void WriteSummary(TextWriter stdout, PilotReport report)
    {
        stdout.WriteLine($"pilot from {report.PilotStart:yyyy-MM-dd}: {report.PilotDevelopers} pilot, {report.ControlDevelopers} control developers, {report.Events:N0} events");
        stdout.WriteLine($"{"metric",-48} {"DiD",10} {"95% CI",24} {"MDE",9}");
        foreach (var e in report.Effects)
        {
            var x = e.Effect;
            var ci = x is null ? "n/a" : string.Create(CultureInfo.InvariantCulture, $"[{x.Lower:F2}, {x.Upper:F2}]");
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{e.Title + " (" + e.Unit + ")",-48} {(x is null ? "n/a" : x.Estimate.ToString("F2", CultureInfo.InvariantCulture)),10} {ci,24} {(x is null ? "" : x.MinimumDetectableEffect.ToString("F2", CultureInfo.InvariantCulture)),9}{(x?.Significant == true ? "  *" : "")}"));
        }
    }

    private static Command Synth(TextWriter stdout, TextWriter stderr)
    {
        var output = new Option<string>("--out") { Description = "Directory for the telemetry.", DefaultValueFactory = _ => "pilot-synth" };
        var developers = new Option<int>("--developers") { Description = "Developers (half pilot, half control).", DefaultValueFactory = _ => 20 };
        var days = new Option<int>("--days") { Description = "Calendar days; the pilot starts at the middle day.", DefaultValueFactory = _ => 60 };
        var seed = new Option<int>("--seed") { Description = "Generator seed.", DefaultValueFactory = _ => 1 };
        var effect = new Option<double>("--effect") { Description = "Planted DiD on time-to-first-commit per task, minutes.", DefaultValueFactory = _ => -30 };
        var heartbeat = new Option<double>("--heartbeat-minutes") { Description = "Editor activity heartbeat interval (0: none); for benchmark volume.", DefaultValueFactory = _ => 0 };
        var formats = new Option<string>("--formats") { Description = "Comma-separated: csv, jsonl, sources.", DefaultValueFactory = _ => "csv,jsonl,sources" };
        var command = new Command("synth", "Write realistic synthetic pilot telemetry, in every supported format, with a planted effect.")
        {
            output, developers, days, seed, effect, heartbeat, formats,
        };
        command.SetAction(parse =>
        {
            var options = new PilotSynthOptions
            {
                Developers = parse.GetValue(developers),
                Days = parse.GetValue(days),
                Seed = parse.GetValue(seed),
                EffectMinutes = parse.GetValue(effect),
                HeartbeatMinutes = parse.GetValue(heartbeat),
            };
            var chosen = parse.GetValue(formats)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var result = PilotSynth.Write(options, parse.GetValue(output)!, chosen);
            foreach (var file in result.Files)
            {
                stdout.WriteLine(file);
            }

            stderr.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"wrote {result.Events:N0} events for {options.Developers} developers over {options.Days} days; pilot starts {result.PilotStart:yyyy-MM-dd}; planted time-to-first-commit effect {options.EffectMinutes} min"));
            return SparkEvalCli.ExitOk;
        });
        return command;
    }
}
