using System.Globalization;
using System.Text.Json;
using Spark.Eval.Core;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Running;
using Spark.Eval.Simulator.Profiles;
using Spark.Eval.Simulator.Validation;

namespace Spark.Eval.Simulator.Calibration;

/// <summary>What <c>simulate calibrate --from-run</c> asks: the sweep, the profile to start from and the setup the endpoint ran.</summary>
public sealed record SweepCalibrationRequest(string SweepDirectory, string Hardware, string Model, string? Precision, int TensorParallel, string? Backend, IReadOnlyList<string> Constants);

/// <summary>One measured point beside the simulator's prediction before and after the fit.</summary>
public sealed record SweepCalibrationRow(string Id, string Metric, int Concurrency, double? RequestRate, int InputTokens, int OutputTokens, double Measured, double Before, double After, double LengthSpread = 0, double AnswerLengthSpread = 0);

/// <summary>
/// The fit: the constants before and after, and the error on the measured points before and after (median |error|, worst ratio);
/// <paramref name="Load"/> says how the steps loaded the endpoint (closed loop, or open loop with its arrival process);
/// <paramref name="LeftOut"/> is the error on steps left out of the fit (null with fewer than <see cref="SweepCalibration.MinStepsLeftOut"/> steps).
/// </summary>
public sealed record SweepCalibrationResult(
    string Hardware, string Backend, string SweepDirectory, string Load, IReadOnlyList<FittedConstant> Constants, IReadOnlyDictionary<string, double> Before,
    IReadOnlyList<SweepCalibrationRow> Rows, double BeforeMedianError, double BeforeWorstRatio, double AfterMedianError, double AfterWorstRatio, HardwareProfile Fitted,
    SweepFitError? LeftOut = null);

/// <summary>
/// Fits a hardware profile's constants to a measured sweep (<c>run --sweep concurrency=…</c> or <c>rate=…</c>): each step's mean TTFT and mean
/// TPOT, at the step's concurrency (or its open-loop rate and arrival process) and mean prompt and answer lengths, become calibration rows of the existing
/// <see cref="ProfileFitter"/>, so the same least squares of the relative error fits them. The derived profile lets the
/// simulator extrapolate from the user's endpoint: other loads, other lengths, and (with the fitted constants carried
/// over) other hardware.
/// </summary>
public static class SweepCalibration
{
    /// <summary>The constants fitted when none are named: decode speed (bandwidth efficiency) and the fixed cost per request.</summary>
    public static IReadOnlyList<string> DefaultConstants { get; } = ["bandwidthEfficiency", "requestOverheadMs"];

    private static readonly CultureInfo C = CultureInfo.InvariantCulture;

    /// <summary>The sweep's points of one backend as calibration rows (ttft_ms and itl_ms means per step).</summary>
    public static IReadOnlyList<ValidationRow> Rows(SweepReport sweep, SweepCalibrationRequest request, string precision, out string backend)
    {
        ArgumentNullException.ThrowIfNull(sweep);
        ArgumentNullException.ThrowIfNull(request);
        if (sweep.Key is not ("concurrency" or "rate"))
        {
            throw new InputException($"--from-run {request.SweepDirectory}: the sweep stepped {sweep.Key}; calibration fits concurrency and rate steps. Fix: sweep with --sweep concurrency=1,4,16 or --sweep rate=0.5,1,2 against the endpoint");
        }

        var names = sweep.Points.Select(p => p.Backend).Distinct(StringComparer.Ordinal).ToList();
        backend = request.Backend ?? (names.Count == 1 ? names[0]
            : throw new InputException($"--from-run {request.SweepDirectory}: the sweep holds {names.Count} backends ({string.Join(", ", names)}). Fix: choose one with --backend NAME"));
        var chosen = backend;
        if (!names.Contains(chosen, StringComparer.Ordinal))
        {
            throw new InputException($"--backend {chosen}: not in the sweep (it holds {string.Join(", ", names)}). Fix: use one of those names");
        }

        var rows = new List<ValidationRow>();
        var gap = sweep.Key == "concurrency" ? SendGap(sweep, request.SweepDirectory, chosen) : null;
        foreach (var p in sweep.Points.Where(p => p.Backend == chosen && p.Ok > 0 && p.MeanInputTokens > 0 && p.MeanOutputTokens >= 2))
        {
            var step = sweep.Steps.FirstOrDefault(s => s.Index == p.Step);
            var source = Path.Combine(request.SweepDirectory, step?.RunDir ?? "");
            (string Arrival, double Burstiness, string Describe)? open = sweep.Key == "rate" ? OpenLoop(source) : null;
            var (promptSpread, answerSpread) = LengthSpreads(source, chosen);
            foreach (var (metric, value) in new[] { ("ttft_ms", p.TtftMeanMs), ("itl_ms", p.TpotMeanMs) })
            {
                if (value is > 0)
                {
                    rows.Add(new ValidationRow
                    {
                        Id = string.Create(C, $"{chosen}-{(open is null ? "c" : "r")}{SweepAnalysis.L(p.Load)}-{metric}"),
                        Source = source,
                        Quote = string.Create(C, $"measured {metric} mean {value:0.###} over {p.Ok} ok attempts at {(open is null ? "concurrency " + SweepAnalysis.L(p.Load) : $"{SweepAnalysis.L(p.Load)} req/s ({open.Value.Describe})")}"),
                        Hardware = request.Hardware,
                        Model = request.Model,
                        Precision = precision,
                        TensorParallel = request.TensorParallel,
                        Concurrency = open is null ? (int)p.Load : 1,
                        RequestRate = open is null ? null : p.Load,
                        Arrival = open?.Arrival,
                        Burstiness = open?.Burstiness,
                        InputTokens = (int)Math.Round(p.MeanInputTokens!.Value),
                        OutputTokens = (int)Math.Round(p.MeanOutputTokens!.Value),
                        Metric = metric,
                        Value = value.Value,
                        LengthSpread = promptSpread > 0 ? promptSpread : null,
                        AnswerLengthSpread = answerSpread != promptSpread ? answerSpread : null,
                        SendGapMs = gap?.Ms,
                    });
                }
            }
        }

        return rows.Count > 0 ? rows
            : throw new InputException($"--from-run {request.SweepDirectory}: backend {chosen} has no step with ok attempts of at least 2 answer tokens. Fix: rerun the sweep (every attempt failed, or answers were one token)");
    }

