using System.Globalization;
using System.Text;
using System.Text.Json.Serialization;
using Spark.Eval.Simulator.Latency;

namespace Spark.Eval.Simulator.Validation;

/// <summary>One measured point of a local llama.cpp run: medians of TTFT and decode rate at one prompt length.</summary>
public sealed record LocalMeasurement(string ModelFile, string ModelProfile, string Precision, int Threads, int PromptTokens, int OutputTokens, int Repeats, double TtftMsMedian, double DecodeTokensPerSecondMedian);

/// <summary>One row of the local CPU validation: a measured median beside the simulator's prediction.</summary>
public sealed record LocalValidationRow(string ModelFile, string ModelProfile, string Precision, int Threads, int PromptTokens, int OutputTokens, int Repeats, string Metric, double Measured, double Predicted, string Hardware = "cpu-local")
{
    /// <summary>(predicted − measured) / measured.</summary>
    public double Error => (Predicted - Measured) / Measured;

    /// <summary>max(predicted/measured, measured/predicted).</summary>
    public double Ratio => Math.Max(Predicted / Measured, Measured / Predicted);
}

/// <summary>The JSON printed by <c>spark-eval simulate validate-local --json</c>.</summary>
public sealed record LocalValidationReport
{
    public bool PredictionsSimulated { get; init; } = true;
    public required string Hardware { get; init; }
    public required string Cpu { get; init; }
    public required string LoadAverage { get; init; }
    public string? LoadAverageAfter { get; init; }
    /// <summary>The calibrated figures the predicting profiles carry, with their sources (what calibrate measured).</summary>
    public IReadOnlyList<string> Calibration { get; init; } = [];
    public required DateTimeOffset MeasuredUtc { get; init; }
    public required IReadOnlyList<LocalValidationRow> Rows { get; init; }
    public required double MedianAbsoluteError { get; init; }
    public required double WorstRatio { get; init; }
    public required IReadOnlyDictionary<string, string> Definitions { get; init; }
}

/// <summary>Source-generated JSON for the local validation report.</summary>
[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(LocalValidationReport))]
public sealed partial class LocalValidationJsonContext : JsonSerializerContext;

/// <summary>
/// Local CPU validation: the <c>cpu-local</c> profile (written by <c>spark-eval calibrate</c>) and the generated test
/// models' profiles predict TTFT and decode rate; measured llama.cpp medians are the reference. Nothing is fitted here.
/// </summary>
public static class LocalValidation
{
    public const string SectionBegin = "<!-- local-cpu-validation:begin (written by spark-eval simulate validate-local --write) -->";
    public const string SectionEnd = "<!-- local-cpu-validation:end -->";

