using Spark.Eval.Core.Metrics;
using Spark.Eval.Core.Results;

namespace Spark.Eval.Reporting;

/// <summary>What a backend's figures are: measured, simulated (modelled timings) or a random-weight model (real timings, meaningless text).</summary>
public enum BackendNature
{
    Measured,
    Simulated,
    RandomWeights,
}

/// <summary>The one place that decides how a backend is labelled in every table, chart and verdict.</summary>
public static class BackendLabels
{
    /// <summary>The words every report uses for a random-weight model.</summary>
    public const string RandomWeightsText = "random weights: timings real, text meaningless";

    /// <summary>The local runtime describes a generated model this way (LocalModel.Describe in Eval.Backends.Local).</summary>
    private const string RandomWeightsMarker = "RANDOM weights";

    public static BackendNature Nature(BackendSummary backend, RunManifest? manifest)
    {
        ArgumentNullException.ThrowIfNull(backend);
        if (backend.Simulated)
        {
            return BackendNature.Simulated;
        }

        var info = manifest?.Backends.FirstOrDefault(b => string.Equals(b.Name, backend.Backend, StringComparison.Ordinal));
        return info?.Description.Contains(RandomWeightsMarker, StringComparison.Ordinal) == true
            ? BackendNature.RandomWeights
            : BackendNature.Measured;
    }

    /// <summary>A short tag for narrow tables: "sim", "rand-w" or "real".</summary>
    public static string Tag(BackendNature nature) => nature switch
    {
        BackendNature.Simulated => "sim",
        BackendNature.RandomWeights => "rand-w",
        _ => "real",
    };

    /// <summary>The backend's name with what its figures are, for reports: "x (SIMULATED)", "y (random weights: …)".</summary>
    public static string Describe(BackendSummary backend, RunManifest? manifest)
    {
        ArgumentNullException.ThrowIfNull(backend);
        return Nature(backend, manifest) switch
        {
            BackendNature.Simulated => backend.Backend + " (SIMULATED)",
            BackendNature.RandomWeights => $"{backend.Backend} ({RandomWeightsText})",
            _ => backend.Backend,
        };
    }
}
