using Spark.Eval.Core.Metrics;
using Spark.Eval.Core.Results;

namespace Spark.Eval.Core.Running;

/// <summary>
/// Grades attempts: one at a time (the runner or a repair loop can call it as an attempt ends) or in bulk through a
/// <see cref="GradingPipeline"/>. Implemented by Eval.Sandbox (hidden checks run in the sandbox, the rubric, the judge).
/// </summary>
public interface IAttemptGrader
{
    /// <summary>What grading runs under, recorded in the manifest (the sandbox's isolation policy).</summary>
    string Isolation { get; }

    /// <summary>The judge that grades explain answers beside the rubric, or null.</summary>
    JudgeInfo? Judge { get; }

    /// <summary>True when this grader knows the attempt's task (an answer to a task it cannot grade is left ungraded).</summary>
    bool CanGrade(AttemptRecord attempt);

    /// <summary>Grades one attempt's answer. A failure to grade is a grade (harness_error), never an exception, except cancellation.</summary>
    Task<AttemptGrade> GradeAsync(AttemptRecord attempt, CancellationToken cancellationToken);
}

/// <summary>Sees every attempt as it ends (progress display, a concurrent grading queue, a repair policy).</summary>
public interface IAttemptObserver
{
    /// <summary>Called once before generation with the number of attempts still to run.</summary>
    void OnGenerationStarting(int attemptsToRun)
    {
    }

    /// <summary>Called with each attempt as it ends, on the runner's thread: must not block.</summary>
    void OnAttempt(AttemptRecord attempt);
}

/// <summary>Writes a run directory's summaries and reports from its attempt records (Eval.Reporting implements it).</summary>
public interface IRunReportWriter
{
    RunSummary Write(RunDirectory directory, RunManifest manifest, IReadOnlyList<AttemptRecord> records);
}

/// <summary>Records a finished run's summary in a history store (Eval.Reporting implements it).</summary>
public interface IRunHistory
{
    /// <summary>Records the run, or logs why it could not: a history failure never fails the run.</summary>
    void Record(RunDirectory directory, RunManifest manifest, RunSummary summary, Action<string> log);

    /// <summary>Where the run was (or would be) recorded, for messages.</summary>
    string Describe(RunDirectory directory);
}
