using Spark.Eval.Core.Tasks;

namespace Spark.Eval.Simulator.Backend;

/// <summary>Which answer a simulated model gives to a task: the reference, or one of the task's mutants.</summary>
public sealed record SimulatedAnswer(string Text, bool Correct, int? MutantIndex)
{
    /// <summary>True when the text is a simulated judge's verdict (<see cref="SimulatedJudge"/>), not an answer to a task.</summary>
    public bool IsJudgeVerdict { get; init; }

    /// <summary>True when the text answers a prompt that is not a bench task (a request over HTTP): a simulated text, not code.</summary>
    public bool IsPromptAnswer { get; init; }

    /// <summary>"reference", "mutant-N" (1-based), "judge-verdict" or "prompt-answer", for logs and tests.</summary>
    public string Label => IsJudgeVerdict ? "judge-verdict" : IsPromptAnswer ? "prompt-answer" : MutantIndex is { } i ? $"mutant-{i + 1}" : "reference";
}

/// <summary>
/// Simulated quality: P(correct) = capability^(1 + 0.5·(difficulty − 1)), so a difficulty-1 task is answered correctly
/// with probability = capability and harder tasks less often; a wrong answer is one of the task's mutants, chosen
/// uniformly. The draw is seeded by the attempt's seed, the task id and the model id, so a run replays exactly.
/// </summary>
public static class SimulatedQuality
{
    public static double ProbabilityCorrect(double capability, int difficulty) =>
        Math.Pow(Math.Clamp(capability, 0, 1), 1 + (0.5 * (Math.Clamp(difficulty, 1, 5) - 1)));

    public static SimulatedAnswer Choose(BenchTask task, double capability, int attemptSeed, string modelId)
    {
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(modelId);
        var random = new Random(StableHash(task.Id, attemptSeed, modelId));
        var p = ProbabilityCorrect(capability, task.Difficulty);
        if (random.NextDouble() < p || task.Mutants.Count == 0)
        {
            // Without mutants there is no known wrong answer to give: the reference stands in (documented).
            return new SimulatedAnswer(task.ReferenceSolution, true, null);
        }

        var index = random.Next(task.Mutants.Count);
        return new SimulatedAnswer(task.Mutants[index], false, index);
    }

    /// <summary>FNV-1a over the task id, the seed and the model id: stable across processes (unlike string.GetHashCode).</summary>
    internal static int StableHash(string taskId, int seed, string modelId)
    {
        unchecked
        {
            var h = 2166136261u;
            foreach (var ch in taskId)
            {
                h = (h ^ ch) * 16777619u;
            }

            h = (h ^ (uint)seed) * 16777619u;
            foreach (var ch in modelId)
            {
                h = (h ^ ch) * 16777619u;
            }

            return (int)h;
        }
    }
}
