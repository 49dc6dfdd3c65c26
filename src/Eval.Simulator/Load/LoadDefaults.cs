using Spark.Eval.Simulator.Profiles;

namespace Spark.Eval.Simulator.Load;

/// <summary>
/// The load a run gets when the user gives no flag beyond the setup: what <c>spark-eval simulate</c> runs by default and
/// what <c>simulate validate</c> runs for every published row, so that the CLI's defaults are the validated ones.
/// Steady state by default (the first quarter of requests is warm-up, excluded); the serving stack's scheduler
/// defaults (chunked prefill) come from the hardware profile.
/// </summary>
public static class LoadDefaults
{
    /// <summary>Seed for arrivals, lengths and jitter when none is given.</summary>
    public const int Seed = 42;

    /// <summary>Share of requests excluded as warm-up in steady state: identical requests started together stay bunched for many waves.</summary>
    public const double SteadyStateWarmupFraction = 0.25;

    /// <summary>Requests simulated for a closed loop of <paramref name="concurrency"/> clients: 40 waves, at least 64; 1,000 for an open loop.</summary>
    public static int Requests(int? concurrency) => concurrency is { } c ? Math.Max(40 * Math.Max(1, c), 64) : 1000;

    /// <summary>
    /// The load options for one point: <paramref name="requests"/> (or <see cref="Requests"/>), warm-up excluded unless
    /// <paramref name="coldStart"/> (every client starts at once and every request counts, as a lockstep benchmark's first wave)
    /// or every request is in flight from the start (an offline batch), chunked prefill as the profile's stack unless overridden;
    /// <paramref name="prefillFirst"/> times decoding alone after every prompt of the batch is prefilled (llama-batched-bench);
    /// <paramref name="asyncScheduling"/> forms each step while the previous one runs (vLLM --async-scheduling);
    /// <paramref name="lengths"/> draws each request's lengths from a dataset's shape around the means.
    /// </summary>
    public static LoadOptions For(HardwareProfile hardware, int inputTokens, int outputTokens, int? concurrency, double? rate = null, int? requests = null, bool coldStart = false, bool? chunkedPrefill = null, bool prefillFirst = false, bool asyncScheduling = false, LengthDistribution? lengths = null)
    {
        ArgumentNullException.ThrowIfNull(hardware);
        var n = requests ?? Requests(rate is null ? concurrency ?? 1 : null);
        var allInFlight = rate is null && n <= (concurrency ?? 1);
        return new LoadOptions
        {
            Requests = n,
            InputTokens = inputTokens,
            OutputTokens = outputTokens,
            Concurrency = rate is null ? concurrency ?? 1 : null,
            Rate = rate,
            WarmupFraction = coldStart || allInFlight ? 0 : SteadyStateWarmupFraction,
            // A prefill-first batch benchmark (llama-batched-bench) prefills whole prompts: chunking is off unless asked for.
            ChunkedPrefill = chunkedPrefill ?? (!prefillFirst && hardware.ChunkedPrefill),
            PrefillFirst = prefillFirst,
            AsyncScheduling = asyncScheduling,
            Lengths = lengths,
            Seed = Seed,
        };
    }

    /// <summary>
    /// The profile as a request measured inside the engine process sees it (an offline benchmark script, no HTTP server,
    /// no network): no round trip, and the stack's in-process per-call cost instead of its server request overhead.
    /// </summary>
    public static HardwareProfile InProcess(HardwareProfile hardware)
    {
        ArgumentNullException.ThrowIfNull(hardware);
        return hardware with { RequestOverheadMs = hardware.InProcessRequestOverheadMs, NetworkRttMs = 0 };
    }
}
