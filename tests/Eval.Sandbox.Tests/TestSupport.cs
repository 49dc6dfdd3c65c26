using Spark.Eval.Core.Tasks;
using Spark.Eval.Sandbox.Execution;

namespace Spark.Eval.Sandbox.Tests;

/// <summary>Shared helpers: the repo root, the shared public datasets, tight limits for hostile programs.</summary>
internal static class TestSupport
{
    public static string RepoRoot { get; } = FindRoot();

    /// <summary>../shared/datasets relative to the repo root (never copied into the repo).</summary>
    public static string SharedDatasets => Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "datasets"));

    public static bool SlowTestsEnabled => Environment.GetEnvironmentVariable("SPARK_EVAL_SLOW_TESTS") == "1";

    public static SandboxLimits Tight { get; } = new()
    {
        CpuSeconds = 0.5,
        WallSeconds = 3,
        MemoryBytes = 256L << 20,
        MaxProcesses = 32,
        OutputKillBytes = 1L << 20,
        FileSizeBytes = 8L << 20,
    };

    public static BenchTask Task(string id, TaskKind kind, string language, string reference, string checks, IReadOnlyList<string>? mutants = null,
        string? support = null, string? entry = null, string? rule = null) => new()
    {
        Id = id,
        Kind = kind,
        Language = language,
        Prompt = "p",
        ReferenceSolution = reference,
        HiddenChecks = checks,
        Mutants = mutants ?? [],
        SupportCode = support,
        EntryPoint = entry,
        StructureRule = rule,
    };

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Eval.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("Eval.sln not found");
    }
}
