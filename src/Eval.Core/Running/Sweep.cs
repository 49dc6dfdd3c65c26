using System.Globalization;
using System.Text.Json;
using Spark.Eval.Core.Metrics;
using Spark.Eval.Core.Results;

namespace Spark.Eval.Core.Running;

/// <summary>
/// <c>run --sweep concurrency=1,4,16,64</c> (or <c>rate=0.5,1,2</c>): the load a sweep steps through, one ordinary run per
/// value, each with the plan's other settings unchanged.
/// </summary>
public sealed record SweepSpec(string Key, IReadOnlyList<double> Values)
{
    /// <summary>The most steps one list may name (a search adds at most <see cref="MaxSearchSteps"/> more).</summary>
    public const int MaxValues = 32;

    /// <summary>The most bisection steps <c>--sweep-search</c> may add.</summary>
    public const int MaxSearchSteps = 8;

    /// <summary>The keys a sweep may step: closed-loop requests in flight, or open-loop requests per second.</summary>
    public static IReadOnlyList<string> Keys { get; } = ["concurrency", "rate"];

    /// <summary>Parses <c>concurrency=1,4,16,64</c> or <c>rate=0.5,1,2</c>: values positive, strictly increasing; concurrency whole.</summary>
    public static SweepSpec Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        const string Example = "--sweep concurrency=1,4,16,64 (or --sweep rate=0.5,1,2)";
        var eq = text.IndexOf('=', StringComparison.Ordinal);
        if (eq <= 0)
        {
            throw new InputException($"--sweep '{text}': not key=v1,v2,…. Fix: write {Example}");
        }

        var key = text[..eq].Trim();
        if (!Keys.Contains(key, StringComparer.Ordinal))
        {
            throw new InputException($"--sweep '{text}': unknown sweep key '{key}'. Fix: sweep {string.Join(" or ", Keys)}, e.g. {Example}");
        }

        var parts = text[(eq + 1)..].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (parts.Length == 0)
        {
            throw new InputException($"--sweep '{text}': the list of values is empty. Fix: give at least one value, e.g. {Example}");
        }

        if (parts.Length > MaxValues)
        {
            throw new InputException($"--sweep '{text}': {parts.Length} values, at most {MaxValues}. Fix: sweep fewer points (add --sweep-search to refine between them)");
        }

        var values = new List<double>(parts.Length);
        foreach (var part in parts)
        {
            if (!double.TryParse(part, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !double.IsFinite(v) || v <= 0)
            {
                throw new InputException($"--sweep '{text}': '{part}' is not a positive number. Fix: write {Example}");
            }

            if (key == "concurrency" && (v != Math.Floor(v) || v > RunPlanLimits.MaxConcurrency))
            {
                throw new InputException($"--sweep '{text}': concurrency '{part}' must be a whole number 1..{RunPlanLimits.MaxConcurrency}. Fix: write e.g. concurrency=1,4,16,64");
            }

            if (values.Count > 0 && v <= values[^1])
            {
                throw new InputException($"--sweep '{text}': '{part}' is not above the value before it. Fix: list the values in increasing order, each once");
            }

            values.Add(v);
        }

        return new SweepSpec(key, values);
    }

    /// <summary>The plan of the step at <paramref name="value"/>: the swept setting set, everything else as given.</summary>
    public RunPlanSpec StepPlan(RunPlanSpec plan, double value)
    {
        ArgumentNullException.ThrowIfNull(plan);
        return Key == "concurrency" ? plan with { Concurrency = (int)value, Rate = null } : plan with { Rate = value };
    }

    /// <summary>The unit of the swept load in words (axis labels, tables).</summary>
    public string LoadLabel => Key == "concurrency" ? "concurrency (requests in flight)" : "offered rate (req/s)";

    /// <summary>The next value of a bisection between the last passing and the first failing load; null when they are adjacent (concurrency one apart, rate within 5 %).</summary>
    public double? Bisect(double passing, double failing)
    {
        if (Key == "concurrency")
        {
            var mid = Math.Floor((passing + failing) / 2);
            return failing - passing <= 1 ? null : mid;
        }

        return (failing - passing) / failing <= 0.05 ? null : Math.Round((passing + failing) / 2, 6);
    }

