using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Tasks;
using Spark.Eval.Sandbox.Execution;

namespace Spark.Eval.Sandbox.Grading;

/// <summary>The grade of one answer to one task: outcome, first failure, what was extracted, and kind-specific figures.</summary>
public sealed record TaskGrade
{
    public required ExecutionOutcome Outcome { get; init; }
    public string? Detail { get; init; }
    public Extraction? Extraction { get; init; }
    public required string Isolation { get; init; }
    /// <summary>True when the answer text hashed to a suite reference or mutant (and so could run without namespaces).</summary>
    public bool Trusted { get; init; }
    public int? MutantsKilled { get; init; }
    public int? MutantsTotal { get; init; }
    /// <summary>unit-tests: 1-based numbers of the mutants the tests did not kill (null when mutants were not run).</summary>
    public IReadOnlyList<int>? Survivors { get; init; }
    /// <summary>unit-tests: killed / mutants.</summary>
    public double? MutationScore => MutantsTotal is > 0 && MutantsKilled is { } k ? (double)k / MutantsTotal.Value : null;
    /// <summary>Set when the task is quarantined: graded for the record, not counted in pass rates.</summary>
    public string? Quarantined { get; init; }
    public double? CpuSeconds { get; init; }
    public double? WallSeconds { get; init; }

    public bool Passed => Outcome == ExecutionOutcome.Passed;

    /// <summary>The typed grade stored in the attempt record's <c>grade</c> field.</summary>
    public AttemptGrade ToAttemptGrade() => new()
    {
        Outcome = Outcome.Name(),
        Passed = Passed,
        Isolation = Isolation,
        Trusted = Trusted,
        Detail = Detail,
        Extraction = Extraction is { } e ? new GradeExtraction(e.Method, e.Form, e.StopToken, e.Code.Length, TrustIndex.Hash(e.Code)[..16]) : null,
        MutantsKilled = MutantsTotal is null ? null : MutantsKilled,
        MutantsTotal = MutantsTotal,
        MutationScore = MutantsTotal is null ? null : MutationScore,
        Survivors = Survivors,
        Quarantined = Quarantined,
        CpuSeconds = CpuSeconds is { } cpu ? Math.Round(cpu, 4) : null,
        WallSeconds = WallSeconds is { } wall ? Math.Round(wall, 4) : null,
    };
}

/// <summary>Hashes of every reference and mutant of a suite: answers matching one are trusted (they are the suite's own text).</summary>
public sealed class TrustIndex
{
    private readonly HashSet<string> _hashes = new(StringComparer.Ordinal);

    public TrustIndex(IEnumerable<BenchTask> tasks)
    {
        foreach (var task in tasks)
        {
            _hashes.Add(Hash(task.ReferenceSolution));
            foreach (var mutant in task.Mutants)
            {
                _hashes.Add(Hash(mutant));
            }
        }
    }

    public static TrustIndex Empty { get; } = new([]);

    public bool Contains(string text) => _hashes.Contains(Hash(text));

    /// <summary>sha256 of the text with line endings normalised and surrounding whitespace trimmed.</summary>
    public static string Hash(string text) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.Replace("\r\n", "\n", StringComparison.Ordinal).Trim())));
}

/// <summary>Grades answers by task kind (docs/grading.md): hidden checks for stub/fix/refactor (+ structure rule), tests × mutants for unit-tests, the rubric for explain.</summary>
public sealed class TaskGrader(CodeSandbox sandbox, TrustIndex trust)
{
    public CodeSandbox Sandbox => sandbox;

    /// <summary>Grades a chat answer: extracts the code, then grades it.</summary>
    public Task<TaskGrade> GradeAnswerAsync(BenchTask task, string answer, CancellationToken cancellationToken) =>
        GradeAsync(task, task.Kind == TaskKind.Explain ? new Extraction(answer, "whole-answer", null, "text") : CodeExtractor.Extract(answer, task), cancellationToken);

    public async Task<TaskGrade> GradeAsync(BenchTask task, Extraction extraction, CancellationToken cancellationToken)
    {
        var grade = await GradeCoreAsync(task, extraction, cancellationToken);
        return grade with { Extraction = extraction, Quarantined = task.QuarantineReason };
    }

    private async Task<TaskGrade> GradeCoreAsync(BenchTask task, Extraction extraction, CancellationToken cancellationToken)
    {
        var trusted = trust.Contains(extraction.Code);
        switch (task.Kind)
        {
            case TaskKind.Explain:
                return RubricGrader.Grade(task, extraction.Code) with { Trusted = trusted };
            case TaskKind.UnitTests:
                return await GradeTestsAsync(task, extraction, trusted, cancellationToken);
            default:
                var program = ProgramComposer.Compose(task, extraction);
                var result = await sandbox.ExecuteAsync(new ProgramRequest { Language = task.Language, Source = program, Trusted = trusted }, cancellationToken);
                var grade = From(result, trusted);
                if (grade.Passed && task.Kind == TaskKind.Refactor && task.StructureRule is { Length: > 0 } rule)
                {
                    var broken = await StructureChecker.CheckAsync(rule, task.Language, extraction.Code, cancellationToken);
                    if (broken is not null)
                    {
                        return grade with { Outcome = ExecutionOutcome.WrongAnswer, Detail = broken };
                    }
                }

                return grade;
        }
    }

