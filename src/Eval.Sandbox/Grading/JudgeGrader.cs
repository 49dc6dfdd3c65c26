using System.Globalization;
using Microsoft.Extensions.AI;
using Spark.Eval.Core.Backends;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Tasks;
using Spark.Eval.Sandbox.Execution;

namespace Spark.Eval.Sandbox.Grading;

/// <summary>A judge backend ready to grade: its chat client and how the manifest and each verdict describe it.</summary>
public sealed record JudgeSetup
{
    public required IChatClient Client { get; init; }
    /// <summary>The backend spec as given to <c>--judge</c>.</summary>
    public required string Spec { get; init; }
    public required string Name { get; init; }
    public required string Kind { get; init; }
    /// <summary>True when the judge backend itself is simulated (hwsim, sim in process).</summary>
    public bool Simulated { get; init; }
    public string? Model { get; init; }
    /// <summary>Limit for one judge try (the backend's own timeouts apply inside it).</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(120);
    public int MaxOutputTokens { get; init; } = 400;
}

/// <summary>What one judging of one answer produced: the verdict or a classified failure, and its own cost (never the attempt's).</summary>
public sealed record JudgeResult
{
    public JudgeVerdict? Verdict { get; init; }
    /// <summary>Set when no verdict was obtained: judge_unparsable, judge_bad_verdict, judge_timeout, or the backend's error class.</summary>
    public string? ErrorClass { get; init; }
    public string? Error { get; init; }
    /// <summary>The start of the last unparsable reply (500 characters), for debugging a judge.</summary>
    public string? RawReply { get; init; }
    public int Tries { get; init; }
    /// <summary>Wall time of all tries, ms (the judge's, kept apart from the attempt's latency metrics).</summary>
    public double LatencyMs { get; init; }
    public long? InputTokens { get; init; }
    public long? OutputTokens { get; init; }
    public string? ModelReported { get; init; }

    public bool Ok => Verdict is not null;
}

/// <summary>
/// Grades explain answers with a judge backend on top of the rubric. Combine rule (docs/grading.md): pass = rubric passes
/// AND judge says pass. A failed rubric is <c>wrong_answer</c> whatever the judge says; a passed rubric with a judge
/// "fail" is <c>wrong_answer</c> (detail <c>judge: …</c>); a passed rubric with no judge verdict (after one retry) is
/// <c>harness_error</c> (detail <c>judge failed (class): …</c>): counted as not passed, never dropped and never passed.
/// </summary>
public sealed class JudgeGrader(JudgeSetup judge, TimeProvider time)
{
    /// <summary>Judge tries per answer: the first and at most one retry.</summary>
    public const int MaxTries = 2;

    /// <summary>The combine rule's name, stored with every judged grade and in the manifest.</summary>
    public const string CombineRule = "rubric_and_judge";

    public JudgeSetup Setup => judge;

