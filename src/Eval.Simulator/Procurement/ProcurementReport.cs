using Spark.Eval.Simulator.Profiles;
using Spark.Eval.Simulator.Validation;

namespace Spark.Eval.Simulator.Procurement;

/// <summary>One point of a candidate's latency-vs-load curve: a Poisson arrival rate per replica and its simulated tail latencies.</summary>
public sealed record LoadCurvePoint
{
    public double RatePerReplica { get; init; }
    public double TtftP99Ms { get; init; }
    public double TpotP99Ms { get; init; }
    public double AnswerP99Ms { get; init; }
    public double ShareInFlow { get; init; }
    public bool MeetsSlo { get; init; }
}

/// <summary>How a candidate is priced: per device-hour (cloud on demand), per token (an API) or not at all (no sourced price).</summary>
public enum PriceKind
{
    None,
    DeviceHour,
    PerToken,
}

/// <summary>One candidate's answer: fleet size, utilisation, latency at the operating point, cost, quality and its place in the ranking.</summary>
public sealed record CandidateResult
{
    public required string Id { get; init; }
    public required string Hardware { get; init; }
    public required string HardwareName { get; init; }
    public required string Model { get; init; }
    public required string ModelName { get; init; }
    public required string Precision { get; init; }
    public int TensorParallel { get; init; }
    public int DevicesPerReplica { get; init; }
    /// <summary>False when the model does not fit the hardware (see <see cref="Problem"/>).</summary>
    public bool Fits { get; init; }
    public string? Problem { get; init; }
    public long KvCapacityTokens { get; init; }
    /// <summary>Poisson rate per replica at which output throughput stops growing (closed-loop saturation / output length), req/s.</summary>
    public double SaturationRatePerReplica { get; init; }
    /// <summary>Largest Poisson rate per replica meeting every SLO; 0 when even a trickle misses one.</summary>
    public double MaxRatePerReplica { get; init; }
    public int Replicas { get; init; }
    public int Devices { get; init; }
    /// <summary>Demand / (replicas · max rate within the SLO).</summary>
    public double Utilisation { get; init; }
    public double Headroom => Replicas > 0 ? 1 - Utilisation : 0;
    public double TtftP99Ms { get; init; }
    public double TpotP99Ms { get; init; }
    public double AnswerP99Ms { get; init; }
    public double ShareInFlow { get; init; }
    public bool MeetsSlo { get; init; }
    public PriceKind PriceKind { get; init; }
    public double? PricePerDeviceHour { get; init; }
    public string? PriceSource { get; init; }
    public double? UsdPerMonth { get; init; }
    public double? UsdPerDeveloperMonth { get; init; }
    public double? UsdPerMillionOutputTokens { get; init; }
    public double PassRate { get; init; }
    /// <summary>True when the pass rate was read from a measured run directory; false: simulated from the model profile's capability.</summary>
    public bool PassRateMeasured { get; init; }
    public required string PassRateSource { get; init; }

    /// <summary>
    /// Where the latencies at the operating point come from when they were measured (the candidate's latencyRunDirectory: attempts,
    /// backend, run); null: simulated.
    /// </summary>
    public string? LatencySource { get; init; }

    /// <summary>True when the p99 latencies and the in-flow share were measured (<see cref="LatencySource"/>), not simulated.</summary>
    public bool LatencyMeasured => LatencySource is not null;

    /// <summary>Measured attempts behind a measured p99 (ok ones; failures count against the in-flow share); 0 when simulated.</summary>
    public int LatencyAttempts { get; init; }

    /// <summary>True when the run behind <see cref="LatencySource"/> was itself against a simulated backend (its attempts say so): its timings are modelled.</summary>
    public bool LatencyRunSimulated { get; init; }
    public bool OnParetoFront { get; init; }
    public int Rank { get; init; }

    /// <summary>
    /// How many times longer every bounded latency (p99 TTFT, p99 TPOT, p99 answer) could be at the operating point before
    /// an SLO is missed: the smallest of <see cref="TtftMargin"/>, <see cref="TpotMargin"/> and <see cref="AnswerMargin"/>;
    /// 0 when the SLO is missed or nothing is bounded. The in-flow share is not in it.
    /// </summary>
    public double SloMargin => new[] { TtftMargin, TpotMargin, AnswerMargin }.Where(m => m is not null).Select(m => m!.Value).DefaultIfEmpty(0).Min();

    /// <summary>The hardware profile's device family (nvidia-hopper, amd-cdna3, …), the key of its error band.</summary>
    public string? Family { get; init; }

    /// <summary>The simulator's error on the validation page's holdout rows of this family, every regime; null when the family has none.</summary>
    public SimulatorErrorBand? FamilyError { get; init; }

    /// <summary>The same, its latency-under-load rows only (TTFT or TPOT at concurrency &gt; 1); null when the family has none.</summary>
    public SimulatorErrorBand? FamilyErrorUnderLoad { get; init; }