    public override string ToString() => Key + "=" + string.Join(",", Values.Select(v => v.ToString(CultureInfo.InvariantCulture)));
}

/// <summary>
/// The SLO a sweep step must meet (<c>--sweep-slo ttft_p99_ms=800,tpot_p99_ms=50,error_rate=0.01</c>): each target is an
/// upper bound on a summary figure named as in <c>--fail-if</c> (docs/metrics.md).
/// </summary>
public sealed record SweepSlo(IReadOnlyList<SweepTarget> Targets)
{
    /// <summary>No target: every step "meets" it, and no verdict is printed.</summary>
    public static SweepSlo None { get; } = new([]);

    public bool IsSet => Targets.Count > 0;

    /// <summary>Parses <c>ttft_p99_ms=800,tpot_p99_ms=50</c>: latency figures (<c>*_ms</c>) and <c>error_rate</c>, each at most once.</summary>
    public static SweepSlo Parse(string? text)
    {
        if (text is null)
        {
            return None;
        }

        const string Example = "--sweep-slo ttft_p99_ms=800,tpot_p99_ms=50,error_rate=0.01";
        var targets = new List<SweepTarget>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = part.IndexOf('=', StringComparison.Ordinal);
            var key = eq > 0 ? part[..eq].Trim() : part;
            if (eq <= 0 || !double.TryParse(part[(eq + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value) || value < 0)
            {
                throw new InputException($"--sweep-slo '{text}': '{part}' is not metric=number (an upper bound ≥ 0). Fix: write {Example}");
            }

            if (!(Threshold.KnownMetrics.Contains(key) && key.EndsWith("_ms", StringComparison.Ordinal)) && key != "error_rate")
            {
                throw new InputException($"--sweep-slo '{text}': '{key}' is not a latency figure or error_rate. Fix: use names such as ttft_p99_ms, tpot_p99_ms, itl_p99_ms, e2e_p99_ms, ttft_p50_ms, error_rate (docs/metrics.md)");
            }

            if (targets.Any(t => t.Metric == key))
            {
                throw new InputException($"--sweep-slo '{text}': {key} is given twice. Fix: give each target once");
            }

            targets.Add(new SweepTarget(key, value));
        }

        return targets.Count > 0 ? new SweepSlo(targets) : throw new InputException($"--sweep-slo '{text}': no target given. Fix: write {Example}");
    }

    public override string ToString() => IsSet ? string.Join(", ", Targets.Select(t => t.ToString())) : "none";
}

/// <summary>One sweep SLO target: the figure (as named in --fail-if) must be at most <paramref name="Max"/>.</summary>
public sealed record SweepTarget(string Metric, double Max)
{
    public override string ToString() => $"{Metric} ≤ {Max.ToString("0.####", CultureInfo.InvariantCulture)}";
}

/// <summary>sweep.json: a sweep's plan, its steps (each an ordinary run directory), one point per backend and step, and the verdicts.</summary>
public sealed record SweepReport
{
    public const int CurrentFormatVersion = 1;
    public const string FileName = "sweep.json";

