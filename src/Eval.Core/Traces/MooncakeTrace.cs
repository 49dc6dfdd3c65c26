using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Spark.Eval.Core.Results;

namespace Spark.Eval.Core.Traces;

/// <summary>One line of a Mooncake trace (the JSONL AIPerf replays with --custom-dataset-type mooncake_trace).</summary>
public sealed record MooncakeLine(
    [property: JsonPropertyName("timestamp")] double? Timestamp,
    [property: JsonPropertyName("input_length")] int? InputLength,
    [property: JsonPropertyName("output_length")] int? OutputLength,
    [property: JsonPropertyName("hash_ids")] IReadOnlyList<long>? HashIds);

/// <summary>Source-generated JSON for trace formats.</summary>
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(MooncakeLine))]
public sealed partial class TraceJsonContext : JsonSerializerContext;

/// <summary>
/// Writes a run's own arrivals as a Mooncake trace (arrivals.jsonl in the run directory), so any run can be replayed
/// by Spark Eval (--trace … --trace-format mooncake) or by AIPerf.
/// </summary>
public static class MooncakeTraceWriter
{
    public const string FileName = "arrivals.jsonl";

    /// <summary>Mooncake's prefix block size in tokens.</summary>
    public const int BlockTokens = 512;

    /// <summary>
    /// The measured attempts in arrival order: timestamp = scheduled send (open loop) or actual send, in whole ms from
    /// the first; input/output lengths from usage, else the tokenizer; hash_ids = ⌈input/512⌉ blocks per task, equal
    /// for every attempt of one task (same prompt, same prefix).
    /// </summary>
    public static IReadOnlyList<MooncakeLine> FromAttempts(IEnumerable<AttemptRecord> records)
    {
        ArgumentNullException.ThrowIfNull(records);
        var measured = records.Where(r => !r.Slot.Warmup && r.Outcome.Status != AttemptStatus.Cancelled)
            .OrderBy(r => r.ScheduledUs ?? r.StartUs).ThenBy(r => r.Sequence).ToList();
        if (measured.Count == 0)
        {
            return [];
        }

        var origin = measured[0].ScheduledUs ?? measured[0].StartUs;
        var blocks = new Dictionary<string, long[]>(StringComparer.Ordinal);
        long next = 0;
        var lines = new List<MooncakeLine>(measured.Count);
        foreach (var r in measured)
        {
            var input = (int)(r.Tokens.InputUsage ?? r.Tokens.InputTokenizer);
            var output = (int)(r.Tokens.OutputUsage ?? r.Tokens.OutputTokenizer);
            if (!blocks.TryGetValue(r.Slot.TaskId, out var ids))
            {
                ids = new long[Math.Max(1, (input + BlockTokens - 1) / BlockTokens)];
                for (var i = 0; i < ids.Length; i++)
                {
                    ids[i] = next++;
                }

                blocks[r.Slot.TaskId] = ids;
            }

            lines.Add(new MooncakeLine(Math.Round(((r.ScheduledUs ?? r.StartUs) - origin) / 1000.0), input, output, ids));
        }

        return lines;
    }

    public static string Render(IEnumerable<MooncakeLine> lines)
    {
        ArgumentNullException.ThrowIfNull(lines);
        var text = new StringBuilder();
        foreach (var line in lines)
        {
            text.Append(JsonSerializer.Serialize(line, TraceJsonContext.Default.MooncakeLine)).Append('\n');
        }

        return text.ToString();
    }
}
