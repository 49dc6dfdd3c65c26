using System.Text.Json.Serialization;

namespace Spark.Eval.Sandbox.Grading;

/// <summary>What <c>spark-eval sandbox run --json</c> prints: the classified outcome of one program and how it ran.</summary>
public sealed record SandboxRunReport(string Outcome, string? Detail, string Isolation, string Policy, int? ExitCode, int? Signal, string? StoppedBy,
    double? CpuSeconds, double? WallSeconds, long? OutputBytes, string? Stdout, string? Stderr);

/// <summary>One line of <c>spark-eval datasets check --json</c>: a task's status, its reference's outcome, each mutant's outcome and the problems found.</summary>
public sealed record TaskCheckReport(string Id, string Kind, string Language, string Status, string? Reference, IReadOnlyList<string> Mutants, IReadOnlyList<string> Problems);

/// <summary>Source-generated JSON for the sandbox's machine-readable outputs (docs/formats.md).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(SandboxRunReport))]
[JsonSerializable(typeof(TaskCheckReport))]
public sealed partial class SandboxReportJsonContext : JsonSerializerContext;

/// <summary>Indented variant for <c>sandbox run --json</c>, which people read.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(SandboxRunReport))]
public sealed partial class SandboxReportIndentedJsonContext : JsonSerializerContext;