    /// <summary>Pairs of requests due together a sweep needs before its send gap is read (fewer: none, the lockstep).</summary>
    public const int MinSendGapPairs = 5;

    /// <summary>
    /// How far apart the sweep's load generator sent requests that were due together (<see cref="Load.LoadOptions.SendGapSeconds"/>),
    /// and from how many pairs. In a closed loop of c clients the k-th request (in start order) can leave only once k − c + 1
    /// requests have ended: it is due at the (k − c)-th end, or at the step's first start for the first c. Two consecutive
    /// requests were due together when the second was already due as the first left; the gap between their starts is then
    /// the client's own pace, not the endpoint's. The result is the median of those gaps over every closed-loop step of two
    /// or more clients (warm-ups and other backends left out); one figure, since it belongs to the client machine, not the
    /// load. Null with fewer than <see cref="MinSendGapPairs"/> such pairs: a client whose requests never come due together
    /// (answers of many lengths) is not held back by its pace, and is replayed without one.
    /// </summary>
    public static (double Ms, int Pairs)? SendGap(SweepReport sweep, string sweepDirectory, string backend)
    {
        ArgumentNullException.ThrowIfNull(sweep);
        var gaps = new List<double>();
        foreach (var point in sweep.Points.Where(p => p.Backend == backend && p.Load >= 2))
        {
            var dir = sweep.Steps.FirstOrDefault(s => s.Index == point.Step)?.RunDir;
            var path = dir is null ? null : Path.Combine(sweepDirectory, dir, AttemptLog.FileName);
            if (path is null || !File.Exists(path))
            {
                continue;
            }

            var clients = (int)point.Load;
            var attempts = AttemptLog.Read(path).Records.Where(a => !a.Slot.Warmup && a.Slot.Backend == backend).ToList();
            var starts = attempts.Select(a => a.StartUs).Order().ToList();
            var ends = attempts.Select(a => a.StartUs + (a.Events.Count > 0 ? a.Events.Max(e => e.OffsetMicroseconds) : 0)).Order().ToList();
            long Due(int k) => k < clients ? starts[0] : ends[k - clients];
            for (var k = 0; k + 1 < starts.Count; k++)
            {
                if (Due(k + 1) <= starts[k])
                {
                    gaps.Add((starts[k + 1] - starts[k]) / 1000.0);
                }
            }
        }

        if (gaps.Count < MinSendGapPairs)
        {
            return null;
        }

        gaps.Sort();
        return (Math.Round(Math.Min(Core.Metrics.LatencyStatistics.Percentile(gaps, 0.5), 999), 3), gaps.Count);
    }

