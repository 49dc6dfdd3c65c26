using System.Globalization;
using System.Text.Json;
using Spark.Eval.Core;
using Spark.Eval.Core.Metrics;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Running;
using Spark.Eval.Simulator.Calibration;
using Spark.Eval.Simulator.Latency;
using Spark.Eval.Simulator.Load;
using Spark.Eval.Simulator.Profiles;
using Spark.Eval.Simulator.Validation;

namespace Spark.Eval.Simulator.Procurement;

/// <summary>
/// Answers a procurement plan: for each candidate, the latency-vs-load curve, the largest load per replica that meets
/// every SLO, the fleet that serves the developers' demand, its cost and quality; then ranks, marks the cost/quality
/// Pareto front and writes a one-line verdict. Latencies are SIMULATED (docs/simulator.md).
/// </summary>
public static class ProcurementPlanner
{
    /// <summary>A recommended candidate's pass rate may be this far below the best feasible one (the verdict's rule).</summary>
    public const double QualityTolerance = 0.05;

    private static readonly double[] CurveFractions = [0.05, 0.2, 0.4, 0.6, 0.75, 0.85, 0.92, 1.0, 1.1];

    /// <summary>Reads and validates a plan file; bad input throws <see cref="InputException"/> naming the file and field.</summary>
    public static ProcurementPlan Load(string path)
    {
        if (!File.Exists(path))
        {
            throw new InputException($"{path}: file not found. Fix: pass a procurement plan such as hw-profiles/procure-example.json");
        }

        ProcurementPlan plan;
        try
        {
            plan = JsonSerializer.Deserialize(File.ReadAllBytes(path), SimulatorJsonContext.Default.ProcurementPlan) ?? new ProcurementPlan();
        }
        catch (JsonException ex)
        {
            throw InputException.At(path, ex.LineNumber is { } l ? (int)l + 1 : null, ex.Path, "is not valid JSON for a procurement plan", "see docs/simulator.md, Procurement, for the plan shape");
        }

        Validate(plan, path);

        // Run directories named relative to the plan are read relative to the plan's folder, wherever procure runs from.
        var folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        string? Resolve(string? dir) => dir is null || Path.IsPathRooted(dir) ? dir : Path.GetFullPath(Path.Combine(folder, dir));
        return plan with
        {
            Candidates = [.. plan.Candidates.Select(c => c with { QualityRunDirectory = Resolve(c.QualityRunDirectory), LatencyRunDirectory = Resolve(c.LatencyRunDirectory), SweepRunDirectory = Resolve(c.SweepRunDirectory) })],
        };
    }

    /// <summary>Cross-field rules of a plan, checked at start-up.</summary>
    public static void Validate(ProcurementPlan plan, string name)
    {
        ArgumentNullException.ThrowIfNull(plan);
        if (plan.FormatVersion != 1)
        {
            throw InputException.At(name, null, "formatVersion", "must be 1", "set \"formatVersion\": 1");
        }

        if (plan.Developers < 1)
        {
            throw InputException.At(name, null, "developers", "must be >= 1", "give the number of developers to serve, e.g. 200");
        }

        if (plan.Candidates.Count == 0)
        {
            throw InputException.At(name, null, "candidates", "is empty", "list at least one {\"hardware\", \"model\"} candidate");
        }

        var d = plan.Demand;
        if (d.InteractionsPerDeveloperHour <= 0 || d.InputTokens < 1 || d.OutputTokens < 2 || d.WorkingHoursPerMonth <= 0 || d.ThinkTimeSeconds < 0)
        {
            throw InputException.At(name, null, "demand", "needs interactionsPerDeveloperHour > 0, inputTokens >= 1, outputTokens >= 2, workingHoursPerMonth > 0, thinkTimeSeconds >= 0", "fix the demand block or remove it to use the defaults");
        }

        if (plan.Slo.MinShareInFlow is { } f && (f < 0 || f > 1))
        {
            throw InputException.At(name, null, "slo.minShareInFlow", "must be within 0..1", "e.g. 0.9");
        }

        for (var i = 0; i < plan.Candidates.Count; i++)
        {
            if (plan.Candidates[i].TensorParallel < 1)
            {
                throw InputException.At(name, null, $"candidates[{i}].tensorParallel", "must be >= 1", "use 1, 2, 4 or 8");
            }

            if (plan.Candidates[i].LatencyBackend is not null && plan.Candidates[i].LatencyRunDirectory is null)
            {
                throw InputException.At(name, null, $"candidates[{i}].latencyBackend", "is set without latencyRunDirectory", "add the run directory that measured that backend, or drop latencyBackend");
            }

            if (plan.Candidates[i].SweepBackend is not null && plan.Candidates[i].SweepRunDirectory is null)
            {
                throw InputException.At(name, null, $"candidates[{i}].sweepBackend", "is set without sweepRunDirectory", "add the sweep directory that measured that backend, or drop sweepBackend");
            }

            if (plan.Candidates[i].SweepRunDirectory is not null && plan.Candidates[i].LatencyRunDirectory is not null)
            {
                throw InputException.At(name, null, $"candidates[{i}].sweepRunDirectory", "is set beside latencyRunDirectory", "give one: latencyRunDirectory for an API bought by the token (its latency as measured), sweepRunDirectory for your own fleet (a profile fitted to the sweep)");
            }
        }
    }

