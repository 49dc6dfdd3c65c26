using System.Globalization;
using Spark.Eval.Core;
using Spark.Eval.Simulator.Profiles;
using Spark.Eval.Simulator.Validation;

namespace Spark.Eval.Simulator.Calibration;

/// <summary>One fitted constant: its name, the value found and the range searched.</summary>
public sealed record FittedConstant(string Name, double Value, double Min, double Max);

/// <summary>The result of fitting a hardware profile's constants on its calibration rows (never holdout rows).</summary>
public sealed record ProfileFit(string Hardware, IReadOnlyList<FittedConstant> Constants, IReadOnlyList<ValidationResult> Rows, double MedianAbsoluteError, double WorstRatio);

/// <summary>
/// Fits named constants of one hardware profile by least squares of the relative error over the calibration rows of
/// that profile (holdout rows are excluded by construction): coordinate descent, a golden-section search per constant
/// within its range, a few rounds. Used to refit a family (docs/simulator-validation.md) and reproducible from the CLI:
/// <c>spark-eval simulate fit --hw mi300x --constants computeEfficiency,bandwidthEfficiency</c>.
/// </summary>
public static class ProfileFitter
{
    /// <summary>The constants a fit may move, with the range searched.</summary>
    public static readonly IReadOnlyDictionary<string, (double Min, double Max)> Ranges = new Dictionary<string, (double, double)>(StringComparer.Ordinal)
    {
        ["computeEfficiency"] = (0.1, 1.0),
        ["bandwidthEfficiency"] = (0.2, 1.0),
        ["stepOverheadMs"] = (0, 30),
        ["requestOverheadMs"] = (0, 200),
        ["inProcessRequestOverheadMs"] = (0, 100),
        ["allReduceLatencyUs"] = (0, 300),
        ["allReduceHopLatencyUs"] = (0, 50),
        ["runtimeReservedGB"] = (0, 30),
        ["kvCacheFreeFraction"] = (0.3, 1.0),
        ["layerLatencyUs"] = (0.1, 200),
        ["deviceHopMs"] = (0, 20),
        ["expertComputeEfficiency"] = (0.01, 1.0),
        ["matVecComputeEfficiency"] = (0.01, 1.0),
        ["moeLayerOverheadUs"] = (0, 500),
        ["kvGroupRereadFraction"] = (0, 1),
        ["moeExpertOverheadUs"] = (0, 50),
        ["weightReadGBps.bf16"] = (1, 20000),
        ["weightReadGBps.q8_0"] = (1, 20000),
        ["weightReadGBps.q4"] = (1, 20000),
        ["weightReadGBps.mxfp4"] = (1, 20000),
        ["engineRequestOverheadMs.vllm"] = (0, 200),
        ["engineRequestOverheadMs.sglang"] = (0, 200),
        ["engineRequestOverheadMs.trtllm"] = (0, 200),
        ["engineSequenceOverheadUs.vllm"] = (0, 200),
    };

