using System.Text.Json.Serialization;

namespace Spark.Eval.Core.Tasks;

/// <summary>The five kinds of bounded coding job a suite holds.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<TaskKind>))]
public enum TaskKind
{
    [JsonStringEnumMemberName("stub")] Stub,
    [JsonStringEnumMemberName("refactor")] Refactor,
    [JsonStringEnumMemberName("unit-tests")] UnitTests,
    [JsonStringEnumMemberName("explain")] Explain,
    [JsonStringEnumMemberName("fix")] Fix,
}

/// <summary>One bounded coding job with its hidden checks, as stored in a suite's JSON Lines file.</summary>
public sealed record BenchTask
{
    /// <summary>The task format this record was written in; the loader accepts <see cref="TaskFormat.Version"/>.</summary>
    public int FormatVersion { get; init; } = TaskFormat.Version;
    public required string Id { get; init; }
    public required TaskKind Kind { get; init; }
    /// <summary>csharp, python, typescript or javascript.</summary>
    public required string Language { get; init; }
    public required string Prompt { get; init; }
    public IReadOnlyList<ContextFile> ContextFiles { get; init => field = value ?? []; } = [];
    public string? EntryPoint { get; init; }
    /// <summary>Test source the answer must pass; never shown to the model.</summary>
    public required string HiddenChecks { get; init; }
    public required string ReferenceSolution { get; init; }
    /// <summary>Hidden code the program needs besides the answer and checks (types, helpers, the implementation under test); see docs/grading.md.</summary>
    public string? SupportCode { get; init; }
    /// <summary>Plausible wrong answers; the hidden checks must reject every one.</summary>
    public IReadOnlyList<string> Mutants { get; init => field = value ?? []; } = [];
    /// <summary>1 (trivial) to 5 (hard).</summary>
    public int Difficulty { get; init; } = 1;
    public IReadOnlyList<string> Tags { get; init => field = value ?? []; } = [];
    /// <summary>Maximum output tokens requested for this task.</summary>
    public int TokenBudget { get; init; } = 512;

    // Reserved for the grading issue; loaded and kept, not yet interpreted.
    public IReadOnlyList<string> StopTokens { get; init => field = value ?? []; } = [];
    public string? StructureRule { get; init; }
    public ExplanationRubric? Rubric { get; init; }
    public string? FailingOutput { get; init; }
    public string? QuarantineReason { get; init; }
}

/// <summary>A file shown to the model beside the prompt.</summary>
public sealed record ContextFile(string Path, string Content);

/// <summary>How an explanation is graded: a length bound, required concepts and forbidden claims.</summary>
public sealed record ExplanationRubric
{
    public int MaxWords { get; init; } = 120;
    public IReadOnlyList<RubricConcept> RequiredConcepts { get; init => field = value ?? []; } = [];
    public IReadOnlyList<string> WrongClaims { get; init => field = value ?? []; } = [];
}

/// <summary>One concept an explanation must mention, with its accepted phrasings.</summary>
public sealed record RubricConcept(string Name, IReadOnlyList<string> Phrasings);

/// <summary>Constants of the task format.</summary>
public static class TaskFormat
{
    public const int Version = 1;

    public static readonly IReadOnlySet<string> Languages =
        new HashSet<string>(StringComparer.Ordinal) { "csharp", "python", "typescript", "javascript" };
}
