using Spark.Eval.Core;
using Spark.Eval.Simulator.Profiles;

namespace Spark.Eval.Simulator.Validation;

/// <summary>
/// The simulator's error on unseen data for one group of holdout rows (a device family, a regime, or both): how far a
/// simulated figure of that group can be trusted. Holdout rows are never fitted (docs/simulator-validation.md).
/// </summary>
public sealed record SimulatorErrorBand
{
    /// <summary>What the rows share, e.g. "amd-cdna3" or "latency under load".</summary>
    public required string Group { get; init; }
    public int Rows { get; init; }
    /// <summary>Median of |simulated − published| / published over the rows.</summary>
    public double MedianAbsoluteError { get; init; }
    /// <summary>Largest max(simulated / published, published / simulated) over the rows.</summary>
    public double WorstRatio { get; init; }
    public string? WorstRow { get; init; }
}

/// <summary>Error bands of the validation page's holdout rows, grouped the way a buyer reads a simulated candidate: by its device family and by regime.</summary>
public static class ErrorBands
{
    public const string LatencyUnderLoad = "latency under load";

    /// <summary>The band of the holdout rows among <paramref name="results"/> that match <paramref name="where"/>; null when none does.</summary>
    public static SimulatorErrorBand? Holdout(IEnumerable<ValidationResult> results, string group, Func<ValidationResult, bool> where)
    {
        ArgumentNullException.ThrowIfNull(results);
        ArgumentNullException.ThrowIfNull(where);
        var rows = results.Where(r => r.Row.Holdout && where(r)).ToList();
        if (rows.Count == 0)
        {
            return null;
        }

        var worst = rows.MaxBy(r => r.Ratio)!;
        return new SimulatorErrorBand
        {
            Group = group,
            Rows = rows.Count,
            MedianAbsoluteError = ValidationRunner.MedianAbsoluteError(rows),
            WorstRatio = worst.Ratio,
            WorstRow = worst.Row.Id,
        };
    }

    /// <summary>The holdout band of one device family (every regime).</summary>
    public static SimulatorErrorBand? Family(IEnumerable<ValidationResult> results, string family) =>
        Holdout(results, family, r => r.Family == family);

    /// <summary>The holdout band of one regime across every family.</summary>
    public static SimulatorErrorBand? Regime(IEnumerable<ValidationResult> results, string regime) =>
        Holdout(results, regime, r => r.Regime == regime);

    /// <summary>The regime of saturated-throughput rows (<see cref="ValidationResult.Regime"/>).</summary>
    public const string SaturatedThroughput = "saturated throughput";

    /// <summary>
    /// What a row measures, as a buyer's figure: "ttft" (first-token rows), "tpot" (time per output token: inter-token
    /// latency, a single stream's speed) or "throughput" (output tokens per second at saturation, which sizes a fleet).
    /// </summary>
    public static string? MeasureOf(ValidationResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        return result.Row.Metric switch
        {
            "ttft_ms" => "ttft",
            "itl_ms" or "user_tps" => "tpot",
            "output_tps" when result.Regime == "single-stream decode" => "tpot",
            "output_tps" when result.Regime == SaturatedThroughput => "throughput",
            _ => null,
        };
    }

    /// <summary>
    /// The error a simulated <paramref name="measure"/> ("ttft", "tpot" or "throughput") of <paramref name="family"/> is
    /// trusted to: the worst holdout ratio of the family's rows measuring it, or the worst under load when larger (the
    /// family's own rows of it under load, else every family's; "under load" is the latency-under-load regime for the two
    /// latencies and saturation for throughput), since an SLO and a fleet are judged under load. Null when the family has
    /// no holdout row at all, or nothing measures it: unknown, never 1.
    /// </summary>
    /// <remarks>
    /// TPOT of a candidate whose architecture is given (<paramref name="mixtureOfExperts"/>) is read from rows of models of the
    /// same architecture wherever such rows exist, each group falling back to every row of it otherwise: a mixture of
    /// experts decodes through routing and per-expert costs a dense model does not have, so the error of one is not the
    /// other's. TTFT and throughput keep every row: the worst first-token errors come from serving stacks' request paths,
    /// which do not depend on the architecture.
    /// </remarks>
    public static double? Bound(IReadOnlyList<ValidationResult> results, string family, string measure, bool? mixtureOfExperts = null) =>
        BoundOf(results, family, measure, mixtureOfExperts).Ratio;

