namespace Spark.Eval.Core.Results;

/// <summary>
/// What a backend costs, for the sessions' cost per arm (docs/metrics.md, "Session cost"): a price per device-hour of busy
/// time (a simulated profile: its hardware's sourced price × the devices one replica of the model spans), or per token.
/// Recorded on <see cref="BackendInfo.Price"/> in the manifest, so that a report recomputes the cost from the run directory.
/// </summary>
public sealed record BackendPrice
{
    /// <summary>USD per device-hour; null when the backend is priced per token.</summary>
    public double? UsdPerDeviceHour { get; init; }
    /// <summary>Devices one replica of the model occupies (tensor-parallel degree, or the wafers an SRAM-resident model spans).</summary>
    public int Devices { get; init; } = 1;
    /// <summary>
    /// Identical replicas behind the backend's balancer (an <c>hwsim</c> backend's <c>replicas=N</c>), each of <see cref="Devices"/>
    /// devices: with k requests in flight, min(k, replicas) replicas are busy. 1 (the default, and any older manifest): one.
    /// </summary>
    public int Replicas { get; init; } = 1;
    /// <summary>USD per million input (prompt) tokens; with <see cref="UsdPerMillionOutputTokens"/>, the per-token price.</summary>
    public double? UsdPerMillionInputTokens { get; init; }
    /// <summary>USD per million answer tokens.</summary>
    public double? UsdPerMillionOutputTokens { get; init; }
    /// <summary>Where the price comes from (a URL and quote, or "given").</summary>
    public string? Source { get; init; }

    /// <summary>True when priced per device-hour of busy time.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public bool PerDeviceHour => UsdPerDeviceHour is > 0;

    /// <summary>True when priced per token.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public bool PerToken => !PerDeviceHour && (UsdPerMillionInputTokens is not null || UsdPerMillionOutputTokens is not null);
}
