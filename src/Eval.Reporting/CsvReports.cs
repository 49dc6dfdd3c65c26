using System.Globalization;
using CsvHelper;
using Spark.Eval.Core.Metrics;
using Spark.Eval.Core.Results;

namespace Spark.Eval.Reporting;

/// <summary>Writes summary.csv (one row per backend, one column per scalar) and attempts.csv (one row per attempt).</summary>
public static class CsvReports
{
    public const string SummaryFileName = "summary.csv";
    public const string AttemptsFileName = "attempts.csv";

    private static readonly CsvWriterOptions Options = new() { NewLine = "\n", FormatProvider = CultureInfo.InvariantCulture };

    /// <summary>
    /// One row per backend: name, simulated, every scalar (goodput columns only when an SLO is set, pass_rate only when
    /// something was graded), then random_weights and the SLO targets (empty when not set).
    /// </summary>
    public static void WriteSummary(TextWriter writer, RunSummary summary, RunManifest? manifest = null)
    {
        ArgumentNullException.ThrowIfNull(summary);
        var rows = summary.Backends.Select(b => (b, SummaryCalculator.Scalars(b))).ToList();
        var columns = rows.SelectMany(r => r.Item2.Keys).Distinct().Order(StringComparer.Ordinal).ToList();
        using var csv = CsvWriter.Create(writer, Options, leaveOpen: true);
        csv.WriteField("backend");
        csv.WriteField("simulated");
        foreach (var column in columns)
        {
            csv.WriteField(column);
        }

        csv.WriteField("random_weights");
        csv.WriteField("slo_ttft_ms");
        csv.WriteField("slo_tpot_ms");
        csv.WriteField("slo_e2e_ms");
        csv.EndRecord();
        foreach (var (backend, scalars) in rows)
        {
            csv.WriteField(backend.Backend);
            csv.WriteField(backend.Simulated ? "true" : "false");
            foreach (var column in columns)
            {
                csv.WriteField(scalars.TryGetValue(column, out var v) && double.IsFinite(v) ? v.ToString("R", CultureInfo.InvariantCulture) : "");
            }

            var slo = backend.Goodput.Slo;
            csv.WriteField(BackendLabels.Nature(backend, manifest) == BackendNature.RandomWeights ? "true" : "false");
            csv.WriteField(Num(slo.TtftMs));
            csv.WriteField(Num(slo.TpotMs));
            csv.WriteField(Num(slo.E2eMs));
            csv.EndRecord();
        }
    }

    public static void WriteAttempts(TextWriter writer, IEnumerable<AttemptRecord> attempts)
    {
        ArgumentNullException.ThrowIfNull(attempts);
        using var csv = CsvWriter.Create(writer, Options, leaveOpen: true);
        string[] header =
        [
            "sequence", "backend", "task_id", "repeat", "warmup", "task_kind", "language", "status", "error_class",
            "ttft_ms", "ttft_any_ms", "response_headers_ms", "e2e_ms", "e2e_with_retries_ms", "tpot_ms",
            "answer_tokens", "token_source", "output_tokens_tokenizer", "input_tokens", "output_tokens_per_s",
            "schedule_lag_ms", "retries", "simulated", "model_reported",
        ];
        foreach (var h in header)
        {
            csv.WriteField(h);
        }

        csv.EndRecord();
        foreach (var r in attempts)
        {
            var m = AttemptMetrics.Compute(r);
            csv.WriteField(Str(r.Sequence));
            csv.WriteField(r.Slot.Backend);
            csv.WriteField(r.Slot.TaskId);
            csv.WriteField(Str(r.Slot.Repeat));
            csv.WriteField(r.Slot.Warmup ? "true" : "false");
            csv.WriteField(r.TaskKind);
            csv.WriteField(r.Language);
            csv.WriteField(r.Outcome.Status.ToString().ToLowerInvariant());
            csv.WriteField(r.Outcome.ErrorClass);
            csv.WriteField(Num(m.TtftMs));
            csv.WriteField(Num(m.TtftAnyMs));
            csv.WriteField(Num(m.ResponseHeadersMs));
            csv.WriteField(Num(m.E2eMs));
            csv.WriteField(Num(m.E2eWithRetriesMs));
            csv.WriteField(Num(m.TpotMs));
            csv.WriteField(Str(m.AnswerTokens));
            csv.WriteField(r.Tokens.Source);
            csv.WriteField(Str(r.Tokens.OutputTokenizer));
            csv.WriteField(Str(r.Tokens.InputUsage ?? r.Tokens.InputTokenizer));
            csv.WriteField(Num(m.OutputTokensPerSecond));
            csv.WriteField(Num(r.ScheduleLagUs / 1000.0));
            csv.WriteField(Str(r.Retries));
            csv.WriteField(r.Simulated ? "true" : "false");
            csv.WriteField(r.ModelReported);
            csv.EndRecord();
        }
    }

    private static string Str(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Num(double? value) => value is { } v && double.IsFinite(v) ? v.ToString("0.###", CultureInfo.InvariantCulture) : "";
}