    /// <summary>Asks the judge for a verdict on one answer, retrying once when the reply is unparsable or the call fails.</summary>
#pragma warning disable CA1031 // A judge failure is data (a classified grade), not an exception that ends the grading.
    public async Task<JudgeResult> JudgeAsync(BenchTask task, string answer, int seed, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(task);
        var messages = JudgePrompt.Build(task, answer);
        var started = time.GetTimestamp();
        long? input = null, output = null;
        string? model = null;
        var last = new JudgeResult { ErrorClass = "judge_error", Error = "not tried" };
        for (var attempt = 1; attempt <= MaxTries; attempt++)
        {
            var options = new ChatOptions
            {
                Temperature = 0,
                MaxOutputTokens = judge.MaxOutputTokens,
                AdditionalProperties = new AdditionalPropertiesDictionary { [AttemptContext.SeedKey] = seed + attempt - 1 },
            };
            using var timeout = new CancellationTokenSource(judge.Timeout, time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
            try
            {
                var response = await judge.Client.GetResponseAsync(messages, options, linked.Token);
                input = Add(input, response.Usage?.InputTokenCount);
                output = Add(output, response.Usage?.OutputTokenCount);
                model = response.ModelId ?? model;
                var parse = JudgeVerdictParser.Parse(response.Text);
                last = parse.Ok
                    ? new JudgeResult { Verdict = parse.Verdict }
                    : new JudgeResult { ErrorClass = parse.ErrorClass, Error = parse.Error, RawReply = Truncate(response.Text, 500) };
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                last = new JudgeResult { ErrorClass = "judge_timeout", Error = string.Create(CultureInfo.InvariantCulture, $"no reply within {judge.Timeout.TotalSeconds:0.#} s") };
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                last = new JudgeResult { ErrorClass = ErrorClassifier.Classify(ex), Error = ex.Message };
            }

            if (last.Ok || attempt == MaxTries)
            {
                return last with
                {
                    Tries = attempt,
                    LatencyMs = time.GetElapsedTime(started).TotalMilliseconds,
                    InputTokens = input,
                    OutputTokens = output,
                    ModelReported = model,
                };
            }
        }

        return last;
    }
#pragma warning restore CA1031

    /// <summary>Combines the rubric's grade and the judge's result by the documented rule.</summary>
    public static TaskGrade Combine(TaskGrade rubric, JudgeResult judged)
    {
        ArgumentNullException.ThrowIfNull(rubric);
        ArgumentNullException.ThrowIfNull(judged);
        if (!rubric.Passed)
        {
            return rubric;
        }

        if (judged.Verdict is not { } verdict)
        {
            return rubric with { Outcome = ExecutionOutcome.HarnessError, Detail = $"judge failed ({judged.ErrorClass}): {judged.Error}" };
        }

        return verdict.Pass
            ? rubric with { Detail = rubric.Detail + "; judge: pass" }
            : rubric with { Outcome = ExecutionOutcome.WrongAnswer, Detail = "judge: " + (verdict.Reason ?? "fail (no reason given)") };
    }

    /// <summary>The grade of a judged answer: the combined grade with the rubric's verdict, the judge's and the combine rule beside it.</summary>
    public AttemptGrade Annotate(AttemptGrade combined, TaskGrade rubric, JudgeResult judged)
    {
        ArgumentNullException.ThrowIfNull(combined);
        ArgumentNullException.ThrowIfNull(rubric);
        ArgumentNullException.ThrowIfNull(judged);
        return combined with
        {
            Combine = CombineRule,
            Rubric = new RubricVerdict(rubric.Passed, rubric.Outcome.Name(), rubric.Detail),
            Judge = new JudgeVerdictRecord
            {
                Status = judged.Ok ? "ok" : "failed",
                Verdict = judged.Verdict is { } v ? (v.Pass ? "pass" : "fail") : null,
                AgreesWithRubric = judged.Verdict is { } a ? a.Pass == rubric.Passed : null,
                Reason = judged.Verdict?.Reason,
                Simulated = judge.Simulated || judged.Verdict?.Simulated == true,
                Backend = judge.Name,
                Kind = judge.Kind,
                Model = judged.ModelReported ?? judge.Model,
                Prompt = JudgePrompt.Version,
                Tries = judged.Tries,
                LatencyMs = Math.Round(judged.LatencyMs, 3),
                InputTokens = judged.InputTokens,
                OutputTokens = judged.OutputTokens,
                ErrorClass = judged.Ok ? null : judged.ErrorClass,
                Error = judged.Ok ? null : judged.Error,
                RawReply = judged.Ok ? null : judged.RawReply,
            },
        };
    }

    /// <summary>The manifest's record of this judge.</summary>
    public JudgeInfo Describe() => new(judge.Spec, judge.Name, judge.Kind, judge.Simulated, judge.Model, JudgePrompt.Version, CombineRule, MaxTries);

    private static long? Add(long? total, long? more) => more is { } m ? (total ?? 0) + m : total;

    private static string? Truncate(string? text, int max) => text is null || text.Length <= max ? text : text[..max] + "…";
}
