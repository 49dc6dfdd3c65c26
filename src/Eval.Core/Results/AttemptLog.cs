using System.Text;
using System.Text.Json;

namespace Spark.Eval.Core.Results;

/// <summary>The append-only attempts.jsonl of a run directory: one record per line, flushed per record.</summary>
public sealed class AttemptLog : IDisposable
{
    public const string FileName = "attempts.jsonl";
    private readonly FileStream _stream;
    private readonly Lock _gate = new();

    public AttemptLog(string path)
    {
        _stream = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read, 1 << 16);
    }

    public void Append(AttemptRecord record)
    {
        var bytes = JsonSerializer.SerializeToUtf8Bytes(record, CoreJsonContext.Default.AttemptRecord);
        lock (_gate)
        {
            _stream.Write(bytes);
            _stream.WriteByte((byte)'\n');
            // Flush to the OS per record, so a kill -9 loses at most the line being written.
            _stream.Flush();
        }
    }

    public void Dispose() => _stream.Dispose();

    /// <summary>Reads every complete record; a torn last line (crash mid-write) is reported, not fatal.</summary>
    public static (List<AttemptRecord> Records, bool TornTail) Read(string path)
    {
        var records = new List<AttemptRecord>();
        if (!File.Exists(path))
        {
            return (records, false);
        }

        var lines = File.ReadAllText(path, Encoding.UTF8).Split('\n');
        var torn = false;
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i];
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            try
            {
                records.Add(JsonSerializer.Deserialize(line, CoreJsonContext.Default.AttemptRecord)
                    ?? throw new JsonException("null record"));
            }
            catch (JsonException ex)
            {
                // Only the final line may be torn by a crash; anything earlier is corruption.
                if (i == lines.Length - 1)
                {
                    torn = true;
                    continue;
                }

                throw Core.InputException.At(path, i + 1, ex.Path, $"unreadable attempt record ({ex.Message})",
                    "restore the file from a backup or delete the damaged line");
            }
        }

        return (records, torn);
    }

    /// <summary>Rewrites the file atomically with only <paramref name="keep"/> (temp file, then rename).</summary>
    public static void Rewrite(string path, IEnumerable<AttemptRecord> keep)
    {
        var temp = path + ".tmp";
        using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write))
        {
            foreach (var record in keep)
            {
                stream.Write(JsonSerializer.SerializeToUtf8Bytes(record, CoreJsonContext.Default.AttemptRecord));
                stream.WriteByte((byte)'\n');
            }

            stream.Flush(true);
        }

        File.Move(temp, path, overwrite: true);
    }
}
