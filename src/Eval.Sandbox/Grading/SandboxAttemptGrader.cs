using System.Collections.Concurrent;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Running;
using Spark.Eval.Core.Tasks;
using Spark.Eval.Sandbox.Execution;

namespace Spark.Eval.Sandbox.Grading;

/// <summary>What grading needs besides the suite: the sandbox policy switch, an optional judge, and the run seed.</summary>
public sealed record GradingSettings(bool AllowUnsandboxed, JudgeGrader? Judge, int Seed);

/// <summary>
/// The <see cref="IAttemptGrader"/> of spark-eval: extracts the code of an answer and grades it by task kind in the sandbox
/// (<see cref="TaskGrader"/>); explain answers also go to the judge when one is configured (pass = rubric AND judge).
/// Answers that are suite text (trusted) grade the same in every run of this process and are graded once.
/// </summary>
public sealed class SandboxAttemptGrader : IAttemptGrader, IDisposable
{
    /// <summary>The grader's name and version, stored with every grade (format 2).</summary>
    public const string Version = "spark-eval-sandbox/2";

    // Suite text (trusted answers, e.g. a simulated backend's references) grades the same in every run of this process.
    private static readonly ConcurrentDictionary<string, AttemptGrade> TrustedGrades = new(StringComparer.Ordinal);

    private readonly TaskSuite _suite;
    private readonly Dictionary<string, BenchTask> _tasks;
    private readonly GradingSettings _settings;
    private readonly CodeSandbox _sandbox;
    private readonly TaskGrader _grader;

    public SandboxAttemptGrader(TaskSuite suite, GradingSettings settings, TimeProvider time, Action<string> log, SandboxEnvironment? environment = null)
    {
        ArgumentNullException.ThrowIfNull(suite);
        ArgumentNullException.ThrowIfNull(settings);
        _suite = suite;
        _tasks = suite.Tasks.ToDictionary(t => t.Id, StringComparer.Ordinal);
        _settings = settings;
        _sandbox = new CodeSandbox(new SandboxOptions { AllowUnsandboxed = settings.AllowUnsandboxed }, time, log, environment);
        _grader = new TaskGrader(_sandbox, new TrustIndex(suite.Tasks));
    }

    public string Isolation => _sandbox.Policy;

    public JudgeInfo? Judge => _settings.Judge?.Describe();

    public bool CanGrade(AttemptRecord attempt)
    {
        ArgumentNullException.ThrowIfNull(attempt);
        return _tasks.ContainsKey(attempt.Slot.TaskId);
    }

    public async Task<AttemptGrade> GradeAsync(AttemptRecord attempt, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(attempt);
        var task = _tasks[attempt.Slot.TaskId];
        var answerHash = TrustIndex.Hash(attempt.Answer);
        var judged = task.Kind == TaskKind.Explain && _settings.Judge is not null;
        var trustedKey = _suite.Sha256 + "\n" + _sandbox.Policy + "\n" + task.Id + "\n" + answerHash;
        if (!judged && TrustedGrades.TryGetValue(trustedKey, out var known))
        {
            return known;
        }

        var grade = await _grader.GradeAnswerAsync(task, attempt.Answer, cancellationToken);
        if (_settings.Judge is not { } judge || task.Kind != TaskKind.Explain)
        {
            var result = grade.ToAttemptGrade() with { Policy = _sandbox.Policy, Grader = Version };
            if (grade.Trusted)
            {
                TrustedGrades[trustedKey] = result;
            }

            return result;
        }

        // The judge's seed depends on the run seed, the task and the answer, never on grading order: after and concurrent agree.
        var seed = BenchmarkRunner.SlotSeed(_settings.Seed, new SlotKey(task.Id, "judge:" + answerHash[..16], 0));
        var verdict = await judge.JudgeAsync(task, attempt.Answer, seed, cancellationToken);
        var combined = JudgeGrader.Combine(grade, verdict).ToAttemptGrade() with { Policy = _sandbox.Policy, Grader = Version };
        return judge.Annotate(combined, grade, verdict);
    }

    public void Dispose() => _sandbox.Dispose();
}
