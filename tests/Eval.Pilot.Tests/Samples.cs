namespace Spark.Eval.Pilot.Tests;

/// <summary>The committed samples (built from each source's documented schema) and helpers to read them.</summary>
internal static class Samples
{
    public static string Path(string name) => System.IO.Path.Combine(AppContext.BaseDirectory, "samples", name);

    public static string RepoRoot { get; } = FindRoot();

    public static PilotAggregator Read(string name, IdentityMap? authors = null, bool lenient = false) =>
        Read(Path(name), out _, authors, lenient);

    public static PilotAggregator Read(string path, out PilotInputSummary summary, IdentityMap? authors = null, bool lenient = false)
    {
        var sink = new PilotAggregator(authors);
        summary = PilotInput.Read(path, sink, new PilotReadOptions { Lenient = lenient });
        return sink;
    }

    public static IdentityMap Authors => IdentityMap.Load(Path("authors.csv"));

    /// <summary>One developer's counters summed over all days.</summary>
    public static (int Events, int Uses, int Prompts, int Shown, int Accepted, int Commits, double WaitMs) Totals(PilotAggregator sink, string developer)
    {
        var dev = sink.Developers.Single(d => string.Equals(d.Identity, developer, StringComparison.OrdinalIgnoreCase));
        var cells = dev.Days.Values.ToList();
        return (cells.Sum(c => c.Events), cells.Sum(c => c.Uses), cells.Sum(c => c.Prompts), cells.Sum(c => c.Shown), cells.Sum(c => c.Accepted),
            cells.Sum(c => c.Commits), cells.Sum(c => c.WaitMs));
    }

    /// <summary>Copies a sample to a temp directory with one text replacement on one line, returning its path.</summary>
    public static string Corrupt(string name, int line, string find, string replace)
    {
        var lines = File.ReadAllLines(Path(name));
        Assert.Contains(find, lines[line - 1], StringComparison.Ordinal);
        lines[line - 1] = lines[line - 1].Replace(find, replace, StringComparison.Ordinal);
        var dir = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "spark-eval-pilot-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var path = System.IO.Path.Combine(dir, name);
        File.WriteAllLines(path, lines);
        return path;
    }

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(System.IO.Path.Combine(dir.FullName, "Eval.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("Eval.sln not found");
    }
}
