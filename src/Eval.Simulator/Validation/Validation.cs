using System.Globalization;
using System.Text;
using System.Text.Json;
using Spark.Eval.Core;
using Spark.Eval.Simulator.Latency;
using Spark.Eval.Simulator.Load;
using Spark.Eval.Simulator.Profiles;

namespace Spark.Eval.Simulator.Validation;

/// <summary>One published measurement: where it comes from (address and quote), the setup, the metric and the value.</summary>
public sealed record ValidationRow
{
    public required string Id { get; init; }
    public required string Source { get; init; }
    public required string Quote { get; init; }
    public required string Hardware { get; init; }
    public required string Model { get; init; }
    public required string Precision { get; init; }
    public int TensorParallel { get; set; } = 1;
    /// <summary>Closed-loop concurrency (the batch a benchmark keeps in flight); offline runs use the request count.</summary>
    public int Concurrency { get; set; } = 1;
    /// <summary>Open loop instead: requests per second from a seeded schedule (<see cref="Arrival"/>, <see cref="Burstiness"/>); <see cref="Concurrency"/> is then unused.</summary>
    public double? RequestRate { get; init; }
    /// <summary>The open loop's arrival process: poisson (default) or gamma, as <c>run --arrival</c>.</summary>
    public string? Arrival { get; init; }
    /// <summary>The gamma process's shape (1 = Poisson), as <c>run --burstiness</c>.</summary>
    public double? Burstiness { get; init; }
    /// <summary>Requests simulated (default: max(40 · concurrency, 64), the first quarter excluded as warm-up; all in flight at once when ≤ concurrency).</summary>
    public int? Requests { get; init; }
    public int InputTokens { get; init; }
    public int OutputTokens { get; init; }
    /// <summary>ttft_ms (mean, or median where <see cref="Statistic"/> says so), itl_ms (mean time per output token, or the median request's), output_tps (all requests), user_tps (1000 / ITL of one stream).</summary>
    public required string Metric { get; init; }
    public double Value { get; init; }
    /// <summary>Measured inside the engine process (no HTTP, no network): no round trip, and the request overhead is the profile's in-process one.</summary>
    public bool InProcess { get; init; }

    /// <summary>
    /// The serving engine the row was measured under (vllm, sglang, trtllm, nim, llama.cpp, …: <see cref="ServingEngines.Known"/>),
    /// set from the row's source; the profile's <c>engineRequestOverheadMs</c> for it replaces <c>requestOverheadMs</c>. Null: the profile's.
    /// </summary>
    public string? Engine { get; init; }

    /// <summary>The row's tool prefills every prompt of its batch before decoding and times decoding alone (llama-batched-bench's T_TG).</summary>
    public bool PrefillFirst { get; init; }

    /// <summary>
    /// The row's engine ran with asynchronous scheduling (vLLM <c>--async-scheduling</c>, as its quote shows): the scheduler
    /// forms step N+1 while step N runs on the device (docs/simulator.md, "Thirteenth pass").
    /// </summary>
    public bool AsyncScheduling { get; init; }

    /// <summary>
    /// The row's requests come from a dataset whose lengths vary around the row's means: <c>sharegpt</c> (vLLM's ShareGPT
    /// benchmark, <see cref="LengthDistribution.ShareGpt"/>); absent or <c>fixed</c>: every request at the means.
    /// </summary>
    public string? Lengths { get; init; }

    /// <summary>
    /// The row's lengths are drawn uniformly within ± this fraction of the means (vLLM <c>bench serve --random-range-ratio</c>,
    /// as the row's source states it, e.g. "±15 % variance"); 0 or absent: every request at the means. Not with <see cref="Lengths"/>.
    /// </summary>
    public double? LengthSpread { get; init; }

    /// <summary>
    /// The answers' uniform ± spread where it differs from the prompts' (<see cref="LengthSpread"/>, which then covers the
    /// prompts alone): a measured sweep step whose answers all hit the token cap has 0 here (<c>simulate calibrate --from-run</c>).
    /// </summary>
    public double? AnswerLengthSpread { get; init; }