    /// <summary>The widest length spread a row may carry (validation refuses 1: a request of no tokens).</summary>
    public const double MaxLengthSpread = 0.9;

    /// <summary>
    /// How much a step's prompt and answer lengths varied, each as the uniform ± fraction of its mean that the simulator draws
    /// (<c>lengthSpread</c>, <c>answerLengthSpread</c>): √3 × the coefficient of variation of the ok attempts' prompt tokens, and
    /// of their answer tokens (a uniform ± a has a coefficient of variation of a / √3), each at most <see cref="MaxLengthSpread"/>;
    /// 0 when the step's attempts cannot be read. The two are kept apart because they do different things to the replay: prompts
    /// of mixed lengths spread the sweep's clients out, while answers that all stop at the same token cap bring them back
    /// together at every wave, and identical requests started together queue every prefill behind the others'. Before
    /// 2026-12-08 one spread, the mean of the two, was applied to both, and a sweep whose answers all hit the cap was replayed
    /// out of the lockstep it ran in (its concurrency-16 first token: 17 ms replayed, 51 ms measured).
    /// </summary>
    public static (double Prompts, double Answers) LengthSpreads(string stepDirectory, string backend)
    {
        var path = Path.Combine(stepDirectory, AttemptLog.FileName);
        if (!File.Exists(path))
        {
            return (0, 0);
        }

        var ok = AttemptLog.Read(path).Records.Where(a => !a.Slot.Warmup && a.Slot.Backend == backend && a.Outcome.Status == AttemptStatus.Ok).ToList();
        if (ok.Count < 2)
        {
            return (0, 0);
        }

        static double Cv(IReadOnlyList<double> xs)
        {
            var mean = xs.Average();
            return mean > 0 ? Math.Sqrt(xs.Sum(x => (x - mean) * (x - mean)) / (xs.Count - 1)) / mean : 0;
        }

        var prompts = ok.Select(a => (double)(a.Tokens.InputUsage ?? a.Tokens.InputTokenizer)).ToList();
        var answers = ok.Select(a => (double)(a.Tokens.OutputUsage ?? a.Tokens.OutputTokenizer)).ToList();
        static double Spread(IReadOnlyList<double> xs) => Math.Round(Math.Min(MaxLengthSpread, Math.Sqrt(3) * Cv(xs)), 3);
        return (Spread(prompts), Spread(answers));
    }

    /// <summary>
    /// A rate step's arrival process, from its run's manifest: the simulator replays the same seeded schedule kind
    /// (<see cref="ArrivalSchedule"/>, shared with <c>run</c>). A step without a manifest ran the run's default, Poisson.
    /// </summary>
    private static (string Arrival, double Burstiness, string Describe) OpenLoop(string stepDirectory)
    {
        var run = new RunDirectory(stepDirectory);
        if (!run.Exists)
        {
            return ("poisson", 1.0, "Poisson arrivals, the run's default: the step has no manifest");
        }

        var plan = run.ReadManifest().Plan;
        return (plan.Arrival, plan.Burstiness, plan.Arrival == "gamma" ? string.Create(C, $"gamma arrivals, burstiness {plan.Burstiness}") : "Poisson arrivals");
    }

    private static string DescribeLoad(IReadOnlyList<ValidationRow> rows)
    {
        if (rows[0].RequestRate is null)
        {
            return rows[0].SendGapMs is { } gap
                ? string.Create(C, $"closed loop: each step's concurrency; requests due together sent {gap:0.###} ms apart (the client's pace: the median gap between the starts of requests that were due together)")
                : $"closed loop: each step's concurrency; requests due together sent together (fewer than {MinSendGapPairs} pairs of requests were due together to measure the client's pace)";
        }

        var kinds = string.Join("; ", rows.Select(r => r.Arrival == "gamma" ? string.Create(C, $"gamma arrivals, burstiness {r.Burstiness}") : "Poisson arrivals").Distinct(StringComparer.Ordinal));
        // The same fact OpenLoop read: a row's source is its step's run directory, and one without a manifest ran the default.
        var assumed = rows.Any(r => !new RunDirectory(r.Source).Exists) ? ", a step without a manifest taken as the run's default" : "";
        return $"open loop: each step's rate with {kinds} (from the steps' manifests{assumed}), replayed by the simulator's own seeded schedule";
    }

