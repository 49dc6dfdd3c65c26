using Spark.Eval.Simulator.Latency;

namespace Spark.Eval.Simulator.Load;

/// <summary>One simulated load point: the lengths, the load (concurrency or rate) and its statistics.</summary>
public sealed record LoadPoint
{
    public int InputTokens { get; init; }
    public int OutputTokens { get; init; }
    public int? Concurrency { get; init; }
    public double? Rate { get; init; }
    public required SimulationStats Stats { get; init; }
}

/// <summary>Where more concurrency stops buying throughput: the first doubling that adds under 5 %.</summary>
public sealed record SaturationPoint(int Concurrency, double OutputTokensPerSecond, double TpotP50Ms, double TtftP50Ms);

/// <summary>How many devices serve N developers within an SLO, and what a million output tokens costs there.</summary>
public sealed record CapacityPlan
{
    public required Slo Slo { get; init; }
    public int Developers { get; init; }
    public double RequestsPerDeveloperPerMinute { get; init; }
    /// <summary>Demand: developers · requests per developer per minute / 60.</summary>
    public double DemandRequestsPerSecond { get; init; }
    /// <summary>Largest Poisson rate one replica sustains with p99 TTFT and p99 TPOT inside the SLO (0 when even a trickle misses it).</summary>
    public double MaxRequestsPerSecondPerReplica { get; init; }
    public int Replicas { get; init; }
    public int DevicesPerReplica { get; init; }
    public int Devices { get; init; }
    public double PricePerDeviceHour { get; init; }
    /// <summary>Devices · price per device-hour.</summary>
    public double CostPerHour { get; init; }
    /// <summary>Cost per hour / (demand · output tokens · 3600 / 1e6): the price of a million output tokens at this demand.</summary>
    public double CostPerMillionOutputTokens { get; init; }
    public bool Feasible { get; init; }
}

/// <summary>The --json output of <c>spark-eval simulate</c>: profile, derived capacity, load points, saturation and plan; all figures simulated.</summary>
public sealed record SimulationReport
{
    public int FormatVersion { get; init; } = 1;
    public bool Simulated { get; init; } = true;
    public required string Hardware { get; init; }
    public required string Model { get; init; }
    public required string Precision { get; init; }
    public int TensorParallel { get; init; }
    public int Devices { get; init; }
    public long KvCapacityTokens { get; init; }
    public bool ChunkedPrefill { get; init; }
    /// <summary>Asynchronous scheduling (--async-scheduling): each step formed while the previous one runs.</summary>
    public bool AsyncScheduling { get; init; }
    /// <summary>How request lengths vary around the means: fixed, sharegpt (--lengths), or uniform ± spread (--length-spread).</summary>
    public string Lengths { get; init; } = "fixed";
    /// <summary>Closed loop: requests due together sent this many ms apart (--send-gap-ms); 0: together.</summary>
    public double SendGapMs { get; init; }
    /// <summary>Share of each point's requests excluded as warm-up (0.25 in steady state; 0 with --cold-start or an all-in-flight batch).</summary>
    public double WarmupFraction { get; init; }
    /// <summary>Requests simulated at the first load point.</summary>
    public int Requests { get; init; }
    public int Seed { get; init; }
    /// <summary>A lone request: TTFT = RTT + request overhead + prefill; TPOT = one decode step at batch 1.</summary>
    public double UnloadedTtftMs { get; init; }
    public double UnloadedTpotMs { get; init; }
    public IReadOnlyList<LoadPoint> Points { get; init; } = [];
    public SaturationPoint? Saturation { get; init; }
    public CapacityPlan? Plan { get; init; }
    /// <summary>The simulator's worst error on unseen first-token rows of this hardware's family (or every family's under load), as a ratio; null: unknown (ErrorBands.Bound).</summary>
    public double? TtftErrorBound { get; init; }
    /// <summary>The same for time per output token.</summary>
    public double? TpotErrorBound { get; init; }
    /// <summary>True when <see cref="TpotErrorBound"/> was read from rows of models of this model's architecture only (dense or mixture of experts; ErrorBands.BoundOf).</summary>
    public bool TpotBoundByArchitecture { get; init; }
    /// <summary>The same for output throughput at saturation (saturated-throughput rows).</summary>
    public double? ThroughputErrorBound { get; init; }
}