    public int FormatVersion { get; init; } = CurrentFormatVersion;
    public required string SweepId { get; init; }
    /// <summary>What was swept: <c>concurrency</c> or <c>rate</c>.</summary>
    public required string Key { get; init; }
    /// <summary>The values as given (searched values are in <see cref="Steps"/>).</summary>
    public required IReadOnlyList<double> Values { get; init; }
    /// <summary>Bisection steps allowed by --sweep-search (0: none).</summary>
    public int SearchSteps { get; init; }
    public required IReadOnlyList<SweepTarget> Slo { get; init; }
    public required string Suite { get; init; }
    public required IReadOnlyList<string> Backends { get; init; }
    /// <summary>Each step, in the order run (listed values first, then searched ones).</summary>
    public required IReadOnlyList<SweepStep> Steps { get; init; }
    /// <summary>One point per backend and step, sorted by backend, then load.</summary>
    public required IReadOnlyList<SweepPoint> Points { get; init; }
    public required IReadOnlyList<SweepVerdict> Verdicts { get; init; }
    /// <summary>How the sweep ended: completed, interrupted (a step stopped by a signal) or duration_reached.</summary>
    public required string Status { get; init; }
    public IReadOnlyList<string> Notes { get; init; } = [];
}

/// <summary>One step of a sweep: the load, its run directory (relative to the sweep's), its run id and status, and whether a search added it.</summary>
public sealed record SweepStep(int Index, double Load, string RunDir, string RunId, string Status, bool Searched);

/// <summary>One backend's figures at one step, taken from that step's summary.json (ok attempts; error rate over decided ones).</summary>
public sealed record SweepPoint
{
    public required string Backend { get; init; }
    public bool Simulated { get; init; }
    public required double Load { get; init; }
    public required int Step { get; init; }
    public int Measured { get; init; }
    public int Ok { get; init; }
    public double ErrorRate { get; init; }
    public double RequestThroughputRps { get; init; }
    public double OutputTokenThroughputTps { get; init; }
    public double? TtftMeanMs { get; init; }
    public double? TtftP50Ms { get; init; }
    public double? TtftP99Ms { get; init; }
    public double? TpotMeanMs { get; init; }
    public double? TpotP50Ms { get; init; }
    public double? TpotP99Ms { get; init; }
    public double? ItlP50Ms { get; init; }
    public double? ItlP99Ms { get; init; }
    public double? E2eP50Ms { get; init; }
    public double? E2eP99Ms { get; init; }
    /// <summary>Prompt tokens per ok attempt (server usage where reported, else the client tokenizer).</summary>
    public double? MeanInputTokens { get; init; }
    /// <summary>Answer tokens per ok attempt.</summary>
    public double? MeanOutputTokens { get; init; }
    /// <summary>Null when no SLO is set.</summary>
    public bool? MeetsSlo { get; init; }
    /// <summary>The targets this point misses, with the figures ("ttft_p99_ms = 912.4 > 800").</summary>
    public IReadOnlyList<string> Breaches { get; init; } = [];
}

/// <summary>A backend's SLO verdict: the highest load whose step met the SLO with every lower step meeting it too, and the lowest failing load.</summary>
public sealed record SweepVerdict(string Backend, double? HighestPassingLoad, double? LowestFailingLoad, string Text);

/// <summary>Builds sweep points, verdicts and search steps from the steps' summaries; reads sweep.json back.</summary>
public static class SweepAnalysis
{
    private static readonly CultureInfo C = CultureInfo.InvariantCulture;

    /// <summary>One point per backend of a step's summary.</summary>
    public static IReadOnlyList<SweepPoint> Points(RunSummary summary, double load, int step, SweepSlo slo)
    {
        ArgumentNullException.ThrowIfNull(summary);
        ArgumentNullException.ThrowIfNull(slo);
        return [.. summary.Backends.Select(b => Point(b, load, step, slo))];
    }

    /// <summary>A backend's figures at one step and whether they meet <paramref name="slo"/> (a figure with no value, e.g. no ok attempt, misses it).</summary>
    public static SweepPoint Point(BackendSummary backend, double load, int step, SweepSlo slo)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(slo);
        var scalars = SummaryCalculator.Scalars(backend);
        double? S(string name) => scalars.TryGetValue(name, out var v) && double.IsFinite(v) ? v : null;
        var breaches = new List<string>();
        foreach (var t in slo.Targets)
        {
            if (S(t.Metric) is not { } v)
            {
                breaches.Add($"{t.Metric} has no value (no ok attempt)");
            }
            else if (v > t.Max)
            {
                breaches.Add(string.Create(C, $"{t.Metric} = {SummaryCalculator.Format(v)} > {t.Max:0.####}"));
            }
        }

        var ok = backend.Counts.Ok;
        return new SweepPoint
        {
            Backend = backend.Backend,
            Simulated = backend.Simulated,
            Load = load,
            Step = step,
            Measured = backend.Counts.Measured,
            Ok = ok,
            ErrorRate = backend.ErrorRate,
            RequestThroughputRps = backend.RequestThroughputRps,
            OutputTokenThroughputTps = backend.OutputTokenThroughputTps,
            TtftMeanMs = S("ttft_mean_ms"),
            TtftP50Ms = S("ttft_p50_ms"),
            TtftP99Ms = S("ttft_p99_ms"),
            TpotMeanMs = S("tpot_mean_ms"),
            TpotP50Ms = S("tpot_p50_ms"),
            TpotP99Ms = S("tpot_p99_ms"),
            ItlP50Ms = S("itl_p50_ms"),
            ItlP99Ms = S("itl_p99_ms"),
            E2eP50Ms = S("e2e_p50_ms"),
            E2eP99Ms = S("e2e_p99_ms"),
            MeanInputTokens = ok > 0 ? (double)backend.Tokens.InputTokens / ok : null,
            MeanOutputTokens = ok > 0 ? (double)backend.Tokens.AnswerTokens / ok : null,
            MeetsSlo = slo.IsSet ? breaches.Count == 0 : null,
            Breaches = breaches,
        };
    }