    /// <summary>Reads the sweep, fits the constants with <see cref="ProfileFitter"/>, and returns the fit with the errors before and after.</summary>
    public static SweepCalibrationResult Fit(ProfileCatalog catalog, SweepCalibrationRequest request)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(request);
        var sweep = SweepAnalysis.Read(request.SweepDirectory);
        var hardware = catalog.GetHardware(request.Hardware);
        var model = catalog.GetModel(request.Model);
        var precision = request.Precision ?? model.DefaultPrecision;
        if (Precision.Find(precision) is null)
        {
            throw new InputException($"--precision {precision}: unknown. Fix: use one of: {string.Join(", ", Precision.All.Select(p => p.Name))}");
        }

        var constants = request.Constants.Count > 0 ? request.Constants : DefaultConstants;
        var rows = Rows(sweep, request with { Hardware = hardware.Id }, precision, out var backend);
        var before = rows.Select(r => Predict(catalog, r)).ToList();
        var fit = ProfileFitter.Fit(catalog, new ValidationFile { FormatVersion = 1, Rows = rows }, hardware.Id, constants);
        var fitted = fit.Constants.Aggregate(hardware, (h, k) => ProfileFitter.With(h, k.Name, k.Value));
        var table = rows.Select((r, i) => new SweepCalibrationRow(r.Id, r.Metric, r.Concurrency, r.RequestRate, r.InputTokens, r.OutputTokens, r.Value, before[i], fit.Rows[i].Predicted, r.LengthSpread ?? 0, r.AnswerLengthSpread ?? r.LengthSpread ?? 0)).ToList();
        var beforeResults = rows.Select((r, i) => new ValidationResult(r, before[i])).ToList();
        var startValues = constants.ToDictionary(n => n, n => ProfileFitter.ValueOf(hardware, n), StringComparer.Ordinal);
        var points = sweep.Points.Where(p => p.Backend == backend && p.Ok > 0).ToList();
        var leftOut = LeaveOneStepOut(catalog, rows, hardware, constants, request.SweepDirectory, backend, points);
        return new SweepCalibrationResult(hardware.Id, backend, request.SweepDirectory, DescribeLoad(rows), fit.Constants, startValues, table,
            ValidationRunner.MedianAbsoluteError(beforeResults), beforeResults.Max(r => r.Ratio), fit.MedianAbsoluteError, fit.WorstRatio, fitted with { SweepFit = leftOut }, leftOut);
    }

    /// <summary>Steps a sweep needs before its fit is checked on left-out steps: with two, each fit would rest on one load.</summary>
    public const int MinStepsLeftOut = 3;

    /// <summary>
    /// The fit's error on points it has not seen: each step (its mean TTFT and TPOT rows) is left out in turn, the constants
    /// are fitted on the other steps from the same start, and the left-out step is predicted. The in-sample error of
    /// <see cref="Fit"/> flatters the fit (two constants can bend to three points); this one does not. Null with fewer than
    /// <see cref="MinStepsLeftOut"/> steps, or when no step measured its output throughput (the load the error holds for).
    /// </summary>
    public static SweepFitError? LeaveOneStepOut(ProfileCatalog catalog, IReadOnlyList<ValidationRow> rows, HardwareProfile start, IReadOnlyList<string> constants,
        string run, string backend, IReadOnlyList<SweepPoint> points)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(rows);
        ArgumentNullException.ThrowIfNull(start);
        ArgumentNullException.ThrowIfNull(points);
        var steps = rows.GroupBy(r => (r.Concurrency, r.RequestRate)).ToList();
        var rates = points.Select(p => p.OutputTokenThroughputTps).Where(t => t > 0 && double.IsFinite(t)).ToList();
        if (steps.Count < MinStepsLeftOut || rates.Count == 0)
        {
            // Too few loads to leave one out, or no measured throughput to say what load the error holds for.
            return null;
        }

        var results = new List<ValidationResult>();
        foreach (var step in steps)
        {
            var held = step.ToHashSet();
            var file = new ValidationFile { FormatVersion = 1, Rows = [.. rows.Select(r => held.Contains(r) ? r with { Holdout = true } : r)] };
            var fit = ProfileFitter.Fit(catalog, file, start.Id, constants);
            var fitted = fit.Constants.Aggregate(start, (h, k) => ProfileFitter.With(h, k.Name, k.Value));
            var others = ProfileFitter.Catalog(catalog, fitted);
            results.AddRange(step.Select(r => new ValidationResult(r, Predict(others, r))));
        }

        double Worst(string metric) => results.Where(r => r.Row.Metric == metric).Select(r => double.IsFinite(r.Ratio) ? r.Ratio : double.MaxValue).DefaultIfEmpty(1).Max();
        return new SweepFitError
        {
            // Absolute, so that procure run from another folder still finds the sweep to draw it.
            Run = Path.GetFullPath(run),
            Backend = backend,
            Steps = steps.Count,
            TtftWorstRatio = Worst("ttft_ms"),
            TpotWorstRatio = Worst("itl_ms"),
            MedianAbsoluteError = ValidationRunner.MedianAbsoluteError(results),
            OutputTokensPerSecondMin = rates.Min(),
            OutputTokensPerSecondMax = rates.Max(),
            InputTokensMin = rows.Min(r => r.InputTokens),
            InputTokensMax = rows.Max(r => r.InputTokens),
        };
    }

    /// <summary>
    /// Writes a profiles folder that <c>simulate --profiles DIR --hw ID-fitted</c> loads: every profile of the catalog, the
    /// fitted one as <c>ID-fitted</c> and, for each id in <paramref name="applyTo"/>, that hardware with the fitted constants
    /// as <c>ID-fitted</c>. Refuses a folder that already holds profiles: a committed profile is never overwritten.
    /// </summary>
    public static IReadOnlyList<string> WriteProfiles(ProfileCatalog catalog, SweepCalibrationResult result, IReadOnlyList<string> applyTo, string directory, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(result);
        ArgumentNullException.ThrowIfNull(applyTo);
        var hardwarePath = Path.Combine(directory, "hardware.json");
        var modelsPath = Path.Combine(directory, "models.json");
        if (File.Exists(hardwarePath) || File.Exists(modelsPath))
        {
            throw new InputException($"--write {directory}: it already holds profiles (hardware.json or models.json); a profile folder is never overwritten. Fix: write into a new folder");
        }

        var source = new Func<string, FigureSource>(field => new FigureSource(field, result.SweepDirectory,
            string.Create(C, $"fitted by spark-eval simulate calibrate --from-run on {result.Rows.Count} measured points of backend {result.Backend} ({now:yyyy-MM-dd}); median |error| {result.AfterMedianError * 100:F1} %")));
        HardwareProfile Derived(HardwareProfile h, bool measured)
        {
            var d = result.Constants.Aggregate(h, (x, k) => ProfileFitter.With(x, k.Name, k.Value));
            return d with
            {
                Id = h.Id + "-fitted",
                // The sweep's own error belongs to the hardware it measured; carried to other hardware, the family's band applies.
                SweepFit = measured ? result.LeftOut : null,
                Name = h.Name + " (constants fitted to a measured sweep)",
                Sources = [.. h.Sources.Where(s => result.Constants.All(k => k.Name != s.Field)), .. result.Constants.Select(k => source(k.Name))],
            };
        }

        var derived = new List<HardwareProfile> { Derived(catalog.GetHardware(result.Hardware), measured: true) };
        foreach (var id in applyTo.Where(id => !string.Equals(id, result.Hardware, StringComparison.OrdinalIgnoreCase)))
        {
            derived.Add(Derived(catalog.GetHardware(id, "--apply-to"), measured: false));
        }

        if (derived.FirstOrDefault(d => catalog.Hardware.Any(h => string.Equals(h.Id, d.Id, StringComparison.OrdinalIgnoreCase))) is { } clash)
        {
            throw new InputException($"--write: the catalog already has a profile '{clash.Id}'. Fix: calibrate from a catalog without it (--profiles)");
        }

        Directory.CreateDirectory(directory);
        var hardwareFile = new HardwareFile { FormatVersion = ProfileCatalog.FormatVersion, Hardware = [.. catalog.Hardware, .. derived] };
        var modelFile = new ModelFile { FormatVersion = ProfileCatalog.FormatVersion, Models = [.. catalog.Models] };
        var hardwareJson = JsonSerializer.Serialize(hardwareFile, SimulatorJsonContext.Default.HardwareFile) + "\n";
        var modelsJson = JsonSerializer.Serialize(modelFile, SimulatorJsonContext.Default.ModelFile) + "\n";
        // Checked as the loader will check them, before anything is written.
        _ = ProfileCatalog.ParseHardware(hardwarePath, System.Text.Encoding.UTF8.GetBytes(hardwareJson));
        _ = ProfileCatalog.ParseModels(modelsPath, System.Text.Encoding.UTF8.GetBytes(modelsJson));
        File.WriteAllText(modelsPath, modelsJson);
        File.WriteAllText(hardwarePath, hardwareJson);
        return [.. derived.Select(d => d.Id)];
    }

    private static double Predict(ProfileCatalog catalog, ValidationRow row)
    {
        try
        {
            return ValidationRunner.Predict(catalog, row);
        }
        catch (InputException)
        {
            return double.NaN;
        }
    }
}
