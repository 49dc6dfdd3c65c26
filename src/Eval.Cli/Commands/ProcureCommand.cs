using System.CommandLine;
using System.Globalization;
using Spark.Eval.Core;
using Spark.Eval.Pilot;
using Spark.Eval.Reporting.Procurement;
using Spark.Eval.Simulator.Procurement;
using Spark.Eval.Simulator.Profiles;
using Spark.Eval.Simulator.Validation;

namespace Spark.Eval.Cli.Commands;

/// <summary><c>spark-eval procure &lt;plan&gt;</c>: which hardware and model to buy for N developers, ranked, with a verdict and an HTML report.</summary>
public static class ProcureCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var plan = new Argument<string>("plan") { Description = "A procurement plan (JSON, formatVersion 1), e.g. hw-profiles/procure-example.json." };
        var output = new Option<string>("--out", "-o") { Description = "Folder for procurement.html, .md, .csv and .json.", DefaultValueFactory = _ => "results/procurement" };
        var price = new Option<string[]>("--price") { Description = "Override a device-hour price: hw=USD/h (repeatable or comma list).", AllowMultipleArgumentsPerToken = true };
        var json = new Option<bool>("--json") { Description = "Print the report as JSON on stdout." };
        var profiles = new Option<string?>("--profiles") { Description = "Folder with hardware.json and models.json (default: hw-profiles/ above the working directory, else the embedded copies)." };
        var pilot = new Option<string?>("--pilot") { Description = "A pilot.json from 'spark-eval pilot analyze': the demand becomes the pilot cohort's measured interactive uses per developer-day during the pilot ÷ --hours-per-day." };
        var thinkTimes = new Option<string?>("--think-times") { Description = "A think-time export from 'pilot analyze --think-times': the think time becomes its measured mean (all task kinds)." };
        var hoursPerDay = new Option<double>("--hours-per-day") { Description = "With --pilot: working hours in an active developer-day (an assumption).", DefaultValueFactory = _ => 8 };
        var command = new Command("procure", "Rank hardware × model candidates for N developers under SLOs: devices, cost per developer-month, pass rate, share in flow (SIMULATED latency).") { plan, output, price, json, profiles, pilot, thinkTimes, hoursPerDay };
        command.SetAction(parse =>
        {
            var profilesDir = parse.GetValue(profiles);
            var catalog = ProfileCatalog.Load(profilesDir);
            var loaded = ProcurementPlanner.Load(parse.GetValue(plan)!);
            var overrides = ProcurementPlanner.ParsePriceOverrides(parse.GetValue(price) ?? []);
            MeasuredDemand(loaded.Demand, parse.GetValue(pilot), parse.GetValue(thinkTimes), parse.GetValue(hoursPerDay));
            // The validation page's rows through the same profiles: each candidate's family error on unseen data.
            var validation = ErrorBands.RunKnown(catalog, ValidationRunner.LoadBesideProfiles(null, profilesDir));
            var report = ProcurementPlanner.Evaluate(catalog, loaded, overrides, validation);
            var files = ProcurementReportWriter.WriteAll(report, parse.GetValue(output)!);
            if (parse.GetValue(json))
            {
                stdout.Write(ProcurementReportWriter.RenderJson(report));
            }
            else
            {
                stdout.Write(ProcurementReportWriter.RenderMarkdown(report));
            }

            stderr.WriteLine(string.Create(CultureInfo.InvariantCulture, $"wrote {string.Join(", ", files)}"));
            return SparkEvalCli.ExitOk;
        });
        return command;
    }

    /// <summary>Replaces the plan's assumed demand with a pilot's measured one (docs/simulator.md, "Demand from a pilot").</summary>
    internal static void MeasuredDemand(DeveloperDemand demand, string? pilotPath, string? thinkTimesPath, double hoursPerDay)
    {
        var c = CultureInfo.InvariantCulture;
        var sources = new List<string>();
        if (pilotPath is not null)
        {
            if (hoursPerDay is not (> 0 and <= 24))
            {
                throw new InputException($"--hours-per-day {hoursPerDay.ToString(c)}: must be in (0, 24]. Fix: give the working hours of an active developer-day, e.g. 8");
            }

            var (usesPerDay, developers) = PilotService.PilotDemand(PilotService.ReadReport(pilotPath), pilotPath);
            demand.InteractionsPerDeveloperHour = usesPerDay / hoursPerDay;
            sources.Add(string.Create(c, $"{usesPerDay:F2} interactive uses per developer-day measured in {pilotPath} (pilot cohort during the pilot, mean of {developers} developers) ÷ {hoursPerDay:G3} working h per day (an assumption)"));
        }

        if (thinkTimesPath is not null)
        {
            var all = PilotService.ReadThinkTimes(thinkTimesPath).Kinds.FirstOrDefault(k => k.Kind == "all" && k.Samples > 0)
                ?? throw InputException.At(thinkTimesPath, null, "kinds[all]", "has no think-time samples", "analyze telemetry with prompts and assistant requests ('pilot analyze --think-times')");
            demand.ThinkTimeSeconds = all.MeanSeconds;
            sources.Add(string.Create(c, $"think time {all.MeanSeconds:F1} s, the mean of {all.Samples} measured gaps in {thinkTimesPath}"));
        }

        if (sources.Count > 0)
        {
            demand.Source = string.Join("; ", sources);
        }
    }
}