    /// <summary>The profile with one named constant set.</summary>
    public static HardwareProfile With(HardwareProfile hardware, string name, double value)
    {
        ArgumentNullException.ThrowIfNull(hardware);
        return name switch
        {
            "computeEfficiency" => hardware with { ComputeEfficiency = value },
            "bandwidthEfficiency" => hardware with { BandwidthEfficiency = value },
            "stepOverheadMs" => hardware with { StepOverheadMs = value },
            "requestOverheadMs" => hardware with { RequestOverheadMs = value },
            "inProcessRequestOverheadMs" => hardware with { InProcessRequestOverheadMs = value },
            "allReduceLatencyUs" => hardware with { AllReduceLatencyUs = value },
            "allReduceHopLatencyUs" => hardware with { AllReduceHopLatencyUs = value },
            "runtimeReservedGB" => hardware with { RuntimeReservedGB = value },
            "kvCacheFreeFraction" => hardware with { KvCacheFreeFraction = value },
            "layerLatencyUs" => hardware with { LayerLatencyUs = value },
            "deviceHopMs" => hardware with { DeviceHopMs = value },
            "expertComputeEfficiency" => hardware with { ExpertComputeEfficiency = value },
            "matVecComputeEfficiency" => hardware with { MatVecComputeEfficiency = value },
            "moeLayerOverheadUs" => hardware with { MoeLayerOverheadUs = value },
            "kvGroupRereadFraction" => hardware with { KvGroupRereadFraction = value },
            "moeExpertOverheadUs" => hardware with { MoeExpertOverheadUs = value },
            _ when name.StartsWith("weightReadGBps.", StringComparison.Ordinal) && Ranges.ContainsKey(name) =>
                hardware with { WeightReadGBps = new Dictionary<string, double>(hardware.WeightReadGBps, StringComparer.Ordinal) { [name["weightReadGBps.".Length..]] = value } },
            _ when name.StartsWith("engineRequestOverheadMs.", StringComparison.Ordinal) && Ranges.ContainsKey(name) =>
                hardware with { EngineRequestOverheadMs = new Dictionary<string, double>(hardware.EngineRequestOverheadMs, StringComparer.Ordinal) { [name["engineRequestOverheadMs.".Length..]] = value } },
            _ when name.StartsWith("engineSequenceOverheadUs.", StringComparison.Ordinal) && Ranges.ContainsKey(name) =>
                hardware with { EngineSequenceOverheadUs = new Dictionary<string, double>(hardware.EngineSequenceOverheadUs, StringComparer.Ordinal) { [name["engineSequenceOverheadUs.".Length..]] = value } },
            _ => throw new InputException($"--constants: '{name}' cannot be fitted. Fix: use some of: {string.Join(", ", Ranges.Keys)}"),
        };
    }

    /// <summary>Fits <paramref name="constants"/> of <paramref name="hardwareId"/> on the file's calibration rows for that profile.</summary>
    public static ProfileFit Fit(ProfileCatalog catalog, ValidationFile file, string hardwareId, IReadOnlyList<string> constants, int rounds = 3)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(constants);
        var start = catalog.GetHardware(hardwareId);
        // Never fit on a holdout row: they exist to measure the error on rows no constant has seen.
        var rows = file.Rows.Where(r => !r.Holdout && string.Equals(r.Hardware, start.Id, StringComparison.OrdinalIgnoreCase)).ToList();
        if (rows.Count == 0)
        {
            throw new InputException($"--hw {hardwareId}: no calibration rows (non-holdout) in the validation data. Fix: add published rows for this profile first");
        }

        if (constants.Count == 0)
        {
            throw new InputException($"--constants: none given. Fix: name some of: {string.Join(", ", Ranges.Keys)}");
        }

        var current = start;
        foreach (var name in constants)
        {
            _ = With(current, name, 0);
        }

        for (var round = 0; round < rounds; round++)
        {
            foreach (var name in constants)
            {
                var (min, max) = Ranges[name];
                var best = GoldenSection(v => Loss(catalog, rows, With(current, name, v)), min, max, 24);
                current = With(current, name, Round(best));
            }
        }

