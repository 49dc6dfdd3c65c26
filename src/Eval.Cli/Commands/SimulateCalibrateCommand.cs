using System.CommandLine;
using System.Globalization;
using System.Text;
using Spark.Eval.Core;
using Spark.Eval.Simulator.Calibration;
using Spark.Eval.Simulator.Profiles;

namespace Spark.Eval.Cli.Commands;

/// <summary><c>spark-eval simulate calibrate --from-run DIR</c>: fits a hardware profile's constants to the user's measured sweep and optionally writes a derived profile folder.</summary>
public static class SimulateCalibrateCommand
{
    public static Command Create(TextWriter stdout)
    {
        var fromRun = new Option<string>("--from-run") { Description = "Sweep directory written by 'spark-eval run --sweep concurrency=…' or '--sweep rate=…' (it holds sweep.json; a rate sweep is replayed open loop with each step's arrival process)." };
        var hw = new Option<string>("--hw") { Description = "Hardware profile to start from: the one closest to the measured endpoint." };
        var model = new Option<string>("--model") { Description = "Model profile the endpoint served." };
        var precision = new Option<string?>("--precision") { Description = "Weight precision the endpoint served (default: the model profile's)." };
        var tp = new Option<int>("--tp") { Description = "Tensor-parallel devices of the endpoint.", DefaultValueFactory = _ => 1 };
        var backend = new Option<string?>("--backend") { Description = "Which backend of the sweep to fit (default: its only one)." };
        var constants = new Option<string?>("--constants") { Description = $"Comma list of constants to fit (default: {string.Join(",", SweepCalibration.DefaultConstants)}; any of: {string.Join(", ", ProfileFitter.Ranges.Keys)})." };
        var profiles = new Option<string?>("--profiles") { Description = "Folder with hardware.json and models.json (default: hw-profiles/ above the working directory, else the embedded copies)." };
        var write = new Option<string?>("--write") { Description = "Write a new profiles folder holding the catalog plus <hw>-fitted (carrying its left-out error as sweepFit) and <id>-fitted for each --apply-to; refused if the folder already holds profiles. Use it with: spark-eval simulate --profiles DIR --hw <hw>-fitted." };
        var applyTo = new Option<string?>("--apply-to") { Description = "With --write: comma list of other hardware ids that get the fitted constants too (extrapolate the measured stack to hardware you do not have)." };
        var command = new Command("calibrate", "Fit a hardware profile's constants (bandwidth efficiency, per-request overhead, …) to your own measured sweep, with the same least-squares fitter as 'simulate fit'; prints the error before and after on the measured points and, with 3 or more steps, the error on each step left out of the fit (what procure judges a fitted profile by). Each step is replayed with the spread of prompt lengths and, apart, of answer lengths that its attempts measured, and a closed loop with the pace at which the sweep's client sent requests due together (the median gap between the starts of consecutive requests that were due together).")
        {
            fromRun, hw, model, precision, tp, backend, constants, profiles, write, applyTo,
        };
        command.SetAction(async (parse, ct) =>
        {
            var dir = parse.GetValue(fromRun) ?? throw new InputException("--from-run: missing. Fix: add --from-run <sweep directory> (from 'spark-eval run --sweep concurrency=1,4,16 --out DIR')");
            var hwId = parse.GetValue(hw) ?? throw new InputException("--hw: missing. Fix: add --hw <profile id> (ids: spark-eval simulate profiles)");
            var modelId = parse.GetValue(model) ?? throw new InputException("--model: missing. Fix: add --model <model id> (ids: spark-eval simulate profiles)");
            var tpValue = parse.GetValue(tp) is var t and >= 1 and <= 64 ? t : throw new InputException("--tp: must be 1..64. Fix: give the endpoint's tensor-parallel device count");
            var names = (parse.GetValue(constants) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var targets = (parse.GetValue(applyTo) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var writeDir = parse.GetValue(write);
            if (targets.Length > 0 && writeDir is null)
            {
                throw new InputException("--apply-to without --write: the derived profiles need a folder. Fix: add --write <new folder>");
            }

            var catalog = ProfileCatalog.Load(parse.GetValue(profiles));
            var result = SweepCalibration.Fit(catalog, new SweepCalibrationRequest(dir, hwId, modelId, parse.GetValue(precision), tpValue, parse.GetValue(backend), names));
            var written = writeDir is null ? [] : SweepCalibration.WriteProfiles(catalog, result, targets, writeDir, TimeProvider.System.GetUtcNow());
            await stdout.WriteAsync(Render(result, writeDir, written).AsMemory(), ct);
            return SparkEvalCli.ExitOk;
        });
        return command;
    }

    private static string Render(SweepCalibrationResult r, string? writeDir, IReadOnlyList<string> written)
    {
        var c = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.Append(c, $"fitted {r.Hardware} to {r.Rows.Count} measured points of backend {r.Backend} ({r.SweepDirectory}): median absolute error {r.BeforeMedianError * 100:F1} % → {r.AfterMedianError * 100:F1} %, worst {r.BeforeWorstRatio:F2}× → {r.AfterWorstRatio:F2}×\n");
        sb.Append(c, $"  load: {r.Load}\n");
        static string Percents(IEnumerable<double> xs) => string.Join(", ", xs.Distinct().Order().Select(x => (x * 100).ToString("F0", CultureInfo.InvariantCulture)));
        sb.Append(r.Rows.All(x => x.LengthSpread == 0 && x.AnswerLengthSpread == 0)
            ? "  lengths: each step's mean prompt and answer, every request alike (no spread measured, or the steps' attempts were not readable)\n"
            : string.Create(c, $"  lengths: prompts uniform ± {Percents(r.Rows.Select(x => x.LengthSpread))} %, answers ± {Percents(r.Rows.Select(x => x.AnswerLengthSpread))} % around each step's means (the spread of each its attempts measured)\n"));
        foreach (var k in r.Constants)
        {
            sb.Append(c, $"  {k.Name}: {r.Before[k.Name]:G4} → {k.Value:G4}   (searched {k.Min}..{k.Max})\n");
        }

        sb.Append(c, $"  {"point",-36} {"metric",-7} {"measured",9} {"before",9} {"after",9}  error after\n");
        foreach (var row in r.Rows)
        {
            sb.Append(c, $"  {row.Id,-36} {row.Metric,-7} {row.Measured,9:G4} {row.Before,9:G4} {row.After,9:G4}  {Math.Round((row.After - row.Measured) / row.Measured * 100, 1) + 0.0,7:+0.0;-0.0;+0.0} %\n");
        }

        sb.Append(r.LeftOut is { } o
            ? string.Create(c, $"each step left out of the fit and predicted by the others ({o.Steps} steps): median absolute error {o.MedianAbsoluteError * 100:F1} %, worst TTFT {o.TtftWorstRatio:F2}×, worst TPOT {o.TpotWorstRatio:F2}× (the error to expect inside the sweep: {o.OutputTokensPerSecondMin:G4}–{o.OutputTokensPerSecondMax:G4} output tokens/s, prompts of {o.InputTokensMin:G4}–{o.InputTokensMax:G4} tokens; the in-sample figures above flatter the fit)\n")
            : $"not checked on left-out steps: that needs {SweepCalibration.MinStepsLeftOut} steps with measured throughput, and the sweep has {r.Rows.Select(x => (x.Concurrency, x.RequestRate)).Distinct().Count()} step(s) (procure will judge {r.Hardware}-fitted by its family's holdout error)\n");
        if (writeDir is not null)
        {
            sb.Append(c, $"wrote {Path.Combine(writeDir, "hardware.json")} and models.json: {string.Join(", ", written)} (SIMULATED predictions from measured constants); use: spark-eval simulate --profiles {writeDir} --hw {written[0]} --model <id> …\n");
        }

        return sb.ToString();
    }
}