    /// <summary>
    /// Closed loop: the load generator sent requests due at the same moment at least this many milliseconds apart (the
    /// simulator's <see cref="LoadOptions.SendGapSeconds"/>); <c>simulate calibrate --from-run</c> measures it from the sweep's
    /// start times. Absent: together.
    /// </summary>
    public double? SendGapMs { get; init; }

    /// <summary>
    /// Which statistic of the row's metric its source reports: <c>mean</c> (default) or <c>median</c> (ttft_ms: the median request's
    /// first-token time; itl_ms: the median request's time per output token, compared with a published median inter-token latency).
    /// </summary>
    public string? Statistic { get; init; }

    /// <summary>
    /// The engine's cap on sequences in flight when the row's quote states it (vLLM <c>--max-num-seqs</c>, e.g. the AMD ROCm
    /// tables' "Max Num Seqs" column); it replaces the profile's <c>maxBatch</c> for this row. Absent: the profile's.
    /// </summary>
    public int? MaxBatch { get; init; }
    /// <summary>A held-out row: added after calibration and never used to fit constants; reported apart, bounds not asserted.</summary>
    public bool Holdout { get; init; }
    public string? Note { get; init; }
}

/// <summary>The validation data file: hw-profiles/validation.json.</summary>
public sealed record ValidationFile
{
    public int FormatVersion { get; init; }
    public IReadOnlyList<ValidationRow> Rows { get; init => field = value ?? []; } = [];
}

/// <summary>A row beside the simulator's prediction: error = (predicted − published) / published; ratio = max(p/m, m/p).</summary>
public sealed record ValidationResult(ValidationRow Row, double Predicted, string Family = "")
{
    /// <summary>True when the row's model is a mixture of experts (set where the catalog is at hand: the validation runs and <see cref="ErrorBands.RunKnown"/>).</summary>
    public bool MixtureOfExperts { get; init; }

    /// <summary>
    /// The regime a row tests: single-stream decode (batch-1 ITL or user speed), batch-1 prefill (TTFT at concurrency 1),
    /// latency under load (TTFT or ITL at concurrency &gt; 1) or saturated throughput (output tokens per second).
    /// </summary>
    public string Regime => Row.Metric switch
    {
        _ when Row.RequestRate is not null => Row.Metric == "output_tps" ? "saturated throughput" : "latency under load",
        "output_tps" when Row.Concurrency <= 1 => "single-stream decode",
        "output_tps" => "saturated throughput",
        "user_tps" => "single-stream decode",
        "itl_ms" when Row.Concurrency <= 1 => "single-stream decode",
        "ttft_ms" when Row.Concurrency <= 1 => "batch-1 prefill",
        _ => "latency under load",
    };

    public double Error => (Predicted - Row.Value) / Row.Value;

    public double Ratio => Predicted > 0 ? Math.Max(Predicted / Row.Value, Row.Value / Predicted) : double.PositiveInfinity;
}

/// <summary>Runs every validation row through the simulator and renders docs/simulator-validation.md.</summary>
public static class ValidationRunner
{
    public static readonly IReadOnlySet<string> Metrics = new HashSet<string>(StringComparer.Ordinal) { "ttft_ms", "itl_ms", "output_tps", "user_tps" };

