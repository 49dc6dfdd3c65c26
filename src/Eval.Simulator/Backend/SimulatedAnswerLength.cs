using Spark.Eval.Core.Tasks;

namespace Spark.Eval.Simulator.Backend;

/// <summary>An output-length distribution of real assistant answers: token counts at cumulative probabilities, with its source.</summary>
public sealed record AnswerLengthDistribution(IReadOnlyList<(double P, double Tokens)> Quantiles, string Source)
{
    /// <summary>Inverse-CDF draw: a uniform u, interpolated linearly between the two quantiles around it.</summary>
    public int Sample(double u)
    {
        var q = Quantiles;
        if (u <= q[0].P)
        {
            return (int)Math.Round(q[0].Tokens);
        }

        for (var i = 1; i < q.Count; i++)
        {
            if (u <= q[i].P)
            {
                var f = (u - q[i - 1].P) / (q[i].P - q[i - 1].P);
                return (int)Math.Round(q[i - 1].Tokens + (f * (q[i].Tokens - q[i - 1].Tokens)));
            }
        }

        return (int)Math.Round(q[^1].Tokens);
    }
}

/// <summary>
/// How long a simulated answer is (docs/simulator.md, "Simulated answers"): a real assistant wraps its code in a sentence and
/// explains it, so a simulated answer is the task's reference (or mutant) in a fenced block followed by neutral prose, up to a
/// total length drawn per model and task kind from a measured distribution of real assistant answers — not the ~60-token
/// reference alone. The prose sits after the code, so a token limit cuts the explanation first.
/// </summary>
public static class SimulatedAnswerLength
{
    /// <summary>
    /// Output lengths of real chat-assistant answers: Mooncake's FAST'25 conversation trace (Kimi's production chat service),
    /// first 2,000 requests (/work/shared/datasets/traces), quantiles of output_length (median 363, mean 352 tokens).
    /// </summary>
    public static readonly AnswerLengthDistribution ChatAssistant = new(
        [(0.0, 1), (0.01, 3), (0.05, 10), (0.1, 25), (0.2, 107), (0.3, 225), (0.4, 310.6), (0.5, 363), (0.6, 410), (0.7, 460),
         (0.8, 517.2), (0.9, 602.1), (0.95, 689), (0.99, 1060), (1.0, 2000)],
        "Mooncake FAST'25 conversation_trace.jsonl (github.com/kvcache-ai/Mooncake, FAST25-release/traces, commit 3b5a5941), first 2,000 requests: quantiles of output_length");

    /// <summary>
    /// The distribution per task kind. No public measurement of chat answer lengths per coding-task kind was found, so every
    /// kind uses the chat-assistant trace; an explain answer is further capped by its rubric's word limit (see <see cref="MaxPaddingTokens"/>).
    /// </summary>
    public static AnswerLengthDistribution For(string modelId, TaskKind kind) => ChatAssistant;

    /// <summary>
    /// Per-model verbosity: a factor on the drawn length. 1 for every model: no public per-model measurement of answer length
    /// on chat coding tasks was found (an assumption, stated in the report); a pilot's telemetry can set it.
    /// </summary>
    public static double Verbosity(string modelId) => 1.0;

    /// <summary>The neutral prose that pads an answer after its code; chosen to carry no claim about any task.</summary>
    public const string Filler =
        "The change keeps to what the request asks for and leaves the surrounding code as it was. "
        + "Names follow the conventions already used in the file. "
        + "If the project has its own checks, running them once more after pasting this in is a good idea.\n";

    /// <summary>The answer text before padding: prose around a fenced block, or the text itself where a wrapper would change grading.</summary>
    public static string Render(BenchTask task, string solution)
    {
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(solution);
        // Explanations are prose already; completion-style tasks continue the prompt's code, where prose would break it.
        if (task.Kind == TaskKind.Explain || task.Tags.Contains("compose:prefix", StringComparer.Ordinal) || solution.Contains("```", StringComparison.Ordinal))
        {
            return solution;
        }

        return $"Here is the code:\n\n```{task.Language}\n{solution.TrimEnd()}\n```\n\n";
    }

    /// <summary>
    /// The most padding tokens the task allows: none for completion-style tasks; for explain, what keeps the answer within the
    /// rubric's word limit (a word is at least one token), and none when the filler would add or contradict a rubric phrase.
    /// </summary>
    public static int MaxPaddingTokens(BenchTask task, string solution)
    {
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(solution);
        if (task.Tags.Contains("compose:prefix", StringComparer.Ordinal))
        {
            return 0;
        }

        if (task.Kind != TaskKind.Explain)
        {
            return int.MaxValue;
        }

        if (task.Rubric is not { } rubric)
        {
            return 0;
        }

        var touches = rubric.WrongClaims.Concat(rubric.RequiredConcepts.SelectMany(c => c.Phrasings))
            .Any(p => Filler.Contains(p, StringComparison.OrdinalIgnoreCase));
        var words = solution.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Length;
        return touches ? 0 : Math.Max(0, rubric.MaxWords - words - 1);
    }

    /// <summary>The answer's pieces: the rendered answer's, then filler pieces (cycled) up to the target length, within the cap.</summary>
    public static IReadOnlyList<string> Pieces(IReadOnlyList<string> head, IReadOnlyList<string> filler, int targetTokens, int maxPadding)
    {
        ArgumentNullException.ThrowIfNull(head);
        ArgumentNullException.ThrowIfNull(filler);
        var padding = Math.Min(Math.Max(0, targetTokens - head.Count), maxPadding);
        if (padding == 0 || filler.Count == 0)
        {
            return head;
        }

        var pieces = new List<string>(head.Count + padding);
        pieces.AddRange(head);
        for (var i = 0; i < padding; i++)
        {
            pieces.Add(filler[i % filler.Count]);
        }

        return pieces;
    }
}