        var fitted = Catalog(catalog, current);
        var results = rows.Select(r => new ValidationResult(r, ValidationRunner.Predict(fitted, r), current.Family)).ToList();
        var values = constants.Select(n => new FittedConstant(n, Value(current, n), Ranges[n].Min, Ranges[n].Max)).ToList();
        return new ProfileFit(current.Id, values, results, ValidationRunner.MedianAbsoluteError(results), results.Max(r => r.Ratio));
    }

    /// <summary>Sum of squared relative errors of the rows under a candidate profile (a row the profile cannot run counts 1e6).</summary>
    public static double Loss(ProfileCatalog catalog, IReadOnlyList<ValidationRow> rows, HardwareProfile candidate)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var fitted = Catalog(catalog, candidate);
        var sum = 0.0;
        foreach (var row in rows)
        {
            try
            {
                var e = (ValidationRunner.Predict(fitted, row) - row.Value) / row.Value;
                sum += double.IsFinite(e) ? e * e : 1e6;
            }
            catch (InputException)
            {
                sum += 1e6;
            }
        }

        return sum;
    }

    /// <summary><paramref name="catalog"/> with the profile of <paramref name="replaced"/>'s id replaced by it.</summary>
    internal static ProfileCatalog Catalog(ProfileCatalog catalog, HardwareProfile replaced) =>
        new([.. catalog.Hardware.Select(h => string.Equals(h.Id, replaced.Id, StringComparison.OrdinalIgnoreCase) ? replaced : h)], catalog.Models, catalog.Origin);

    /// <summary>The current value of one named constant (NaN for a name that cannot be fitted).</summary>
    public static double ValueOf(HardwareProfile hardware, string name)
    {
        ArgumentNullException.ThrowIfNull(hardware);
        return Value(hardware, name);
    }

    private static double Value(HardwareProfile h, string name) => name switch
    {
        "computeEfficiency" => h.ComputeEfficiency,
        "bandwidthEfficiency" => h.BandwidthEfficiency,
        "stepOverheadMs" => h.StepOverheadMs,
        "requestOverheadMs" => h.RequestOverheadMs,
        "inProcessRequestOverheadMs" => h.InProcessRequestOverheadMs,
        "allReduceLatencyUs" => h.AllReduceLatencyUs,
        "allReduceHopLatencyUs" => h.AllReduceHopLatencyUs,
        "runtimeReservedGB" => h.RuntimeReservedGB,
        "kvCacheFreeFraction" => h.KvCacheFreeFraction,
        "layerLatencyUs" => h.LayerLatencyUs,
        "deviceHopMs" => h.DeviceHopMs,
        "expertComputeEfficiency" => h.ExpertComputeEfficiency,
        "matVecComputeEfficiency" => h.MatVecComputeEfficiency,
        "moeLayerOverheadUs" => h.MoeLayerOverheadUs,
        "kvGroupRereadFraction" => h.KvGroupRereadFraction,
        "moeExpertOverheadUs" => h.MoeExpertOverheadUs,
        _ when name.StartsWith("weightReadGBps.", StringComparison.Ordinal) => h.WeightReadGBps.TryGetValue(name["weightReadGBps.".Length..], out var rate) ? rate : double.NaN,
        // An engine without its own value pays the profile's request overhead.
        _ when name.StartsWith("engineRequestOverheadMs.", StringComparison.Ordinal) => h.EngineRequestOverheadMs.TryGetValue(name["engineRequestOverheadMs.".Length..], out var ms) ? ms : h.RequestOverheadMs,
        _ when name.StartsWith("engineSequenceOverheadUs.", StringComparison.Ordinal) => h.EngineSequenceOverheadUs.TryGetValue(name["engineSequenceOverheadUs.".Length..], out var us) ? us : 0,
        _ => double.NaN,
    };

    // Three significant figures: a fitted constant claims no more precision than its rows carry.
    private static double Round(double v) => v == 0 ? 0 : double.Parse(v.ToString("G3", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);

    private static double GoldenSection(Func<double, double> f, double a, double b, int iterations)
    {
        var phi = (Math.Sqrt(5) - 1) / 2;
        var c = b - (phi * (b - a));
        var d = a + (phi * (b - a));
        double fc = f(c), fd = f(d);
        for (var i = 0; i < iterations; i++)
        {
            if (fc <= fd)
            {
                b = d;
                d = c;
                fd = fc;
                c = b - (phi * (b - a));
                fc = f(c);
            }
            else
            {
                a = c;
                c = d;
                fc = fd;
                d = a + (phi * (b - a));
                fd = f(d);
            }
        }

        return fc <= fd ? c : d;
    }
}
