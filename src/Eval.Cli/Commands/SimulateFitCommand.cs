using System.CommandLine;
using System.Globalization;
using Spark.Eval.Core;
using Spark.Eval.Simulator.Calibration;
using Spark.Eval.Simulator.Profiles;
using Spark.Eval.Simulator.Validation;

namespace Spark.Eval.Cli.Commands;

/// <summary><c>spark-eval simulate fit</c>: fits named constants of one hardware profile on its calibration rows (never holdout rows) and prints them.</summary>
public static class SimulateFitCommand
{
    public static Command Create(TextWriter stdout)
    {
        var hw = new Option<string>("--hw") { Description = "Hardware profile whose constants are fitted (on its own non-holdout rows of the validation data)." };
        var constants = new Option<string>("--constants") { Description = $"Comma list of constants to fit, in order: {string.Join(", ", ProfileFitter.Ranges.Keys)}." };
        var data = new Option<string?>("--data") { Description = "Validation rows (default: hw-profiles/validation.json beside the profiles, else the embedded copy)." };
        var profiles = new Option<string?>("--profiles") { Description = "Folder with hardware.json and models.json (default: hw-profiles/ above the working directory, else the embedded copies)." };
        var command = new Command("fit", "Fit a hardware profile's constants (least squares of the relative error) on its calibration rows; holdout rows are never used. Prints the values to put in hw-profiles/hardware.json.")
        {
            hw, constants, data, profiles,
        };
        command.SetAction(async (parse, ct) =>
        {
            var profilesDir = parse.GetValue(profiles);
            var catalog = ProfileCatalog.Load(profilesDir);
            var id = parse.GetValue(hw) ?? throw new InputException("--hw: missing. Fix: add --hw <profile id>");
            var names = (parse.GetValue(constants) ?? throw new InputException($"--constants: missing. Fix: add --constants computeEfficiency,bandwidthEfficiency (any of: {string.Join(", ", ProfileFitter.Ranges.Keys)})"))
                .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var fit = ProfileFitter.Fit(catalog, ValidationRunner.LoadBesideProfiles(parse.GetValue(data), profilesDir), id, names);
            var c = CultureInfo.InvariantCulture;
            var sb = new System.Text.StringBuilder();
            sb.Append(c, $"fitted {fit.Hardware} on {fit.Rows.Count} calibration rows (holdout rows excluded): median absolute error {fit.MedianAbsoluteError * 100:F1} %, worst {fit.WorstRatio:F2}×\n");
            foreach (var k in fit.Constants)
            {
                sb.Append(c, $"  \"{k.Name}\": {k.Value}   (searched {k.Min}..{k.Max})\n");
            }

            foreach (var r in fit.Rows)
            {
                sb.Append(c, $"  {r.Row.Id,-48} {r.Row.Metric,-10} published {r.Row.Value,10:G5}  simulated {r.Predicted,10:G5}  {r.Error * 100,+7:+0.0;-0.0} %\n");
            }

            await stdout.WriteAsync(sb.ToString().AsMemory(), ct);
            return SparkEvalCli.ExitOk;
        });
        return command;
    }
}