    private async Task<TaskGrade> GradeTestsAsync(BenchTask task, Extraction tests, bool trusted, CancellationToken cancellationToken)
    {
        var context = task.ContextFiles.Count > 0 ? task.ContextFiles[0] : null;
        var implementation = task.SupportCode ?? context?.Content ?? "";
        var path = context?.Path;
        ProgramRequest Request(string impl) => new()
        {
            Language = task.Language,
            Source = tests.Code,
            Mode = ProgramMode.Tests,
            Implementation = task.Language == "csharp" ? $"{ProgramComposer.CSharpUsings}using Xunit;\npublic static class Problem {{\n{impl}\n}}\n" : impl,
            ImplementationPath = path,
            Trusted = trusted,
        };

        var onCorrect = await sandbox.ExecuteAsync(Request(implementation), cancellationToken);
        if (onCorrect.Outcome != ExecutionOutcome.Passed)
        {
            var failed = From(onCorrect, trusted);
            return failed with
            {
                Outcome = onCorrect.Outcome == ExecutionOutcome.Passed ? ExecutionOutcome.WrongAnswer : onCorrect.Outcome,
                Detail = "the tests fail on the correct implementation: " + onCorrect.Detail,
                MutantsTotal = task.Mutants.Count,
                MutantsKilled = 0,
            };
        }

        var killed = 0;
        var survivors = new List<int>();
        for (var i = 0; i < task.Mutants.Count; i++)
        {
            var onMutant = await sandbox.ExecuteAsync(Request(task.Mutants[i]), cancellationToken);
            if (onMutant.Outcome == ExecutionOutcome.HarnessError)
            {
                return From(onMutant, trusted) with { Detail = $"mutant {i + 1}: {onMutant.Detail}" };
            }

            if (onMutant.Outcome != ExecutionOutcome.Passed)
            {
                killed++;
            }
            else
            {
                survivors.Add(i + 1);
            }
        }

        var grade = From(onCorrect, trusted) with { MutantsKilled = killed, MutantsTotal = task.Mutants.Count, Survivors = survivors };
        return survivors.Count == 0
            ? grade with { Detail = $"mutation score {killed}/{task.Mutants.Count}" }
            : grade with
            {
                Outcome = ExecutionOutcome.WrongAnswer,
                Detail = string.Create(CultureInfo.InvariantCulture, $"mutation score {killed}/{task.Mutants.Count}: mutant(s) {string.Join(", ", survivors)} survived"),
            };
    }

    private static TaskGrade From(ExecutionResult result, bool trusted) => new()
    {
        Outcome = result.Outcome,
        Detail = result.Detail,
        Isolation = result.Isolation,
        Trusted = trusted,
        CpuSeconds = result.Run?.CpuSeconds,
        WallSeconds = result.Run?.WallSeconds,
    };
}

/// <summary>Grades an explanation by its rubric: word bound, required concepts (any accepted phrasing, case-insensitive), no wrong claim.</summary>
public static class RubricGrader
{
    public static TaskGrade Grade(BenchTask task, string answer)
    {
        TaskGrade Result(ExecutionOutcome outcome, string? detail) => new() { Outcome = outcome, Detail = detail, Isolation = "not executed (rubric)" };
        if (task.Rubric is not { } rubric)
        {
            return Result(ExecutionOutcome.HarnessError, "the explain task has no rubric");
        }

        var words = answer.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Length;
        if (words > rubric.MaxWords)
        {
            return Result(ExecutionOutcome.WrongAnswer, string.Create(CultureInfo.InvariantCulture, $"too long: {words} words > {rubric.MaxWords}"));
        }

        var wrong = rubric.WrongClaims.FirstOrDefault(c => answer.Contains(c, StringComparison.OrdinalIgnoreCase));
        if (wrong is not null)
        {
            return Result(ExecutionOutcome.WrongAnswer, $"wrong claim: \"{wrong}\"");
        }

        var missing = rubric.RequiredConcepts.FirstOrDefault(c => !c.Phrasings.Any(p => answer.Contains(p, StringComparison.OrdinalIgnoreCase)));
        return missing is not null
            ? Result(ExecutionOutcome.WrongAnswer, $"missing concept: {missing.Name}")
            : Result(ExecutionOutcome.Passed, string.Create(CultureInfo.InvariantCulture, $"{words} words, {rubric.RequiredConcepts.Count} concepts"));
    }
}
