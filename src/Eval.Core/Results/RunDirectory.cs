using System.Text.Json;

namespace Spark.Eval.Core.Results;

/// <summary>The files of one run directory: manifest, attempts.jsonl and the atomic way files there are (re)written (summaries and reports: Spark.Eval.Reporting.RunReports).</summary>
public sealed class RunDirectory(string path)
{
    public const string ManifestFileName = "manifest.json";
    public const string SummaryJsonFileName = "summary.json";

    public string Path { get; } = path;

    public string AttemptsPath => System.IO.Path.Combine(Path, AttemptLog.FileName);

    public string ManifestPath => System.IO.Path.Combine(Path, ManifestFileName);

    public bool Exists => File.Exists(ManifestPath);

    public RunManifest ReadManifest()
    {
        if (!File.Exists(ManifestPath))
        {
            throw InputException.At(Path, null, null, $"not a run directory (no {ManifestFileName})",
                "pass a directory written by 'spark-eval run'");
        }

        try
        {
            var manifest = JsonSerializer.Deserialize(File.ReadAllBytes(ManifestPath), CoreJsonContext.Default.RunManifest)
                ?? throw new JsonException("empty manifest");
            ResultsFormat.CheckReadable(manifest.FormatVersion, ManifestPath, null);
            return manifest;
        }
        catch (JsonException ex)
        {
            throw InputException.At(ManifestPath, null, ex.Path, $"unreadable manifest ({ex.Message})", "restore the file or start a new run");
        }
    }

    public void WriteManifest(RunManifest manifest) =>
        WriteAtomic(ManifestPath, JsonSerializer.SerializeToUtf8Bytes(manifest, CoreIndentedJsonContext.Default.RunManifest));

    /// <summary>Writes through a temporary file and a rename, so a reader never sees half a file.</summary>
    public static void WriteAtomic(string path, byte[] bytes)
    {
        var temp = path + ".tmp";
        File.WriteAllBytes(temp, bytes);
        File.Move(temp, path, overwrite: true);
    }
}