    public static readonly IReadOnlyDictionary<string, string> Definitions = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["measured ttft_ms"] = "median over repeats (after warm-up) of first content event − request start, through the harness (LocalChatClient + timing middleware), empty KV cache",
        ["measured decode_tok_s"] = "median over repeats of (output tokens − 1) / (last token time − first token time)",
        ["predicted ttft_ms"] = "SIMULATED LatencyModel.UnloadedTtftSeconds(prompt) = RTT + request overhead + prefill step (docs/simulator.md)",
        ["predicted decode_tok_s"] = "SIMULATED 1 / DecodeStepSeconds(batch 1, context = prompt + output/2)",
        ["error"] = "(predicted − measured) / measured",
    };

    /// <summary>The two rows (TTFT, decode rate) a measurement gives under <paramref name="latency"/>.</summary>
    public static IEnumerable<LocalValidationRow> Rows(LatencyModel latency, LocalMeasurement m, string hardware = "cpu-local")
    {
        ArgumentNullException.ThrowIfNull(latency);
        ArgumentNullException.ThrowIfNull(m);
        var ttft = latency.UnloadedTtftSeconds(m.PromptTokens) * 1000.0;
        var decode = 1.0 / latency.DecodeStepSeconds(1, m.PromptTokens + (m.OutputTokens / 2.0));
        yield return new LocalValidationRow(m.ModelFile, m.ModelProfile, m.Precision, m.Threads, m.PromptTokens, m.OutputTokens, m.Repeats, "ttft_ms", m.TtftMsMedian, ttft, hardware);
        yield return new LocalValidationRow(m.ModelFile, m.ModelProfile, m.Precision, m.Threads, m.PromptTokens, m.OutputTokens, m.Repeats, "decode_tok_s", m.DecodeTokensPerSecondMedian, decode, hardware);
    }

    public static double MedianAbsoluteError(IReadOnlyList<LocalValidationRow> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var errors = rows.Select(r => Math.Abs(r.Error)).Order().ToList();
        if (errors.Count == 0)
        {
            return double.NaN;
        }

        var mid = errors.Count / 2;
        return errors.Count % 2 == 1 ? errors[mid] : (errors[mid - 1] + errors[mid]) / 2.0;
    }

    /// <summary>The plain-text table the command prints.</summary>
    public static string RenderText(LocalValidationReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var c = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.Append(c, $"local CPU validation · hardware profile {report.Hardware} · CPU {report.Cpu} · load average {report.LoadAverage}\n");
        sb.Append("model        precision  threads  prompt  output  metric          measured   predicted(SIMULATED)    error\n");
        foreach (var r in report.Rows)
        {
            sb.Append(c, $"{r.ModelFile,-12} {r.Precision,-9} {r.Threads,8} {r.PromptTokens,7} {r.OutputTokens,7}  {r.Metric,-13} {r.Measured,10:F1} {r.Predicted,21:F1} {r.Error * 100,+8:+0.0;-0.0}%\n");
        }

        sb.Append(c, $"median |error| {report.MedianAbsoluteError * 100:F1} %, worst {report.WorstRatio:F2}× (target: within 15 %)\n");
        return sb.ToString();
    }

    /// <summary>The Markdown section written into docs/simulator-validation.md between the markers.</summary>
    public static string RenderMarkdown(LocalValidationReport report, string command)
    {
        ArgumentNullException.ThrowIfNull(report);
        var c = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.Append(SectionBegin).Append('\n');
        sb.Append("## Local CPU validation\n\n");
        sb.Append(c, $"Generated by `{command}` at {report.MeasuredUtc:yyyy-MM-dd HH:mm}Z on {report.Cpu}; ");
        sb.Append(c, $"load average before the run {report.LoadAverage}, after {report.LoadAverageAfter ?? "n/a"} (a shared machine: other builds and tests may run at the same time, so the measured medians carry that noise). ");
        sb.Append("Measured = llama.cpp through the local backend (`LocalBench` harness path: `LocalChatClient` behind the timing middleware), medians after warm-up. ");
        sb.Append(c, $"Predicted = SIMULATED, hardware profile(s) `{report.Hardware}` exactly as `spark-eval calibrate` wrote them (constants fitted once per device and thread count on dedicated calibration models, none fitted to these rows) and the generated-model profiles in `hw-profiles/models.json`. ");
        sb.Append("Error = (predicted − measured) / measured. Target: within 15 %.\n\n");
        sb.Append("| model file | profile | precision | hardware | threads | prompt tok | output tok | repeats | metric | measured | predicted (simulated) | error |\n");
        sb.Append("|---|---|---|---|---:|---:|---:|---:|---|---:|---:|---:|\n");
        foreach (var r in report.Rows)
        {
            sb.Append(c, $"| {r.ModelFile} | {r.ModelProfile} | {r.Precision} | {r.Hardware} | {r.Threads} | {r.PromptTokens} | {r.OutputTokens} | {r.Repeats} | {r.Metric} | {r.Measured:F1} | {r.Predicted:F1} | {r.Error * 100:+0.0;-0.0} % |\n");
        }

        var within = report.Rows.Count(r => Math.Abs(r.Error) <= 0.15);
        sb.Append(c, $"\n**Median absolute error {report.MedianAbsoluteError * 100:F1} %, worst {report.WorstRatio:F2}×; {within} of {report.Rows.Count} rows within 15 %.**");
        if (report.Rows.Count > 0)
        {
            var worst = report.Rows.MaxBy(r => r.Ratio)!;
            sb.Append(c, $" Worst row: {worst.ModelFile}, {worst.Threads} thread(s), prompt {worst.PromptTokens}, {worst.Metric}: measured {worst.Measured:F1}, predicted {worst.Predicted:F1} ({worst.Error * 100:+0.0;-0.0} %).");
            foreach (var g in report.Rows.GroupBy(r => r.Metric))
            {
                sb.Append(c, $" {g.Key}: median absolute error {MedianAbsoluteError(g.ToList()) * 100:F1} %.");
            }
        }

        sb.Append("\n\n");
        if (report.Calibration.Count > 0)
        {
            sb.Append("Calibrated figures used (from `hw-profiles/cpu-local.json`):\n\n");
            foreach (var line in report.Calibration)
            {
                sb.Append("- ").Append(line).Append('\n');
            }

            sb.Append('\n');
        }

        foreach (var (k, v) in report.Definitions)
        {
            sb.Append(c, $"- {k}: {v}\n");
        }

        sb.Append(SectionEnd).Append('\n');
        return sb.ToString();
    }

    /// <summary>The marked section of <paramref name="page"/>, or null when it has none.</summary>
    public static string? ExtractSection(string page)
    {
        ArgumentNullException.ThrowIfNull(page);
        var begin = page.IndexOf(SectionBegin, StringComparison.Ordinal);
        var end = page.IndexOf(SectionEnd, StringComparison.Ordinal);
        return begin >= 0 && end > begin ? page[begin..(end + SectionEnd.Length)] + "\n" : null;
    }

    /// <summary>Replaces the marked section of <paramref name="page"/> with <paramref name="section"/>, or appends it; the rest of the page is kept byte for byte.</summary>
    public static string UpsertSection(string page, string section)
    {
        ArgumentNullException.ThrowIfNull(page);
        ArgumentNullException.ThrowIfNull(section);
        var begin = page.IndexOf(SectionBegin, StringComparison.Ordinal);
        var end = page.IndexOf(SectionEnd, StringComparison.Ordinal);
        if (begin >= 0 && end > begin)
        {
            var after = end + SectionEnd.Length;
            if (after < page.Length && page[after] == '\n')
            {
                after++;
            }

            return page[..begin] + section + page[after..];
        }

        return page.TrimEnd('\n') + "\n\n" + section;
    }
}