    public static ValidationFile Load(string? path)
    {
        byte[] bytes;
        string name;
        if (path is null)
        {
            bytes = ProfileCatalog.ReadEmbedded("validation.json") ?? throw new InvalidOperationException("validation.json not embedded");
            name = "embedded:hw-profiles/validation.json";
        }
        else
        {
            if (!File.Exists(path))
            {
                throw new InputException($"{path}: file not found. Fix: pass hw-profiles/validation.json");
            }

            bytes = File.ReadAllBytes(path);
            name = path;
        }

        ValidationFile file;
        try
        {
            file = JsonSerializer.Deserialize(bytes, SimulatorJsonContext.Default.ValidationFile) ?? new ValidationFile();
        }
        catch (JsonException ex)
        {
            throw InputException.At(name, ex.LineNumber is { } l ? (int)l + 1 : null, ex.Path, "is not valid JSON for a validation file", "see docs/simulator-validation.md for the row shape");
        }

        if (file.FormatVersion != 1)
        {
            throw InputException.At(name, null, "formatVersion", "must be 1", "set \"formatVersion\": 1");
        }

        for (var i = 0; i < file.Rows.Count; i++)
        {
            var r = file.Rows[i];
            if (!Metrics.Contains(r.Metric))
            {
                throw InputException.At(name, null, $"rows[{i}].metric", $"'{r.Metric}' is unknown", $"use one of: {string.Join(", ", Metrics)}");
            }

            if (r.Value <= 0 || string.IsNullOrWhiteSpace(r.Source) || string.IsNullOrWhiteSpace(r.Quote))
            {
                throw InputException.At(name, null, $"rows[{i}] ('{r.Id}')", "needs value > 0, source and quote", "every row carries its source address and the quoted figure");
            }

            if (r.RequestRate is { } rate && !(double.IsFinite(rate) && rate > 0))
            {
                throw InputException.At(name, null, $"rows[{i}].requestRate", $"{rate} is not a rate", "give requests per second > 0, or drop it for a closed-loop row");
            }

            if (r.Arrival is not (null or "poisson" or "gamma") || r.Burstiness is <= 0 || (r.Burstiness is { } k && !double.IsFinite(k)))
            {
                throw InputException.At(name, null, $"rows[{i}].arrival", $"'{r.Arrival}' with burstiness {r.Burstiness} is not an arrival process", "use poisson, or gamma with a burstiness > 0 (1 = Poisson)");
            }

            if (r.Engine is not null && !ServingEngines.IsKnown(r.Engine))
            {
                throw InputException.At(name, null, $"rows[{i}].engine", $"'{r.Engine}' ('{r.Id}') is not a known serving engine", $"use one of: {string.Join(", ", ServingEngines.Known)}, or drop it for the profile's request overhead");
            }

            if (r.RequestRate is null && (r.Arrival is not null || r.Burstiness is not null))
            {
                throw InputException.At(name, null, $"rows[{i}].arrival", "is set on a closed-loop row", "add requestRate (open loop) or drop arrival and burstiness");
            }

            if (r.MaxBatch is < 1)
            {
                throw InputException.At(name, null, $"rows[{i}].maxBatch", $"{r.MaxBatch} ('{r.Id}') is not a batch cap", "give the engine's max sequences in flight as the row's source states it (>= 1), or drop it for the profile's maxBatch");
            }

            if (r.LengthSpread is { } spread && (!double.IsFinite(spread) || spread < 0 || spread >= 1 || r.Lengths is not null))
            {
                throw InputException.At(name, null, $"rows[{i}].lengthSpread", $"{spread} ('{r.Id}') is not a uniform spread{(r.Lengths is not null ? " beside lengths" : string.Empty)}", "give the ± fraction the source states (0 <= spread < 1, e.g. 0.15 for vLLM's --random-range-ratio 0.15), and drop lengths");
            }

            if (r.AnswerLengthSpread is { } answerSpread && (!double.IsFinite(answerSpread) || answerSpread < 0 || answerSpread >= 1 || r.Lengths is not null))
            {
                throw InputException.At(name, null, $"rows[{i}].answerLengthSpread", $"{answerSpread} ('{r.Id}') is not a uniform spread{(r.Lengths is not null ? " beside lengths" : string.Empty)}", "give the answers' ± fraction (0 <= spread < 1), and drop lengths");
            }

            if (r.SendGapMs is { } sendGap && (!double.IsFinite(sendGap) || sendGap < 0 || sendGap >= 1000 || r.RequestRate is not null))
            {
                throw InputException.At(name, null, $"rows[{i}].sendGapMs", $"{sendGap} ('{r.Id}') is not a closed loop's send gap", "give the milliseconds between requests the load generator sent together (0 <= gap < 1000) on a concurrency row, or drop it (an open loop's requests leave on their own schedule)");
            }

            if (r.Statistic is not (null or "mean" or "median") || (r.Statistic == "median" && r.Metric is not ("ttft_ms" or "itl_ms")))
            {
                throw InputException.At(name, null, $"rows[{i}].statistic", $"'{r.Statistic}' ('{r.Id}', metric {r.Metric}) is not a statistic the simulator reports", "use mean (default) or median, the latter on ttft_ms or itl_ms rows");
            }

            if (r.Lengths is not null && !LengthDistribution.IsKnown(r.Lengths))
            {
                throw InputException.At(name, null, $"rows[{i}].lengths", $"'{r.Lengths}' ('{r.Id}') is not a known length distribution", $"use one of: {string.Join(", ", LengthDistribution.Known)}, or drop it for every request at the mean lengths");
            }
        }

        return file;
    }