    /// <summary>
    /// Per backend: the highest load meeting the SLO such that every lower load met it too (a pass above a failure is
    /// noise, not capacity), and the lowest failing load. Empty when no SLO is set.
    /// </summary>
    public static IReadOnlyList<SweepVerdict> Verdicts(IReadOnlyList<SweepPoint> points, SweepSlo slo, string key)
    {
        ArgumentNullException.ThrowIfNull(points);
        ArgumentNullException.ThrowIfNull(slo);
        if (!slo.IsSet)
        {
            return [];
        }

        var unit = key == "concurrency" ? "concurrency" : "req/s";
        var verdicts = new List<SweepVerdict>();
        foreach (var group in points.GroupBy(p => p.Backend, StringComparer.Ordinal))
        {
            var ordered = group.OrderBy(p => p.Load).ToList();
            var firstFail = ordered.FirstOrDefault(p => p.MeetsSlo != true);
            var passing = ordered.TakeWhile(p => p.MeetsSlo == true).LastOrDefault();
            var label = group.First().Simulated ? group.Key + " (SIMULATED)" : group.Key;
            var text = passing is null
                ? $"{label}: no load meets the SLO ({slo}); at {unit} {L(ordered[0].Load)}: {string.Join("; ", ordered[0].Breaches)}"
                : firstFail is null
                    ? $"{label}: meets the SLO ({slo}) at every load swept, up to {unit} {L(passing.Load)}; the limit is above the sweep"
                    : $"{label}: highest load meeting the SLO ({slo}): {unit} {L(passing.Load)}; at {L(firstFail.Load)}: {string.Join("; ", firstFail.Breaches)}";
            verdicts.Add(new SweepVerdict(group.Key, passing?.Load, firstFail?.Load, text));
        }

        return verdicts;
    }

    /// <summary>The next load a bisection should run for one backend's points, or null when the bracket is closed or absent.</summary>
    public static double? NextSearchLoad(SweepSpec spec, IReadOnlyList<SweepPoint> points)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(points);
        var ordered = points.OrderBy(p => p.Load).ToList();
        var passing = ordered.TakeWhile(p => p.MeetsSlo == true).LastOrDefault();
        var failing = ordered.FirstOrDefault(p => p.MeetsSlo != true);
        return passing is null || failing is null ? null : spec.Bisect(passing.Load, failing.Load);
    }

    /// <summary>A load as printed: whole numbers without decimals.</summary>
    public static string L(double v) => v.ToString("0.###", C);

    /// <summary>Reads <c>sweep.json</c> from a sweep directory; bad input names the file and the fix.</summary>
    public static SweepReport Read(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        var path = Path.Combine(directory, SweepReport.FileName);
        if (!File.Exists(path))
        {
            throw new InputException(Directory.Exists(directory)
                ? $"{path}: file not found: {directory} is not a sweep directory. Fix: pass the --out folder of 'spark-eval run --sweep concurrency=1,4,16'"
                : $"--from-run {directory}: folder not found. Fix: pass the --out folder of 'spark-eval run --sweep …'");
        }

        SweepReport? report;
        try
        {
            report = JsonSerializer.Deserialize(File.ReadAllBytes(path), CoreJsonContext.Default.SweepReport);
        }
        catch (JsonException ex)
        {
            throw InputException.At(path, ex.LineNumber is { } l ? (int)l + 1 : null, ex.Path, "is not a valid sweep.json", "rerun the sweep, or restore the file written by 'spark-eval run --sweep'");
        }

        if (report is null || report.FormatVersion != SweepReport.CurrentFormatVersion)
        {
            throw InputException.At(path, null, "formatVersion", $"must be {SweepReport.CurrentFormatVersion}", "rerun the sweep with this version of spark-eval");
        }

        return report;
    }
}
