using Spark.Eval.Core.Tasks;

namespace Spark.Eval.Simulator.Backend;

/// <summary>Which answer a simulated model gives to a task: the reference, or one of the task's mutants.</summary>
public sealed record SimulatedAnswer(string Text, bool Correct, int? MutantIndex)
{
    /// <summary>True when the text is a simulated judge's verdict (<see cref="SimulatedJudge"/>), not an answer to a task.</summary>
    public bool IsJudgeVerdict { get; init; }

    /// <summary>True when the text answers a prompt that is not a bench task (a request over HTTP): a simulated text, not code.</summary>
    public bool IsPromptAnswer { get; init; }

    /// <summary>The reference or mutant the answer carries (the text before rendering); null for judge verdicts and prompt answers.</summary>
    public string? Solution { get; init; }

    /// <summary>The answer's drawn length in tokens (<see cref="SimulatedAnswerLength"/>); 0: the text as it is.</summary>
    public int TargetTokens { get; init; }

    /// <summary>The most filler tokens the task allows after the text.</summary>
    public int MaxPaddingTokens { get; init; }

    /// <summary>"reference", "mutant-N" (1-based), "judge-verdict" or "prompt-answer", for logs and tests.</summary>
    public string Label => IsJudgeVerdict ? "judge-verdict" : IsPromptAnswer ? "prompt-answer" : MutantIndex is { } i ? $"mutant-{i + 1}" : "reference";
}

/// <summary>
/// Simulated quality: P(correct) = capability^(1 + 0.5·(difficulty − 1)), so a difficulty-1 task is answered correctly
/// with probability = capability and harder tasks less often; a repair turn (the failure sent back) succeeds with
/// <see cref="RepairFactor"/> × that; a wrong answer is one of the task's mutants, chosen uniformly. The draw is seeded by the
/// answer seed (run seed, task and repeat — never the backend), the task id, the model id and the turn, so the same model
/// gives the same answers on every hardware profile and a run replays exactly. The answer's text is the solution rendered as
/// an assistant answer and padded to a length drawn from <see cref="SimulatedAnswerLength"/>.
/// </summary>
public static class SimulatedQuality
{
    /// <summary>
    /// A repair turn's chance of success relative to a first try's: 0.5, the median (0.49) over eight models of Aider's
    /// code-editing benchmark of (pass_rate_2 − pass_rate_1) / (100 − pass_rate_1) / pass_rate_1 — gpt-4o-2024-05-13 0.53,
    /// claude-3.5-sonnet-20240620 0.83, llama3-70b-8192 0.45, gpt-3.5-turbo-0125 0.37, gpt-4o-mini 0.62, Qwen2 72B Instruct 0.45,
    /// codestral-2405 0.69, claude-3-haiku 0.28 (github.com/Aider-AI/aider, aider/website/_data/edit_leaderboard.yml).
    /// </summary>
    public const double RepairFactor = 0.5;

    public static double ProbabilityCorrect(double capability, int difficulty) =>
        Math.Pow(Math.Clamp(capability, 0, 1), 1 + (0.5 * (Math.Clamp(difficulty, 1, 5) - 1)));

    /// <summary>The chance that turn <paramref name="turn"/> (0 = first ask) of a task is answered correctly.</summary>
    public static double ProbabilityCorrect(double capability, int difficulty, int turn) =>
        ProbabilityCorrect(capability, difficulty) * (turn > 0 ? RepairFactor : 1);

    /// <summary>The first turn's answer.</summary>
    public static SimulatedAnswer Choose(BenchTask task, double capability, int answerSeed, string modelId) => Choose(task, capability, answerSeed, modelId, 0);

    public static SimulatedAnswer Choose(BenchTask task, double capability, int answerSeed, string modelId, int turn)
    {
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(modelId);
        var random = new Random(StableHash(task.Id, answerSeed ^ (turn * 0x5bd1e995), modelId));
        var p = ProbabilityCorrect(capability, task.Difficulty, turn);
        // Drawn from its own stream, so the length never shifts which answer is chosen.
        var length = new Random(StableHash(task.Id, answerSeed ^ (turn * 0x5bd1e995), modelId + "#length")).NextDouble();
        var target = (int)Math.Round(SimulatedAnswerLength.For(modelId, task.Kind).Sample(length) * SimulatedAnswerLength.Verbosity(modelId));
        if (random.NextDouble() < p || task.Mutants.Count == 0)
        {
            // Without mutants there is no known wrong answer to give: the reference stands in (documented).
            return Answer(task, task.ReferenceSolution, true, null, target);
        }

        var index = random.Next(task.Mutants.Count);
        return Answer(task, task.Mutants[index], false, index, target);
    }

    private static SimulatedAnswer Answer(BenchTask task, string solution, bool correct, int? mutant, int target) =>
        new(SimulatedAnswerLength.Render(task, solution), correct, mutant)
        {
            Solution = solution,
            TargetTokens = target,
            MaxPaddingTokens = SimulatedAnswerLength.MaxPaddingTokens(task, solution),
        };

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