    /// <summary>
    /// Loads <paramref name="path"/> when given; else hw-profiles/validation.json beside the profiles (<paramref name="profilesDirectory"/>,
    /// or the hw-profiles/ folder above the working directory) when it exists; else the embedded copy.
    /// </summary>
    public static ValidationFile LoadBesideProfiles(string? path, string? profilesDirectory)
    {
        if (path is null && (profilesDirectory ?? ProfileCatalog.FindDirectory(Directory.GetCurrentDirectory())) is { } dir && File.Exists(Path.Combine(dir, "validation.json")))
        {
            path = Path.Combine(dir, "validation.json");
        }

        return Load(path);
    }

    public static IReadOnlyList<ValidationResult> Run(ProfileCatalog catalog, ValidationFile file)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(file);
        return [.. file.Rows.Select(row => new ValidationResult(row, Predict(catalog, row), catalog.GetHardware(row.Hardware, $"validation row {row.Id}: hardware").Family)
        {
            MixtureOfExperts = catalog.GetModel(row.Model).IsMixtureOfExperts,
        })];
    }

    public static double Predict(ProfileCatalog catalog, ValidationRow row)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(row);
        // The row's serving engine first (its request overhead where the profile lists one); in process then replaces it.
        var hw = ServingEngines.Apply(catalog.GetHardware(row.Hardware, $"validation row {row.Id}: hardware"), row.Engine, $"validation row {row.Id}: engine");
        if (row.InProcess)
        {
            // No HTTP server or network: only the runtime's own per-call cost remains.
            hw = LoadDefaults.InProcess(hw);
        }

        if (row.MaxBatch is { } cap)
        {
            // The engine ran with its sequence cap set (the row's source states it).
            hw = hw with { MaxBatch = cap };
        }

        var model = catalog.GetModel(row.Model, $"validation row {row.Id}: model");
        var precision = Precision.Find(row.Precision) ?? throw new InputException($"validation row {row.Id}: precision '{row.Precision}' is unknown. Fix: use one of: {string.Join(", ", Precision.All.Select(p => p.Name))}");
        var latency = new LatencyModel(hw, model, precision, row.TensorParallel);
        // The same defaults as `spark-eval simulate`: steady state, the profile's serving-stack scheduler; the row gives only its setup.
        var options = LoadDefaults.For(hw, row.InputTokens, row.OutputTokens, row.RequestRate is null ? row.Concurrency : null, rate: row.RequestRate,
            requests: row.Requests, prefillFirst: row.PrefillFirst, asyncScheduling: row.AsyncScheduling, lengths: LengthDistribution.Find(row.Lengths)) with { Arrival = row.Arrival ?? "poisson", Burstiness = row.Burstiness ?? 1.0, LengthSpread = row.LengthSpread ?? 0, OutputLengthSpread = row.AnswerLengthSpread, SendGapSeconds = (row.SendGapMs ?? 0) / 1000 };
        var stats = LoadSimulator.Summarize(LoadSimulator.Run(latency, options));
        var median = row.Statistic == "median";
        return row.Metric switch
        {
            "ttft_ms" => median ? stats.TtftP50Ms : stats.TtftMeanMs,
            "itl_ms" => median ? stats.TpotP50Ms : stats.TpotMeanMs,
            "output_tps" => stats.OutputTokensPerSecond,
            "user_tps" => 1000.0 / stats.TpotMeanMs,
            _ => throw new InvalidOperationException(row.Metric),
        };
    }

    public static double MedianAbsoluteError(IReadOnlyList<ValidationResult> results)
    {
        ArgumentNullException.ThrowIfNull(results);
        var errors = results.Select(r => Math.Abs(r.Error)).Order().ToArray();
        return errors.Length == 0 ? double.NaN : Core.Metrics.LatencyStatistics.Percentile(errors, 0.5);
    }

    /// <summary>Renders the validation page (a generated file: regenerate with <c>spark-eval simulate validate --write</c>).</summary>
    public static string RenderMarkdown(IReadOnlyList<ValidationResult> results, string preamble)
    {
        ArgumentNullException.ThrowIfNull(results);
        ArgumentNullException.ThrowIfNull(preamble);
        var sb = new StringBuilder();
        sb.Append(preamble.TrimEnd()).Append("\n\n");
        var calibration = results.Where(r => !r.Row.Holdout).ToList();
        var holdout = results.Where(r => r.Row.Holdout).ToList();
        sb.Append("## Calibration table (bounds asserted by ValidationTests)\n\n");
        AppendTable(sb, calibration);
        if (holdout.Count > 0)
        {
            sb.Append("\n## Holdout rows (never fitted; bounds not asserted)\n\n");
            sb.Append("These published rows are never used to fit a constant. TensorRT-LLM v0.5 and v0.6.1 rows (2023, static batching,\n");
            sb.Append("in process) test the 2023 serving-stack constants fitted on the 4 H100 v0.5 first-token rows: the H100 v0.6.1\n");
            sb.Append("static-batch throughput rows on other batch sizes, lengths and TP degrees, and the A100 and L40S LLaMA rows on\n");
            sb.Append("other device families (Ampere, Ada: each has its own compute efficiency, fitted on its 2 GPT-J 6B first-token\n");
            sb.Append("calibration rows, and borrows the other constants). vLLM rows (H200, batch 8) test the 2025 Hopper constants,\n");
            sb.Append("fitted on TensorRT-LLM and NIM rows, under another serving stack. These rows were visible while choosing what to\n");
            sb.Append("calibrate (which rows, which constants): they are unseen only in that no constant is fitted to them.\n");
            sb.Append("The rows whose note says \"pre-registered holdout\" (MI300X, vLLM: AMD's ROCm performance page and Oracle's OCI blog)\n");
            sb.Append("were committed on 2026-12-06 before any model change of issue #20 (git history shows the order); their errors\n");
            sb.Append("were seen when they were committed (35 rows: median 9.8 %, worst 1.66×). No constant was fitted to them since. The\n");
            sb.Append("model changes of issue #20 (serving-stack KV capacity, MI300X constants of its own fitted with `simulate fit` on\n");
            sb.Append("8 calibration rows from the Oct 2025 version of AMD's ROCm page, other models and the latency table) moved them;\n");
            sb.Append("those calibration rows share a page and a stack with the 3 MI300X 70B holdout rows, so read the MI300X holdout\n");
            sb.Append("error as the error under a stack whose other rows were fitted.\n\n");
            AppendTable(sb, holdout);
        }

        return sb.ToString();
    }

    /// <summary>The error summary (calibration and holdout apart, per regime and per family): what <c>simulate validate --summary</c> prints.</summary>
    public static string RenderSummary(IReadOnlyList<ValidationResult> results)
    {
        ArgumentNullException.ThrowIfNull(results);
        var c = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        foreach (var (title, set) in new[] { ("calibration (fitted)", results.Where(r => !r.Row.Holdout).ToList()), ("holdout (never fitted)", results.Where(r => r.Row.Holdout).ToList()) })
        {
            if (set.Count == 0)
            {
                continue;
            }

            var worst = set.MaxBy(r => r.Ratio)!;
            sb.Append(c, $"{title}: {set.Count} rows, median absolute error {MedianAbsoluteError(set) * 100:F1} %, worst {worst.Ratio:F2}× ({worst.Row.Id})\n");
            foreach (var g in set.GroupBy(r => "regime " + r.Regime).Concat(set.GroupBy(r => "family " + r.Family)).OrderBy(g => g.Key, StringComparer.Ordinal))
            {
                var w = g.MaxBy(r => r.Ratio)!;
                sb.Append(c, $"  {g.Key,-36} {g.Count(),3} rows  median {MedianAbsoluteError([.. g]) * 100,5:F1} %  worst {w.Ratio,5:F2}×  {w.Row.Id}\n");
            }
        }

        // The bands simulate and procure read for a candidate's TPOT: its family's rows of models of its own architecture (ErrorBands.BoundOf).
        var tpot = results.Where(r => r.Row.Holdout && ErrorBands.MeasureOf(r) == "tpot").ToList();
        if (tpot.Count > 0)
        {
            sb.Append("holdout TPOT rows by architecture (what a candidate's TPOT bound reads):\n");
            foreach (var g in tpot.GroupBy(r => (r.Family, Kind: r.MixtureOfExperts ? "mixture of experts" : "dense")).OrderBy(g => g.Key.Family, StringComparer.Ordinal).ThenBy(g => g.Key.Kind, StringComparer.Ordinal))
            {
                var w = g.MaxBy(r => r.Ratio)!;
                sb.Append(c, $"  {g.Key.Family + ", " + g.Key.Kind,-36} {g.Count(),3} rows  median {MedianAbsoluteError([.. g]) * 100,5:F1} %  worst {w.Ratio,5:F2}×  {w.Row.Id}\n");
            }
        }

        sb.Append("All predictions are SIMULATED; error = (simulated − published) / published.\n");
        return sb.ToString();
    }

    private static void AppendTable(StringBuilder sb, List<ValidationResult> results)
    {
        var c = CultureInfo.InvariantCulture;
        var worst = results.MaxBy(r => r.Ratio);
        sb.Append(c, $"**{results.Count} rows. Median absolute error {MedianAbsoluteError(results) * 100:F1} %. Worst row {worst?.Row.Id} at {worst?.Ratio:F2}× (error {Math.Round((worst?.Error ?? 0) * 100, 1) + 0.0:+0.0;-0.0;+0.0} %).**\n\n");
        foreach (var group in results.GroupBy(r => r.Row.Metric))
        {
            var mae = MedianAbsoluteError([.. group]);
            sb.Append(c, $"- {group.Key}: {group.Count()} rows, median absolute error {mae * 100:F1} %\n");
        }

        AppendBreakdown(sb, "family", results.GroupBy(r => r.Family).OrderBy(g => g.Key, StringComparer.Ordinal));
        AppendBreakdown(sb, "regime", results.GroupBy(r => r.Regime).OrderBy(g => g.Key, StringComparer.Ordinal));

        sb.Append("\n| # | id | hardware | model | precision | devices (TP) | concurrency / rate | in / out | metric | published | predicted | error | source | quoted figure |\n");
        sb.Append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
        var i = 0;
        foreach (var r in results)
        {
            i++;
            var row = r.Row;
            sb.Append(c, $"| {i} | {row.Id} | {row.Hardware} | {row.Model} | {row.Precision} | {row.TensorParallel} | {(row.RequestRate is { } rate ? string.Create(c, $"{rate:G4} req/s") : row.Concurrency.ToString(c))} | {row.InputTokens} / {row.OutputTokens}{(row.LengthSpread is > 0 ? string.Create(c, $" ±{row.LengthSpread:P0}") : string.Empty)}{(row.AnswerLengthSpread is { } answers ? string.Create(c, $" (answers ±{answers:P0})") : string.Empty)}{(row.SendGapMs is > 0 ? string.Create(c, $", sent ≥ {row.SendGapMs:0.###} ms apart") : string.Empty)} | {row.Metric}{(row.Statistic == "median" ? " (median)" : string.Empty)} | {row.Value:G6} | {r.Predicted:G4} | {Math.Round(r.Error * 100, 1) + 0.0:+0.0;-0.0;+0.0} % | <{row.Source}> | \"{Escape(row.Quote)}\"{(row.Note is null ? "" : " — " + Escape(row.Note))} |\n");
        }
    }

    private static void AppendBreakdown(StringBuilder sb, string by, IEnumerable<IGrouping<string, ValidationResult>> groups)
    {
        var c = CultureInfo.InvariantCulture;
        sb.Append(c, $"\n| {by} | rows | median absolute error | worst row | worst |\n|---|---:|---:|---|---:|\n");
        foreach (var g in groups)
        {
            var worst = g.MaxBy(r => r.Ratio)!;
            sb.Append(c, $"| {g.Key} | {g.Count()} | {MedianAbsoluteError([.. g]) * 100:F1} % | {worst.Row.Id} | {worst.Ratio:F2}× |\n");
        }
    }

    private static string Escape(string text) => text.Replace("|", "\\|", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);
}
