using Spark.Eval.Core.Tasks;
using Spark.Eval.Sandbox.Execution;

namespace Spark.Eval.Sandbox.Grading;

/// <summary>One task's honesty check: the reference must pass, every mutant must fail.</summary>
public sealed record TaskCheck(string TaskId, string Kind, string Language, string Status, TaskGrade? Reference, IReadOnlyList<TaskGrade> Mutants, IReadOnlyList<string> Problems)
{
    public bool Ok => Status is "ok" or "skipped";
}

/// <summary>Proves a suite honest: every reference passes and every mutant fails (<c>spark-eval datasets check</c>).</summary>
public sealed class SuiteChecker(TaskGrader grader)
{
    /// <summary>Tag of imported tasks whose source ships no reference (MultiPL-E): their reference and mutants are not checked.</summary>
    public const string NoReferenceTag = "no-reference";

    public async Task<TaskCheck> CheckAsync(BenchTask task, CancellationToken cancellationToken)
    {
        if (task.QuarantineReason is { } reason)
        {
            return new TaskCheck(task.Id, Kind(task), task.Language, "skipped", null, [], [$"quarantined: {reason}"]);
        }

        if (task.Tags.Contains(NoReferenceTag, StringComparer.Ordinal))
        {
            return new TaskCheck(task.Id, Kind(task), task.Language, "skipped", null, [], ["no reference solution in the source data"]);
        }

        var problems = new List<string>();
        if (task.Mutants.Count < 2)
        {
            problems.Add($"only {task.Mutants.Count} mutant(s); at least 2 are required");
        }

        var reference = await grader.GradeAsync(task, Suite(task, task.ReferenceSolution), cancellationToken);
        if (!reference.Passed)
        {
            problems.Add($"reference {reference.Outcome.Name()}: {reference.Detail}");
        }

        var mutants = new List<TaskGrade>();
        for (var i = 0; i < task.Mutants.Count; i++)
        {
            TaskGrade grade;
            if (task.Kind == TaskKind.UnitTests)
            {
                // A unit-tests mutant is a wrong implementation: it fails when the reference tests kill it.
                grade = reference.Survivors is not { } survivors
                    ? reference with { Outcome = ExecutionOutcome.HarnessError, Detail = "not run: the reference tests fail on the correct implementation" }
                    : survivors.Contains(i + 1)
                        ? reference with { Outcome = ExecutionOutcome.Passed, Detail = "survived the reference tests" }
                        : reference with { Outcome = ExecutionOutcome.WrongAnswer, Detail = "killed by the reference tests" };
            }
            else
            {
                grade = await grader.GradeAsync(task, Suite(task, task.Mutants[i]), cancellationToken);
            }

            mutants.Add(grade);
            if (grade.Passed)
            {
                problems.Add($"mutant {i + 1} passes (the checks miss it)");
            }
            else if (grade.Outcome == ExecutionOutcome.HarnessError)
            {
                problems.Add($"mutant {i + 1}: harness_error: {grade.Detail}");
            }
        }

        return new TaskCheck(task.Id, Kind(task), task.Language, problems.Count == 0 ? "ok" : "failed", reference, mutants, problems);
    }

    private static Extraction Suite(BenchTask task, string text) =>
        new(text, "suite", null, task.Kind == TaskKind.Explain ? "text" : CodeExtractor.IsWholeDefinition(text, task) ? "whole-function" : "body");

    private static string Kind(BenchTask task) => task.Kind switch
    {
        TaskKind.UnitTests => "unit-tests",
        _ => task.Kind.ToString().ToLowerInvariant(),
    };
}