    /// <summary>
    /// <see cref="Bound"/> and whether every group it read held rows of the candidate's architecture (true), so that a
    /// report can say "dense models' rows" only where that is so; false when any group fell back to every row.
    /// </summary>
    public static (double? Ratio, bool ByArchitecture) BoundOf(IReadOnlyList<ValidationResult> results, string family, string measure, bool? mixtureOfExperts = null)
    {
        ArgumentNullException.ThrowIfNull(results);
        if (Family(results, family) is null)
        {
            return (null, false);
        }

        var kind = measure == "tpot" ? mixtureOfExperts : null;
        var byArchitecture = kind is not null;
        SimulatorErrorBand? Band(string group, Func<ValidationResult, bool> where)
        {
            if (kind is { } moe && Holdout(results, group, r => where(r) && r.MixtureOfExperts == moe) is { } same)
            {
                return same;
            }

            var all = Holdout(results, group, where);
            byArchitecture &= all is null;
            return all;
        }

        var loaded = measure == "throughput" ? SaturatedThroughput : LatencyUnderLoad;
        var own = Band(family, r => r.Family == family && MeasureOf(r) == measure);
        var load = Band(family, r => r.Family == family && MeasureOf(r) == measure && r.Regime == loaded)
            ?? Band(loaded, r => MeasureOf(r) == measure && r.Regime == loaded);
        return own is null && load is null ? (null, false) : (Math.Max(own?.WorstRatio ?? 0, load?.WorstRatio ?? 0), byArchitecture);
    }

    /// <summary>
    /// <see cref="Bound"/> for TTFT, TPOT and throughput of one family, simulating only the holdout rows the bounds read
    /// (the family's, and every family's under load or at saturation), so that <c>simulate</c> can print them at a fraction of the whole page's cost.
    /// </summary>
    public static (double? Ttft, double? Tpot, double? Throughput, bool TpotByArchitecture) BoundsFor(ProfileCatalog catalog, ValidationFile file, string family, bool? mixtureOfExperts = null)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(file);
        var families = catalog.Hardware.ToDictionary(h => h.Id, h => h.Family, StringComparer.OrdinalIgnoreCase);
        var needed = file.Rows.Where(r => r.Holdout && families.TryGetValue(r.Hardware, out var f)
            && (f == family || new ValidationResult(r, 0, f).Regime is LatencyUnderLoad or SaturatedThroughput)).ToList();
        var results = RunKnown(catalog, file with { Rows = needed });
        var tpot = BoundOf(results, family, "tpot", mixtureOfExperts);
        return (Bound(results, family, "ttft"), tpot.Ratio, Bound(results, family, "throughput"), tpot.ByArchitecture);
    }

    /// <summary>
    /// Runs the validation rows <paramref name="catalog"/> can simulate: a user's --profiles folder may hold fewer profiles
    /// than the rows name, or profiles a row's setup does not fit; those rows are skipped, not an error, since the bands
    /// only inform a procurement report.
    /// </summary>
    public static IReadOnlyList<ValidationResult> RunKnown(ProfileCatalog catalog, ValidationFile file)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(file);
        var hardware = catalog.Hardware.ToDictionary(h => h.Id, StringComparer.OrdinalIgnoreCase);
        var models = catalog.Models.Select(m => m.Id).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var results = new List<ValidationResult>();
        foreach (var row in file.Rows.Where(r => hardware.ContainsKey(r.Hardware) && models.Contains(r.Model)))
        {
            try
            {
                results.Add(new ValidationResult(row, ValidationRunner.Predict(catalog, row), hardware[row.Hardware].Family)
                {
                    MixtureOfExperts = catalog.GetModel(row.Model).IsMixtureOfExperts,
                });
            }
            catch (InputException)
            {
                // The user's profile cannot run this row's setup (the model does not fit, a precision it lacks): no band from it.
            }
        }

        return results;
    }
}