    /// <summary>
    /// The fitted profile's own error on left-out steps of its sweep (<see cref="HardwareProfile.SweepFit"/>) when it speaks
    /// for the operating point: the TTFT and TPOT error bounds are then its ratios, not the family's; null otherwise.
    /// </summary>
    public SweepFitError? FittedSweepError { get; init; }

    /// <summary>How the candidate's profile was fitted to its <c>sweepRunDirectory</c> (the sweep, the backend, the constants before → after); null: not fitted by procure.</summary>
    public string? FittedFrom { get; init; }

    /// <summary>Why a fitted profile's own error was or was not used (<see cref="ProcurementPlanner.SweepFitCovers"/>); null for a profile not fitted to a sweep.</summary>
    public string? SweepFitNote { get; init; }

    /// <summary>How many times longer p99 TTFT could be before its SLO is missed; null when TTFT is unbounded or the SLO is missed.</summary>
    public double? TtftMargin { get; init; }

    /// <summary>The same for p99 TPOT.</summary>
    public double? TpotMargin { get; init; }

    /// <summary>The same for the p99 whole answer, where the plan bounds it.</summary>
    public double? AnswerMargin { get; init; }

    /// <summary>
    /// How many times slower the device could serve before the fleet no longer meets the SLO at this demand: 1 / utilisation
    /// (a device k× slower than simulated needs k× the share of each replica's SLO-bound rate); null when the SLO is missed.
    /// </summary>
    public double? CapacityMargin { get; init; }

    /// <summary>The error the capacity margin must cover: the worst holdout ratio of saturated-throughput rows (<see cref="ErrorBands.Bound"/>); null: unknown.</summary>
    public double? ThroughputErrorBound { get; init; }

    /// <summary>The error the TTFT margin must cover (<see cref="ErrorBands.Bound"/>); null: unknown.</summary>
    public double? TtftErrorBound { get; init; }

    /// <summary>True when the model is a mixture of experts (its TPOT error is read from such models' rows, <see cref="ErrorBands.BoundOf"/>).</summary>
    public bool MixtureOfExperts { get; init; }

    /// <summary>True when <see cref="TpotErrorBound"/> was read from rows of models of this candidate's architecture only (dense or mixture of experts).</summary>
    public bool TpotBoundByArchitecture { get; init; }

    /// <summary>The error the TPOT margin must cover; null: unknown.</summary>
    public double? TpotErrorBound { get; init; }

    /// <summary>The error the answer-time margin must cover: the larger of the TTFT and TPOT bounds; null when either is unknown.</summary>
    public double? AnswerErrorBound => TtftErrorBound is { } t && TpotErrorBound is { } p ? Math.Max(t, p) : null;

    /// <summary>
    /// True when every bounded latency's margin covers its error bound (the answer's, the larger of the two) and the
    /// capacity margin covers the throughput error; false when one does not; null when the SLO is missed or a needed
    /// bound is unknown.
    /// </summary>
    public bool? MarginCoversError
    {
        get
        {
            if (!MeetsSlo)
            {
                return null;
            }

            var terms = new[] { (TtftMargin, TtftErrorBound), (TpotMargin, TpotErrorBound), (AnswerMargin, AnswerErrorBound), (CapacityMargin, ThroughputErrorBound) }.Where(x => x.Item1 is not null).ToList();
            return terms.Any(x => x.Item2 is null) ? null : terms.All(x => x.Item1 >= x.Item2);
        }
    }
    public IReadOnlyList<LoadCurvePoint> Curve { get; init; } = [];

    /// <summary>
    /// The sweep a fitted profile was fitted to, as measured: each step's request rate and p99 TTFT and TPOT (closed-loop steps at the
    /// rate they reached); only where the sweep's error is the candidate's (<see cref="FittedSweepError"/>), else empty.
    /// </summary>
    public IReadOnlyList<LoadCurvePoint> MeasuredCurve { get; init; } = [];
}

/// <summary>The --json output of <c>spark-eval procure</c>: the plan's demand and SLOs, every candidate ranked, the Pareto front and a verdict; latencies simulated.</summary>
public sealed record ProcurementReport
{
    public int FormatVersion { get; init; } = 1;
    public bool Simulated { get; init; } = true;
    public required string Plan { get; init; }
    public int Developers { get; init; }
    public required DeveloperDemand Demand { get; init; }
    public required ProcurementSlo Slo { get; init; }
    /// <summary>developers · interactions per developer-hour / 3600, req/s.</summary>
    public double DemandRequestsPerSecond { get; init; }
    public double FleetHoursPerMonth { get; init; }
    public IReadOnlyList<CandidateResult> Candidates { get; init; } = [];
    public string? Recommended { get; init; }
    public required string Verdict { get; init; }
    /// <summary>The simulator's error on the holdout rows under load, every family together; null when validation was not run.</summary>
    public SimulatorErrorBand? UnderLoadError { get; init; }
    public IReadOnlyList<string> Notes { get; init; } = [];
}
