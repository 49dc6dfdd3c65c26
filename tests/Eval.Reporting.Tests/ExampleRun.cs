using Spark.Eval.Core.Results;

namespace Spark.Eval.Reporting.Tests;

/// <summary>The committed real run (results/example: three simulated profiles and the random-weight local model), copied to a temporary directory.</summary>
internal static class ExampleRun
{
    public static string Source
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Eval.sln")))
            {
                dir = dir.Parent;
            }

            return dir is null ? throw new InvalidOperationException("no Eval.sln above the test binaries") : Path.Combine(dir.FullName, "results", "example");
        }
    }

    /// <summary>Copies manifest.json and attempts.jsonl into <paramref name="target"/>, optionally with another SLO, and returns the run directory.</summary>
    public static RunDirectory CopyTo(string target, SloSpec? slo = null)
    {
        Directory.CreateDirectory(target);
        File.Copy(Path.Combine(Source, AttemptLog.FileName), Path.Combine(target, AttemptLog.FileName), overwrite: true);
        var directory = new RunDirectory(target);
        File.Copy(Path.Combine(Source, RunDirectory.ManifestFileName), directory.ManifestPath, overwrite: true);
        if (slo is not null)
        {
            var manifest = directory.ReadManifest();
            directory.WriteManifest(manifest with { Plan = manifest.Plan with { Slo = slo } });
        }

        return directory;
    }
}