/// <summary>Sweeps, saturation search and device sizing on top of <see cref="LoadSimulator"/>.</summary>
public static class CapacityPlanner
{
    /// <summary>Doubles closed-loop concurrency from 1 until throughput grows by less than 5 % (or the cap is reached).</summary>
    public static SaturationPoint FindSaturation(LatencyModel model, LoadOptions template, int cap = 4096)
    {
        ArgumentNullException.ThrowIfNull(template);
        SimulationStats? previous = null;
        var previousConcurrency = 1;
        for (var c = 1; c <= cap; c *= 2)
        {
            var stats = LoadSimulator.Summarize(LoadSimulator.Run(model, template with { Concurrency = c, Rate = null, Requests = Math.Max(template.Requests, c * 4) }));
            if (previous is not null && stats.OutputTokensPerSecond < previous.OutputTokensPerSecond * 1.05)
            {
                return new SaturationPoint(previousConcurrency, previous.OutputTokensPerSecond, previous.TpotP50Ms, previous.TtftP50Ms);
            }

            previous = stats;
            previousConcurrency = c;
        }

        return new SaturationPoint(previousConcurrency, previous!.OutputTokensPerSecond, previous.TpotP50Ms, previous.TtftP50Ms);
    }

    /// <summary>Binary-searches the largest Poisson rate whose p99 TTFT and TPOT meet the SLO, then sizes the fleet.</summary>
    public static CapacityPlan Plan(LatencyModel model, LoadOptions template, Slo slo, int developers, double requestsPerDeveloperPerMinute, SaturationPoint saturation)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(template);
        ArgumentNullException.ThrowIfNull(slo);
        ArgumentNullException.ThrowIfNull(saturation);
        var demand = developers * requestsPerDeveloperPerMinute / 60.0;
        var hi = Math.Max(1e-3, saturation.OutputTokensPerSecond / Math.Max(1, template.OutputTokens) * 1.2);
        var lo = 0.0;
        for (var i = 0; i < 14; i++)
        {
            var mid = (lo + hi) / 2;
            var requests = Math.Clamp((int)(mid * 120), 200, 4000);
            var stats = LoadSimulator.Summarize(LoadSimulator.Run(model, template with { Rate = mid, Concurrency = null, Requests = requests, WarmupFraction = 0.1 }));
            var ok = (slo.TtftMs is not { } a || stats.TtftP99Ms <= a) && (slo.TpotMs is not { } b || stats.TpotP99Ms <= b);
            if (ok)
            {
                lo = mid;
            }
            else
            {
                hi = mid;
            }
        }

        var feasible = lo > 0;
        var replicas = feasible ? Math.Max(1, (int)Math.Ceiling(demand / lo)) : 0;
        var devices = replicas * model.Devices;
        var costPerHour = devices * model.Hardware.PricePerDeviceHour;
        var tokensPerHour = demand * template.OutputTokens * 3600;
        return new CapacityPlan
        {
            Slo = slo,
            Developers = developers,
            RequestsPerDeveloperPerMinute = requestsPerDeveloperPerMinute,
            DemandRequestsPerSecond = demand,
            MaxRequestsPerSecondPerReplica = lo,
            Replicas = replicas,
            DevicesPerReplica = model.Devices,
            Devices = devices,
            PricePerDeviceHour = model.Hardware.PricePerDeviceHour,
            CostPerHour = costPerHour,
            CostPerMillionOutputTokens = feasible && tokensPerHour > 0 ? costPerHour / (tokensPerHour / 1e6) : 0,
            Feasible = feasible,
        };
    }
}
