using System.CommandLine;
using System.Globalization;
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
        var command = new Command("procure", "Rank hardware × model candidates for N developers under SLOs: devices, cost per developer-month, pass rate, share in flow (SIMULATED latency).") { plan, output, price, json, profiles };
        command.SetAction(parse =>
        {
            var profilesDir = parse.GetValue(profiles);
            var catalog = ProfileCatalog.Load(profilesDir);
            var loaded = ProcurementPlanner.Load(parse.GetValue(plan)!);
            var overrides = ProcurementPlanner.ParsePriceOverrides(parse.GetValue(price) ?? []);
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
}
