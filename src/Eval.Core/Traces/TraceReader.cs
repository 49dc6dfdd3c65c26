using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;

namespace Spark.Eval.Core.Traces;

/// <summary>
/// Readers for public production traces. Azure LLM inference trace (CSV: TIMESTAMP, ContextTokens,
/// GeneratedTokens; Patel et al., Splitwise, ISCA 2024) and the Mooncake trace (JSONL: timestamp in ms,
/// input_length, output_length, hash_ids; Qin et al., FAST 2025), the format AIPerf replays. Formats in docs/formats.md.
/// </summary>
public static class TraceReader
{
    public const string Azure = "azure";
    public const string Mooncake = "mooncake";

    /// <summary>The formats <see cref="Read"/> accepts.</summary>
    public static IReadOnlyList<string> Formats { get; } = [Azure, Mooncake];

    /// <summary>Reads a trace file; every bad line is bad input naming the file, line, field and fix.</summary>
    public static RequestTrace Read(string path, string format)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path))
        {
            throw InputException.At(path, null, null, "no such trace file", "pass the path of an Azure CSV or Mooncake JSONL trace (samples: ../shared/datasets/traces/)");
        }

        using var reader = new StreamReader(path);
        return format switch
        {
            Azure => ReadAzureCsv(reader, path),
            Mooncake => ReadMooncakeJsonl(reader, path),
            _ => throw new InputException($"--trace-format {format}: unknown trace format. Fix: use one of {string.Join(", ", Formats)}"),
        };
    }

    /// <summary>The format a file's extension suggests: .csv is Azure's, anything else Mooncake JSONL.</summary>
    public static string FormatOf(string path) => path.EndsWith(".csv", StringComparison.OrdinalIgnoreCase) ? Azure : Mooncake;

    /// <summary>SHA-256 of the trace file's bytes (hex), recorded in the plan so a resume replays the same trace.</summary>
    public static string Sha256(string path) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)));

    public static RequestTrace ReadAzureCsv(TextReader reader, string source)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var header = reader.ReadLine()?.Trim().TrimStart('\uFEFF');
        var columns = header?.Split(',').Select(c => c.Trim()).ToList() ?? [];
        var time = columns.IndexOf("TIMESTAMP");
        var context = columns.IndexOf("ContextTokens");
        var generated = columns.IndexOf("GeneratedTokens");
        if (time < 0 || context < 0 || generated < 0)
        {
            throw InputException.At(source, 1, null, $"header '{header}' lacks TIMESTAMP, ContextTokens or GeneratedTokens",
                "pass an Azure LLM inference trace CSV (AzurePublicDataset data/AzureLLMInferenceTrace_*.csv), or --trace-format mooncake for JSONL");
        }

        var raw = new List<(DateTime At, int Input, int Output, int Line)>();
        var lineNumber = 1;
        while (reader.ReadLine() is { } line)
        {
            lineNumber++;
            if (line.Length == 0)
            {
                continue;
            }

            var cells = line.Split(',');
            if (cells.Length < columns.Count)
            {
                throw InputException.At(source, lineNumber, null, $"{cells.Length} cells, the header has {columns.Count}", "repair or remove the line");
            }

            if (!DateTime.TryParse(cells[time].Trim(), CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var at))
            {
                throw InputException.At(source, lineNumber, "TIMESTAMP", $"'{cells[time]}' is not a timestamp", "write e.g. 2023-11-16 18:17:03.9799600");
            }

            raw.Add((at, Count(cells[context], source, lineNumber, "ContextTokens"), Count(cells[generated], source, lineNumber, "GeneratedTokens"), lineNumber));
        }

        if (raw.Count == 0)
        {
            throw InputException.At(source, null, null, "no requests", "pass a trace with at least one request line");
        }

        var origin = raw.Min(r => r.At);
        var requests = raw.Select(r => new TraceRequest((r.At - origin).Ticks / 10, r.Input, r.Output, null, r.Line));
        return new RequestTrace(source, Azure, InArrivalOrder(requests));
    }

    public static RequestTrace ReadMooncakeJsonl(TextReader reader, string source)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var requests = new List<TraceRequest>();
        var lineNumber = 0;
        while (reader.ReadLine() is { } line)
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            MooncakeLine? entry;
            try
            {
                entry = JsonSerializer.Deserialize(line, TraceJsonContext.Default.MooncakeLine);
            }
            catch (JsonException ex)
            {
                throw InputException.At(source, lineNumber, ex.Path, $"not a Mooncake trace line ({ex.Message})",
                    "write one JSON object per line: {\"timestamp\": ms, \"input_length\": n, \"output_length\": n, \"hash_ids\": [...]}");
            }

            if (entry?.Timestamp is not { } ms || ms < 0 || double.IsNaN(ms))
            {
                throw InputException.At(source, lineNumber, "timestamp", "missing or negative", "give each request its arrival in ms from the trace's start");
            }

            if (entry.InputLength is not { } input || input < 0 || entry.OutputLength is not { } output || output < 0)
            {
                throw InputException.At(source, lineNumber, entry.InputLength is null or < 0 ? "input_length" : "output_length", "missing or negative",
                    "give input_length and output_length as token counts ≥ 0");
            }

            requests.Add(new TraceRequest((long)Math.Round(ms * 1000), input, output, entry.HashIds, lineNumber));
        }

        if (requests.Count == 0)
        {
            throw InputException.At(source, null, null, "no requests", "pass a trace with at least one request line");
        }

        var origin = requests.Min(r => r.TimestampUs);
        return new RequestTrace(source, Mooncake, InArrivalOrder(requests.Select(r => r with { TimestampUs = r.TimestampUs - origin })));
    }

    private static int Count(string cell, string source, int line, string field) =>
        int.TryParse(cell.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n >= 0 ? n
            : throw InputException.At(source, line, field, $"'{cell}' is not a token count", "write a whole number ≥ 0");

    // Stable: requests logged in the same instant keep their file order.
    private static List<TraceRequest> InArrivalOrder(IEnumerable<TraceRequest> requests) => [.. requests.OrderBy(r => r.TimestampUs)];
}