    /// <summary>Parses <c>--price hw=USD/h</c> values (each may be a comma list); bad input names the value and the fix.</summary>
    public static IReadOnlyDictionary<string, double> ParsePriceOverrides(IEnumerable<string> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        var prices = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var part in values.SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)))
        {
            var eq = part.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0 || !double.TryParse(part[(eq + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out var usd) || usd <= 0 || !double.IsFinite(usd))
            {
                throw new InputException($"--price '{part}': expected hardware=USD per device-hour. Fix: e.g. --price h100-sxm=2.49");
            }

            prices[part[..eq]] = usd;
        }

        return prices;
    }

    /// <summary>
    /// Evaluates every candidate of <paramref name="plan"/>; <paramref name="priceOverrides"/> (hardware id → USD per device-hour) replace
    /// profile prices; <paramref name="validation"/> (the validation page's rows run through the same catalog) gives each candidate
    /// the simulator's error on unseen rows of its device family, set against its SLO margin in the verdict.
    /// </summary>
    public static ProcurementReport Evaluate(ProfileCatalog catalog, ProcurementPlan plan, IReadOnlyDictionary<string, double>? priceOverrides = null, IReadOnlyList<ValidationResult>? validation = null)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(plan);
        priceOverrides ??= new Dictionary<string, double>();
        foreach (var hwId in priceOverrides.Keys)
        {
            _ = catalog.GetHardware(hwId, "--price");
        }

        var demand = plan.Developers * plan.Demand.InteractionsPerDeveloperHour / 3600.0;
        var notes = new List<string>();
        var results = new List<CandidateResult>();
        var underLoad = validation is null ? null : ErrorBands.Regime(validation, ErrorBands.LatencyUnderLoad);
        for (var i = 0; i < plan.Candidates.Count; i++)
        {
            var (candidateCatalog, candidate, fittedFrom) = FitToSweep(catalog, plan.Candidates[i], $"candidates[{i}]");
            // A profile fitted to a sweep is priced as the hardware the plan named (--price names that id).
            var result = EvaluateCandidate(candidateCatalog, plan, candidate, $"candidates[{i}]", demand, priceOverrides, fittedFrom, priceAs: plan.Candidates[i].Hardware);
            results.Add(WithErrorBands(result, candidateCatalog, plan, demand, validation));
        }

        // Think time bounds a developer's rate: no more than one interaction per (think time + answer time).
        var fastestAnswer = results.Where(r => r.Fits && r.AnswerP99Ms > 0).Select(r => r.AnswerP99Ms).DefaultIfEmpty(0).Min();
        var cap = 3600.0 / (plan.Demand.ThinkTimeSeconds + (fastestAnswer / 1000.0));
        if (plan.Demand.InteractionsPerDeveloperHour > cap)
        {
            notes.Add(string.Create(CultureInfo.InvariantCulture, $"Demand of {plan.Demand.InteractionsPerDeveloperHour:G3} interactions per developer-hour exceeds what {plan.Demand.ThinkTimeSeconds:G3} s of think time allows ({cap:F0}/h): the plan overstates demand."));
        }

        results = MarkParetoAndRank(results);
        var (recommended, verdict) = Verdict(results, plan);
        notes.Add("Latencies, throughput and fleet sizes are SIMULATED by the latency model (docs/simulator.md); error bars per family and regime in docs/simulator-validation.md.");
        notes.Add(validation is null
            ? "The simulator's error on unseen data was not computed for this report (no validation rows)."
            : "SLO margin: how many times longer every bounded p99 latency could be before an SLO is missed. Simulator error: the validation page's holdout rows (published measurements never fitted) of the candidate's device family; each latency's margin is set against the worst holdout ratio of the rows measuring that latency (the family's, or every family's under load when larger or when the family has none there); a margin below it means the simulator cannot tell whether the candidate meets that SLO: measure it (spark-eval run --sweep) before buying. A profile fitted to a measured sweep (a candidate's sweepRunDirectory, or simulate calibrate --from-run) is judged instead by its error on each step of that sweep left out of the fit, where the operating point lies inside what the sweep measured (Sources says which).");
        notes.Add(string.Create(CultureInfo.InvariantCulture, $"Demand arrives as a Poisson process at developers × interactions per hour; an interaction is in flow when its first token arrives within {plan.Slo.FlowTtftMs:F0} ms and its whole answer within {plan.Slo.FlowAnswerMs:F0} ms ({ProcurementDefaults.FlowSource})."));
        return new ProcurementReport
        {
            Plan = plan.Name,
            Developers = plan.Developers,
            Demand = plan.Demand,
            Slo = plan.Slo,
            DemandRequestsPerSecond = demand,
            FleetHoursPerMonth = plan.FleetHoursPerMonth,
            Candidates = results,
            Recommended = recommended,
            Verdict = verdict,
            UnderLoadError = underLoad,
            Notes = notes,
        };
    }

    /// <summary>
    /// A candidate with a <see cref="ProcurementCandidate.SweepRunDirectory"/>: its hardware profile fitted to the sweep
    /// (<see cref="SweepCalibration.Fit"/>, the default constants) and added to the catalog as <c>&lt;hw&gt;-fitted</c>, which
    /// the candidate then names; returns the catalog, the candidate and a sentence on the fit for the report (null: no sweep).
    /// </summary>
    private static (ProfileCatalog Catalog, ProcurementCandidate Candidate, string? FittedFrom) FitToSweep(ProfileCatalog catalog, ProcurementCandidate candidate, string field)
    {
        if (candidate.SweepRunDirectory is not { } sweep)
        {
            return (catalog, candidate, null);
        }

        var hw = catalog.GetHardware(candidate.Hardware, $"{field}.hardware");
        _ = catalog.GetModel(candidate.Model, $"{field}.model");
        SweepCalibrationResult fit;
        try
        {
            fit = SweepCalibration.Fit(catalog, new SweepCalibrationRequest(sweep, hw.Id, candidate.Model, candidate.Precision, candidate.TensorParallel, candidate.SweepBackend, []));
        }
        catch (InputException ex)
        {
            throw new InputException($"{field}.sweepRunDirectory: {ex.Message}", ex);
        }

        var fitted = fit.Fitted with { Id = hw.Id + "-fitted", Name = hw.Name + " (constants fitted to a measured sweep)" };
        var c = CultureInfo.InvariantCulture;
        var constants = string.Join(", ", fit.Constants.Select(k => string.Create(c, $"{k.Name} {fit.Before[k.Name]:G4} → {k.Value:G4}")));
        var from = string.Create(c, $"SIMULATED by {hw.Id}'s model with constants fitted to the sweep {sweep} (backend {fit.Backend}, {fit.Rows.Count} points, {fit.Load}): {constants}; in-sample median error {fit.AfterMedianError * 100:F1} %{(fit.LeftOut is null ? $"; fewer than {SweepCalibration.MinStepsLeftOut} steps, so not checked on left-out steps and judged by the family's band" : "")}");
        var extended = new ProfileCatalog([.. catalog.Hardware.Where(h => !string.Equals(h.Id, fitted.Id, StringComparison.OrdinalIgnoreCase)), fitted], catalog.Models, catalog.Origin);
        return (extended, candidate with { Hardware = fitted.Id }, from);
    }

    private static CandidateResult EvaluateCandidate(ProfileCatalog catalog, ProcurementPlan plan, ProcurementCandidate candidate, string field, double demand, IReadOnlyDictionary<string, double> priceOverrides, string? fittedFrom = null, string? priceAs = null)
    {
        var hw = catalog.GetHardware(candidate.Hardware, $"{field}.hardware");
        var model = catalog.GetModel(candidate.Model, $"{field}.model");
        var precisionName = candidate.Precision ?? model.DefaultPrecision;
        var precision = Precision.Find(precisionName) ?? throw new InputException($"{field}.precision: '{precisionName}' is unknown. Fix: use one of: {string.Join(", ", Precision.All.Select(p => p.Name))}");
        var id = string.Create(CultureInfo.InvariantCulture, $"{hw.Id}/{model.Id}/{precision.Name}/tp{candidate.TensorParallel}");
        var (passRate, measured, passSource) = Quality(model, candidate, field);
        var overridden = priceOverrides.TryGetValue(hw.Id, out var overridePrice) || (priceAs is not null && priceOverrides.TryGetValue(priceAs, out overridePrice));
        if (overridden)
        {
            hw = hw with { PricePerDeviceHour = overridePrice };
        }

        var baseResult = new CandidateResult
        {
            Id = id,
            Hardware = hw.Id,
            HardwareName = hw.Name,
            Model = model.Id,
            ModelName = model.Name,
            Precision = precision.Name,
            TensorParallel = candidate.TensorParallel,
            PassRate = passRate,
            PassRateMeasured = measured,
            PassRateSource = passSource,
            FittedFrom = fittedFrom,
        };
        LatencyModel latency;
        try
        {
            latency = new LatencyModel(ServingEngines.Apply(hw, null), model, precision, candidate.TensorParallel);
        }
        catch (InputException ex)
        {
            return baseResult with { Fits = false, Problem = ex.Message };
        }

        var template = new LoadOptions
        {
            InputTokens = plan.Demand.InputTokens,
            OutputTokens = plan.Demand.OutputTokens,
            // The serving stack's scheduler default, as `simulate` and validation use it.
            ChunkedPrefill = hw.ChunkedPrefill,
            Seed = plan.Seed,
            Requests = 400,
        };
        var saturation = CapacityPlanner.FindSaturation(latency, template);
        var saturationRate = saturation.OutputTokensPerSecond / plan.Demand.OutputTokens;
        var curve = CurveFractions.Select(f => Point(latency, template, plan.Slo, saturationRate * f)).ToList();
        var maxRate = MaxRateWithinSlo(latency, template, plan.Slo, saturationRate);
        var replicas = maxRate > 0 ? Math.Max(1, (int)Math.Ceiling(demand / maxRate)) : 0;
        var operating = replicas > 0 ? Point(latency, template, plan.Slo, demand / replicas) : curve[0];
        var devices = replicas * latency.Devices;
        var requestsPerMonth = demand * 3600 * plan.Demand.WorkingHoursPerMonth;
        var token = plan.TokenPrices.FirstOrDefault(t => t.Hardware == hw.Id && t.Model == model.Id);
        PriceKind kind;
        double? perMonth = null;
        double? pricePerHour = null;
        string? priceSource = null;
        double PerMonth(double input, double output) => requestsPerMonth * ((plan.Demand.InputTokens * input) + (plan.Demand.OutputTokens * output)) / 1e6;
        if (token is not null && !overridden)
        {
            kind = PriceKind.PerToken;
            perMonth = PerMonth(token.UsdPerMillionInputTokens, token.UsdPerMillionOutputTokens);
            priceSource = $"{token.Source} ({token.Date}): {token.UsdPerMillionInputTokens:G4} / {token.UsdPerMillionOutputTokens:G4} USD per 1M input / output tokens";
        }
        else if (hw.PricePerDeviceHour > 0)
        {
            kind = PriceKind.DeviceHour;
            pricePerHour = hw.PricePerDeviceHour;
            perMonth = replicas > 0 ? devices * hw.PricePerDeviceHour * plan.FleetHoursPerMonth : null;
            priceSource = overridden ? "--price override" : hw.SourceOf("pricePerDeviceHour");
        }
        else if (hw.TokenPrices.TryGetValue(model.Id, out var api))
        {
            // The vendor sells this model as an API (the profile's sourced token price): cost follows tokens, not the fleet.
            kind = PriceKind.PerToken;
            perMonth = PerMonth(api.UsdPerMillionInputTokens, api.UsdPerMillionOutputTokens);
            priceSource = string.Create(CultureInfo.InvariantCulture, $"{api.UsdPerMillionInputTokens:G4} / {api.UsdPerMillionOutputTokens:G4} USD per 1M input / output tokens (the vendor's API){(hw.SourceOf("tokenPrices") is { } ts ? ": " + ts : "")}");
        }
        else
        {
            kind = PriceKind.None;
            priceSource = hw.TokenPrices.Count > 0
                ? $"no sourced price for {model.Id} on {hw.Id} (its API prices: {string.Join(", ", hw.TokenPrices.Keys.Order(StringComparer.Ordinal))}): give --price {hw.Id}=USD/h (or a plan tokenPrices entry) to cost it"
                : $"no sourced price for {hw.Id}: give --price {hw.Id}=USD/h (or a tokenPrices entry) to cost it";
        }

        var result = baseResult with
        {
            Fits = true,
            DevicesPerReplica = latency.Devices,
            KvCapacityTokens = latency.KvCapacityTokens,
            SaturationRatePerReplica = saturationRate,
            MaxRatePerReplica = maxRate,
            Replicas = replicas,
            Devices = devices,
            Utilisation = replicas > 0 ? demand / (replicas * maxRate) : 0,
            TtftP99Ms = operating.TtftP99Ms,
            TpotP99Ms = operating.TpotP99Ms,
            AnswerP99Ms = operating.AnswerP99Ms,
            ShareInFlow = operating.ShareInFlow,
            MeetsSlo = replicas > 0,
            PriceKind = kind,
            PricePerDeviceHour = pricePerHour,
            PriceSource = priceSource,
            UsdPerMonth = perMonth,
            UsdPerDeveloperMonth = perMonth / plan.Developers,
            UsdPerMillionOutputTokens = perMonth is { } m && requestsPerMonth > 0 ? m / (requestsPerMonth * plan.Demand.OutputTokens / 1e6) : null,
            Curve = curve,
        };
        if (candidate.LatencyRunDirectory is not { } latencyRun)
        {
            return result;
        }

        if (kind != PriceKind.PerToken)
        {
            throw new InputException($"{field}.latencyRunDirectory: {id} is {(kind == PriceKind.DeviceHour ? "priced by the device-hour" : "unpriced")}, so its fleet is yours to size, and one measured run gives one load, not the capacity curve a fleet needs. Fix: price it by the token (a tokenPrices entry), or for your own fleet measure a sweep (spark-eval run --sweep concurrency=1,4,16) and give it as sweepRunDirectory instead: procure fits {hw.Id}'s profile to it");
        }

        return WithMeasuredLatency(result, latencyRun, candidate.LatencyBackend, plan, field);
    }

    /// <summary>
    /// Replaces a per-token candidate's simulated operating point with what a run against the vendor's endpoint measured: p99
    /// TTFT and TPOT over its ok attempts, each answer taken to the plan's length (TTFT + (output − 1) × the attempt's own
    /// TPOT), and the share in flow over every decided attempt (a failed one is not in flow). The run's own load and prompt
    /// lengths stand: the source says them.
    /// </summary>
    private static CandidateResult WithMeasuredLatency(CandidateResult result, string dir, string? backend, ProcurementPlan plan, string field)
    {
        var c = CultureInfo.InvariantCulture;
        var path = Path.Combine(dir, AttemptLog.FileName);
        if (!File.Exists(path))
        {
            throw new InputException($"{field}.latencyRunDirectory: {path} not found. Fix: point it at a run directory written by spark-eval run against the vendor's endpoint (spark-eval run --backend 'openai?url=…&model=…'), or remove it to use the simulated latency");
        }

        var decided = AttemptLog.Read(path).Records.Where(a => !a.Slot.Warmup && a.Outcome.Status != AttemptStatus.Cancelled).ToList();
        var backends = decided.Select(a => a.Slot.Backend).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        var name = backend ?? (backends.Count == 1 ? backends[0]
            : throw new InputException(backends.Count == 0
                ? $"{field}.latencyRunDirectory: {path} holds no measured attempt. Fix: measure the endpoint with spark-eval run first"
                : $"{field}.latencyBackend: {path} measured {string.Join(", ", backends)}. Fix: name the vendor's backend with latencyBackend"));
        decided = [.. decided.Where(a => a.Slot.Backend == name)];
        if (decided.Count == 0)
        {
            throw new InputException($"{field}.latencyBackend: '{name}' has no measured attempt in {path} (it has: {string.Join(", ", backends)}). Fix: name one of those");
        }

        List<double> ttft = [], tpot = [], answer = [];
        var inFlow = 0;
        var promptTokens = 0L;
        foreach (var a in decided.Where(a => a.Outcome.Status == AttemptStatus.Ok))
        {
            var m = AttemptMetrics.Compute(a);
            if (m.TtftMs is not { } first)
            {
                continue;
            }

            // The plan's answer length, not the run's: its first token, then (output − 1) tokens at the attempt's own pace.
            var whole = m.TpotMs is { } pace ? first + ((plan.Demand.OutputTokens - 1) * pace) : m.E2eMs ?? first;
            ttft.Add(first);
            answer.Add(whole);
            if (m.TpotMs is { } p)
            {
                tpot.Add(p);
            }

            promptTokens += a.Tokens.InputUsage ?? a.Tokens.InputTokenizer;
            if (first <= plan.Slo.FlowTtftMs && whole <= plan.Slo.FlowAnswerMs)
            {
                inFlow++;
            }
        }

        if (ttft.Count == 0)
        {
            throw new InputException($"{field}.latencyRunDirectory: backend '{name}' in {path} has no successful attempt ({decided.Count} failed). Fix: check the endpoint (spark-eval run prints each error class) and measure again");
        }

        // The measured operating point, checked against the SLOs as a simulated one is.
        var point = new LoadCurvePoint
        {
            TtftP99Ms = P99([.. ttft.Select(ms => ms / 1000).Order()]),
            TpotP99Ms = P99([.. tpot.Select(ms => ms / 1000).Order()]),
            AnswerP99Ms = P99([.. answer.Select(ms => ms / 1000).Order()]),
            ShareInFlow = (double)inFlow / decided.Count,
        };
        var failed = decided.Count - ttft.Count;
        var simulated = decided.Any(a => a.Simulated);
        var source = string.Create(c, $"{(simulated ? "SIMULATED timings (the run's backend models them)" : "measured")}: {ttft.Count} ok of {decided.Count} attempts of backend '{name}' in {dir}{(failed > 0 ? $" ({failed} failed or empty, counted out of flow)" : "")}, mean prompt {promptTokens / (double)ttft.Count:F0} tokens (plan: {plan.Demand.InputTokens}); answers taken to the plan's {plan.Demand.OutputTokens} tokens as TTFT + {plan.Demand.OutputTokens - 1} × the attempt's TPOT");
        return result with
        {
            TtftP99Ms = point.TtftP99Ms,
            TpotP99Ms = point.TpotP99Ms,
            AnswerP99Ms = point.AnswerP99Ms,
            ShareInFlow = point.ShareInFlow,
            MeetsSlo = Meets(point, plan.Slo),
            LatencySource = source,
            LatencyAttempts = ttft.Count,
            LatencyRunSimulated = simulated,
            // The simulated curve describes the vendor's devices, not the endpoint that was measured.
            Curve = [],
        };
    }

    /// <summary>
    /// Each bounded p99 latency's limit / simulated value at the operating point: how many times longer it could be before
    /// its SLO is missed; null where the plan does not bound it, or when the SLO is missed already.
    /// </summary>
    public static (double? Ttft, double? Tpot, double? Answer) Margins(CandidateResult r, ProcurementSlo slo)
    {
        ArgumentNullException.ThrowIfNull(r);
        ArgumentNullException.ThrowIfNull(slo);
        double? Margin(double? limit, double value) => r.MeetsSlo && limit is { } l && value > 0 ? l / value : null;
        return (Margin(slo.TtftP99Ms, r.TtftP99Ms), Margin(slo.TpotP99Ms, r.TpotP99Ms), Margin(slo.AnswerP99Ms, r.AnswerP99Ms));
    }

    /// <summary>
    /// Whether a fitted profile's own error (<see cref="HardwareProfile.SweepFit"/>) speaks for the candidate's operating
    /// point: its output tokens per second per replica no higher than the sweep's busiest step, and its prompt length within
    /// the sweep's step means widened by a quarter (a sweep of one task set has nearly one prompt length). Returns the
    /// reason as a sentence either way; null when the profile was not fitted to a sweep or the latency was measured.
    /// </summary>
    public static (bool Covers, string? Why) SweepFitCovers(HardwareProfile hardware, CandidateResult r, DeveloperDemand demand, double requestsPerSecond)
    {
        ArgumentNullException.ThrowIfNull(hardware);
        ArgumentNullException.ThrowIfNull(r);
        ArgumentNullException.ThrowIfNull(demand);
        if (hardware.SweepFit is not { } f || r.LatencyMeasured || !r.Fits || r.Replicas <= 0)
        {
            return (false, null);
        }

        var c = CultureInfo.InvariantCulture;
        var load = requestsPerSecond / r.Replicas * demand.OutputTokens;
        var loadOk = load <= f.OutputTokensPerSecondMax;
        var promptOk = demand.InputTokens >= f.InputTokensMin * 0.8 && demand.InputTokens <= f.InputTokensMax * 1.25;
        var measured = string.Create(c, $"its sweep ({f.Run}, backend {f.Backend}) measured up to {f.OutputTokensPerSecondMax:F0} output tokens/s per replica with prompts of {f.InputTokensMin:F0}–{f.InputTokensMax:F0} tokens");
        if (loadOk && promptOk)
        {
            return (true, string.Create(c, $"leave-one-step-out error of the profile fitted to a measured sweep: each of its {f.Steps} steps predicted by constants fitted on the others, TTFT {f.TtftWorstRatio:F2}×, TPOT {f.TpotWorstRatio:F2}× worst; {measured}, and the plan asks {load:F0} with {demand.InputTokens}-token prompts"));
        }

        var beyond = string.Join(" and ", new[] { loadOk ? null : string.Create(c, $"{load:F0} output tokens/s per replica"), promptOk ? null : $"{demand.InputTokens}-token prompts" }.Where(x => x is not null));
        return (false, $"the plan's operating point ({beyond}) lies outside what {measured}, so the family's holdout band applies");
    }

    /// <summary>The sweep's measured points of the fitted backend (req/s reached, p99 TTFT and TPOT); empty when the sweep is no longer readable.</summary>
    private static IReadOnlyList<LoadCurvePoint> SweepPoints(SweepFitError fit)
    {
        try
        {
            return [.. SweepAnalysis.Read(fit.Run).Points
                .Where(p => p.Backend == fit.Backend && p.Ok > 0 && p.RequestThroughputRps > 0 && p.TtftP99Ms > 0 && p.TpotP99Ms > 0)
                .OrderBy(p => p.RequestThroughputRps)
                .Select(p => new LoadCurvePoint { RatePerReplica = p.RequestThroughputRps, TtftP99Ms = p.TtftP99Ms!.Value, TpotP99Ms = p.TpotP99Ms!.Value })];
        }
        catch (InputException)
        {
            // The fitted profile outlived its sweep (moved or deleted): the bound still holds, the points are not drawn.
            return [];
        }
    }

    private static CandidateResult WithErrorBands(CandidateResult r, ProfileCatalog catalog, ProcurementPlan plan, double demand, IReadOnlyList<ValidationResult>? validation)
    {
        var hardware = catalog.GetHardware(r.Hardware);
        var family = hardware.Family;
        var band = validation is null ? null : ErrorBands.Family(validation, family);
        var bandUnderLoad = validation is null ? null : ErrorBands.Holdout(validation, $"{family}, {ErrorBands.LatencyUnderLoad}", v => v.Family == family && v.Regime == ErrorBands.LatencyUnderLoad);
        var (ttft, tpot, answer) = Margins(r, plan.Slo);
        var (covers, why) = SweepFitCovers(hardware, r, plan.Demand, demand);
        var own = covers ? hardware.SweepFit : null;
        var moe = catalog.GetModel(r.Model).IsMixtureOfExperts;
        var tpotBound = validation is null ? (Ratio: (double?)null, ByArchitecture: false) : ErrorBands.BoundOf(validation, family, "tpot", moe);
        return r with
        {
            MixtureOfExperts = moe,
            FittedSweepError = own,
            MeasuredCurve = own is null ? [] : SweepPoints(own),
            SweepFitNote = why,
            Family = family,
            TtftMargin = ttft,
            TpotMargin = tpot,
            AnswerMargin = answer,
            // Bought by the token, the fleet is the vendor's to size: no capacity margin of the buyer's to check.
            CapacityMargin = r.MeetsSlo && r.Utilisation > 0 && r.PriceKind != PriceKind.PerToken ? 1 / r.Utilisation : null,
            ThroughputErrorBound = validation is null ? null : ErrorBands.Bound(validation, family, "throughput"),
            FamilyError = band,
            FamilyErrorUnderLoad = bandUnderLoad,
            // A measured latency carries no simulator error: its margin has only the SLO itself to clear (bound 1).
            // A profile fitted to the user's own sweep is judged by its error on left-out steps of that sweep, inside what it measured.
            TtftErrorBound = r.LatencyMeasured ? 1 : own is not null ? own.TtftWorstRatio : validation is null ? null : ErrorBands.Bound(validation, family, "ttft"),
            TpotErrorBound = r.LatencyMeasured ? 1 : own is not null ? own.TpotWorstRatio : tpotBound.Ratio,
            TpotBoundByArchitecture = !r.LatencyMeasured && own is null && tpotBound.ByArchitecture,
        };
    }

    /// <summary>USD as a report shows it: whole dollars from 10 up, cents below (an API serving a few developers costs cents).</summary>
    public static string Usd(double usd) => usd.ToString(Math.Abs(usd) < 10 ? "F2" : "F0", CultureInfo.InvariantCulture);

    /// <summary>Simulates one Poisson load point and checks it against every SLO.</summary>
    public static LoadCurvePoint Point(LatencyModel latency, LoadOptions template, ProcurementSlo slo, double rate)
    {
        ArgumentNullException.ThrowIfNull(latency);
        ArgumentNullException.ThrowIfNull(template);
        ArgumentNullException.ThrowIfNull(slo);
        rate = Math.Max(rate, 1e-4);
        var requests = Math.Clamp((int)(rate * 120), 200, 3000);
        var result = LoadSimulator.Run(latency, template with { Rate = rate, Concurrency = null, Requests = requests, WarmupFraction = 0.1 });
        var ttft = result.Ttft.Order().ToArray();
        var tpot = result.Tpot.Order().ToArray();
        var e2e = result.EndToEnd.Order().ToArray();
        var inFlow = 0;
        for (var i = 0; i < result.Ttft.Length; i++)
        {
            if (result.Ttft[i] * 1000 <= slo.FlowTtftMs && result.EndToEnd[i] * 1000 <= slo.FlowAnswerMs)
            {
                inFlow++;
            }
        }

        var point = new LoadCurvePoint
        {
            RatePerReplica = rate,
            TtftP99Ms = P99(ttft),
            TpotP99Ms = P99(tpot),
            AnswerP99Ms = P99(e2e),
            ShareInFlow = result.Ttft.Length > 0 ? inFlow / (double)result.Ttft.Length : 0,
        };
        return point with { MeetsSlo = Meets(point, slo) };
    }

    private static double P99(double[] sortedSeconds) => sortedSeconds.Length == 0 ? 0 : LatencyStatistics.Percentile(sortedSeconds, 0.99) * 1000;

    private static bool Meets(LoadCurvePoint p, ProcurementSlo slo) =>
        (slo.TtftP99Ms is not { } a || p.TtftP99Ms <= a)
        && (slo.TpotP99Ms is not { } b || p.TpotP99Ms <= b)
        && (slo.AnswerP99Ms is not { } c || p.AnswerP99Ms <= c)
        && (slo.MinShareInFlow is not { } f || p.ShareInFlow >= f);

    /// <summary>Bisects the largest Poisson rate per replica meeting every SLO (0 when a trickle of requests misses one).</summary>
    public static double MaxRateWithinSlo(LatencyModel latency, LoadOptions template, ProcurementSlo slo, double saturationRate)
    {
        ArgumentNullException.ThrowIfNull(latency);
        if (!Point(latency, template, slo, Math.Max(1e-3, saturationRate * 0.01)).MeetsSlo)
        {
            return 0;
        }

        var lo = Math.Max(1e-3, saturationRate * 0.01);
        var hi = Math.Max(lo * 2, saturationRate * 1.2);
        for (var i = 0; i < 12; i++)
        {
            var mid = (lo + hi) / 2;
            if (Point(latency, template, slo, mid).MeetsSlo)
            {
                lo = mid;
            }
            else
            {
                hi = mid;
            }
        }

        return lo;
    }

    private static (double PassRate, bool Measured, string Source) Quality(ModelProfile model, ProcurementCandidate candidate, string field)
    {
        if (candidate.QualityRunDirectory is { } dir)
        {
            var path = Path.Combine(dir, "summary.json");
            if (!File.Exists(path))
            {
                throw new InputException($"{field}.qualityRunDirectory: {path} not found. Fix: point it at a run directory written by spark-eval run (or remove it to use the simulated pass rate)");
            }

            RunSummary summary;
            try
            {
                summary = JsonSerializer.Deserialize(File.ReadAllBytes(path), CoreJsonContext.Default.RunSummary) ?? throw new JsonException("empty");
            }
            catch (JsonException ex)
            {
                throw InputException.At(path, ex.LineNumber is { } l ? (int)l + 1 : null, ex.Path, "is not a run summary", "regenerate it with spark-eval summarize");
            }

            var graded = summary.Backends.Where(b => b.Grading is { Graded: > 0 }).ToList();
            if (graded.Count == 0)
            {
                throw new InputException($"{field}.qualityRunDirectory: {path} has no graded attempts. Fix: run with grading on, or remove it to use the simulated pass rate");
            }

            var passed = graded.Sum(b => b.Grading!.Passed);
            var total = graded.Sum(b => b.Grading!.Graded);
            return ((double)passed / total, true, $"measured: {passed}/{total} graded attempts passed in {dir}");
        }

        var source = model.Sources.FirstOrDefault(s => s.Field == "capability");
        return (model.Capability, false, $"SIMULATED: model profile capability {model.Capability:F3}{(source is null ? "" : $" ({source.Url})")}");
    }

    private static List<CandidateResult> MarkParetoAndRank(List<CandidateResult> results)
    {
        var priced = results.Where(r => r.MeetsSlo && r.UsdPerDeveloperMonth is not null).ToList();
        var pareto = priced.Where(r => !priced.Any(o => !ReferenceEquals(o, r)
            && o.UsdPerDeveloperMonth <= r.UsdPerDeveloperMonth && o.PassRate >= r.PassRate
            && (o.UsdPerDeveloperMonth < r.UsdPerDeveloperMonth || o.PassRate > r.PassRate))).ToHashSet();
        var ordered = results
            .OrderBy(r => r.MeetsSlo && r.UsdPerDeveloperMonth is not null ? 0 : r.MeetsSlo ? 1 : r.Fits ? 2 : 3)
            .ThenBy(r => r.UsdPerDeveloperMonth ?? double.MaxValue)
            .ThenByDescending(r => r.PassRate)
            .ThenBy(r => r.Id, StringComparer.Ordinal)
            .ToList();
        return [.. ordered.Select((r, i) => r with { Rank = i + 1, OnParetoFront = pareto.Contains(r) })];
    }

    private static (string? Recommended, string Verdict) Verdict(List<CandidateResult> ranked, ProcurementPlan plan)
    {
        var c = CultureInfo.InvariantCulture;
        var priced = ranked.Where(r => r.MeetsSlo && r.UsdPerDeveloperMonth is not null).ToList();
        if (priced.Count == 0)
        {
            var unpriced = ranked.Where(r => r.MeetsSlo).ToList();
            return unpriced.Count > 0
                ? (null, $"No priced candidate meets the SLOs; {string.Join(", ", unpriced.Select(r => r.Id))} meet(s) them but have no sourced price: give --price to compare cost.")
                : (null, $"No candidate meets the SLOs for {plan.Developers} developers: relax the SLO or add hardware.");
        }

        var best = priced.Max(r => r.PassRate);
        var pick = priced.Where(r => r.PassRate >= best - QualityTolerance).MinBy(r => r.UsdPerDeveloperMonth)!;
        var verdict = string.Create(c, $"Buy {pick.Devices} × {pick.HardwareName} for {pick.ModelName} ({pick.Precision}, TP {pick.TensorParallel}){(pick.PriceKind == PriceKind.PerToken ? " as an API" : "")}: {Usd(pick.UsdPerDeveloperMonth!.Value)} USD per developer-month, p99 TTFT {pick.TtftP99Ms:F0} ms, {pick.ShareInFlow:P0} of interactions in flow, pass rate {pick.PassRate:P0} ({(pick.PassRateMeasured ? "measured" : "simulated")}) — the cheapest candidate meeting every SLO within {QualityTolerance * 100:F0} points of the best pass rate ({(!pick.LatencyMeasured ? "SIMULATED latency" : pick.LatencyRunSimulated ? "SIMULATED latency, from a run against a simulated endpoint" : "MEASURED latency")}).");
        var robust = pick.MarginCoversError == true ? null : priced.Where(r => r.MarginCoversError == true && r.PassRate >= best - QualityTolerance).MinBy(r => r.UsdPerDeveloperMonth);
        return (pick.Id, verdict + Trust(pick, robust));
    }

    /// <summary>
    /// How far the pick's simulated latencies can be trusted: each bounded latency's SLO margin against the simulator's error
    /// on unseen rows measuring that latency (<see cref="ErrorBands.Bound"/>), which one to measure when a margin falls short,
    /// and the cheapest candidate whose margins do cover their errors (<paramref name="robust"/>), if another.
    /// </summary>
    public static string Trust(CandidateResult pick, CandidateResult? robust)
    {
        ArgumentNullException.ThrowIfNull(pick);
        var c = CultureInfo.InvariantCulture;
        if (pick.LatencySource is { } measured)
        {
            var held = string.Join(" and ", new[] { ("TTFT", pick.TtftMargin), ("TPOT", pick.TpotMargin), ("answer time", pick.AnswerMargin) }
                .Where(x => x.Item2 is not null).Select(x => string.Create(c, $"p99 {x.Item1} {x.Item2:F2}×")));
            return string.Create(c, $" Trust: its latencies come from a run against the endpoint, not from the model of its devices ({measured}){(held.Length > 0 ? $"; {held} longer would still meet the SLOs" : "")}; they hold for the load and the network that run had{(pick.LatencyAttempts < 100 ? $", and a p99 of {pick.LatencyAttempts} attempts is close to their maximum: measure more (--repeats) for a steadier tail" : "")}.");
        }

        if (pick.FamilyError is null && pick.FittedSweepError is null)
        {
            return pick.Family is null
                ? ""
                : string.Create(c, $" Trust: no holdout row measures the {pick.Family} family, so the simulator's error there is unknown; measure it (spark-eval run --sweep) before buying.");
        }

        var terms = new List<(string Name, double Margin, double? Bound)>();
        if (pick.TtftMargin is { } tm)
        {
            terms.Add(("TTFT", tm, pick.TtftErrorBound));
        }

        if (pick.TpotMargin is { } pm)
        {
            terms.Add(("TPOT", pm, pick.TpotErrorBound));
        }

        if (pick.AnswerMargin is { } am)
        {
            terms.Add(("answer time", am, pick.AnswerErrorBound));
        }

        var margins = terms.Count == 0
            ? "no latency has an SLO bound"
            : string.Join(" and ", terms.Select(x => string.Create(c, $"p99 {x.Name} {x.Margin:F2}×"))) + " longer would still meet the SLOs";
        if (pick.CapacityMargin is { } cm)
        {
            // The fleet's throughput: a replica with k× less capacity than simulated runs at k× the utilisation.
            terms.Add(("throughput", cm, pick.ThroughputErrorBound));
            margins += string.Create(c, $", and a replica with {cm:F2}× less capacity would still carry the demand (utilisation {pick.Utilisation:P0})");
        }

        var tpotRows = pick.TpotBoundByArchitecture ? (pick.MixtureOfExperts ? " (mixture-of-experts models' rows)" : " (dense models' rows)") : "";
        var errors = string.Join(", ", terms.Select(x => x.Bound is { } b ? string.Create(c, $"{x.Name} {b:F2}×{(x.Name == "TPOT" ? tpotRows : "")}") : $"{x.Name} unknown"));
        var shortfall = terms.Where(x => x.Bound is not { } b || x.Margin < b).Select(x => x.Name).ToList();
        var tail = shortfall.Count == 0
            ? "every margin covers its error."
            : $"{string.Join(" and ", shortfall)} {(shortfall.Count == 1 ? "is" : "are")} not covered, so measure {(shortfall.Count == 1 ? "it" : "them")} under load (spark-eval run --sweep) before buying"
              + (robust is null ? "." : string.Create(c, $"; the cheapest candidate whose margins cover their errors is {robust.Id} ({Usd(robust.UsdPerDeveloperMonth!.Value)} USD per developer-month)."));
        var whose = pick.FittedSweepError is { } f
            ? string.Create(c, $"the fitted profile's worst error on steps of its own sweep left out of the fit ({f.Steps} steps; throughput: unseen {pick.Family} rows at saturation) is")
            : $"the simulator's worst error on unseen {pick.Family} rows (or every family's under load where {pick.Family} has none) is";
        return string.Create(c, $" Trust: {margins}; {whose} {errors}; {tail}");
    }
}
