using System.Text.Json.Serialization;

namespace Spark.Eval.Core.Results;

/// <summary>
/// The grade of one attempt's answer (docs/formats.md, "grade"): outcome, evidence, extraction, kind-specific figures, how and
/// when it was graded, and the judge's verdict beside the rubric. Version-1 run directories stored the same fields as an
/// untyped object, so they read into this record unchanged.
/// </summary>
public sealed record AttemptGrade
{
    /// <summary>The outcome's name: passed, wrong_answer, compile_error, runtime_error, timeout, memory_limit, output_limit, refused, harness_error, … (docs/grading.md).</summary>
    public required string Outcome { get; init; }

    /// <summary>True only for <see cref="Outcome"/> passed; stored for readers of the raw file.</summary>
    public bool Passed { get; init; }

    /// <summary>The first failure, or what a pass rests on.</summary>
    public string? Detail { get; init; }

    /// <summary>The isolation the program ran under (bubblewrap+rlimits+cgroup…, not executed (rubric), …).</summary>
    public required string Isolation { get; init; }

    /// <summary>True when the answer text hashed to a suite reference or mutant.</summary>
    public bool Trusted { get; init; }

    /// <summary>What was taken out of the answer and graded.</summary>
    public GradeExtraction? Extraction { get; init; }

    /// <summary>unit-tests: mutants the answer's tests killed, of <see cref="MutantsTotal"/>.</summary>
    public int? MutantsKilled { get; init; }

    public int? MutantsTotal { get; init; }

    /// <summary>unit-tests: killed / total.</summary>
    public double? MutationScore { get; init; }

    /// <summary>unit-tests: 1-based numbers of the mutants the tests did not kill.</summary>
    public IReadOnlyList<int>? Survivors { get; init; }

    /// <summary>Set when the task is quarantined: graded for the record, not counted in pass rates.</summary>
    public string? Quarantined { get; init; }

    /// <summary>CPU and wall time of the graded program(s).</summary>
    public double? CpuSeconds { get; init; }

    public double? WallSeconds { get; init; }

    /// <summary>The sandbox policy of the grading session (isolated …, trusted-only, unsandboxed).</summary>
    public string? Policy { get; init; }

    /// <summary>Which grader produced the grade and its version (format 2 on; absent in version-1 runs).</summary>
    public string? Grader { get; init; }

    /// <summary>How and when the grade was made relative to generation.</summary>
    public GradeTiming? Grading { get; init; }

    /// <summary>Judged explain answers: the rule that combined rubric and judge.</summary>
    public string? Combine { get; init; }

    /// <summary>Judged explain answers: the rubric's own verdict.</summary>
    public RubricVerdict? Rubric { get; init; }

    /// <summary>Judged explain answers: the judge's verdict and its cost.</summary>
    public JudgeVerdictRecord? Judge { get; init; }

    /// <summary>True when the grade counts as passed.</summary>
    [JsonIgnore]
    public bool IsPassed => Outcome == PassedOutcome;

    /// <summary>The outcome name of a pass.</summary>
    public const string PassedOutcome = "passed";
}

/// <summary>What was extracted from an answer: method, form, stop token, size and a short hash of the code.</summary>
public sealed record GradeExtraction(string Method, string Form, string? StopToken, int Chars, string Sha256);

/// <summary>When and how a grade was made: mode, whether it was queued during generation and started before it ended, whether an identical answer's grade was reused; times in µs from the run's clock origin.</summary>
public sealed record GradeTiming
{
    public required string Mode { get; init; }
    public bool Queued { get; init; }
    public bool StartedDuringGeneration { get; init; }
    public bool Reused { get; init; }
    public long? StartUs { get; init; }
    public long? EndUs { get; init; }
    public int? AttemptsFinishedAtStart { get; init; }
}

/// <summary>The rubric's verdict on a judged explain answer.</summary>
public sealed record RubricVerdict(bool Passed, string Outcome, string? Detail);

/// <summary>The judge's verdict on one explain answer, with what it cost (never part of an attempt's metrics).</summary>
public sealed record JudgeVerdictRecord
{
    /// <summary>ok or failed.</summary>
    public required string Status { get; init; }
    /// <summary>pass, fail, or null when the judge failed.</summary>
    public string? Verdict { get; init; }
    public bool? AgreesWithRubric { get; init; }
    public string? Reason { get; init; }
    public bool Simulated { get; init; }
    public string? Backend { get; init; }
    public string? Kind { get; init; }
    public string? Model { get; init; }
    public string? Prompt { get; init; }
    public int Tries { get; init; }
    public double LatencyMs { get; init; }
    public long? InputTokens { get; init; }
    public long? OutputTokens { get; init; }
    public string? ErrorClass { get; init; }
    public string? Error { get; init; }
    public string? RawReply { get; init; }
}
