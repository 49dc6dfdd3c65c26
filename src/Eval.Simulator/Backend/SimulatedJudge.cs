using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.Extensions.AI;

namespace Spark.Eval.Simulator.Backend;

/// <summary>
/// A simulated model acting as a judge (docs/grading.md, "Simulated judges"): when the last user message holds a judge
/// input object (<c>"judgePrompt": "spark-judge/1"</c> in a <c>```json</c> block), it applies the rubric in that object
/// itself (word bound, required concepts by accepted phrasing, wrong claims: the rubric grader's rule) and then disagrees
/// with that result with probability (1 − capability) / 2, drawn from a seed. Its reply is the documented verdict JSON,
/// labelled <c>"simulated": true</c>. It reads only the prompt text, exactly as a real judge behind an HTTP API would.
/// </summary>
public static partial class SimulatedJudge
{
    /// <summary>The judge prompt version this simulator understands.</summary>
    public const string PromptVersion = "spark-judge/1";

    /// <summary>P(the simulated judge's verdict differs from the rubric's) for a model of this capability.</summary>
    public static double DisagreementProbability(double capability) => (1 - Math.Clamp(capability, 0, 1)) / 2;

    /// <summary>True when the messages are a judge prompt; <paramref name="reply"/> is then the verdict JSON.</summary>
    public static bool TryAnswer(IEnumerable<ChatMessage> messages, double capability, int seed, string modelId, out string reply)
    {
        ArgumentNullException.ThrowIfNull(messages);
        reply = string.Empty;
        var user = messages.LastOrDefault(m => m.Role == ChatRole.User)?.Text;
        if (user is null || !user.Contains(PromptVersion, StringComparison.Ordinal) || JsonBlock().Match(user) is not { Success: true } block)
        {
            return false;
        }

        JsonNode? input;
        try
        {
            input = JsonNode.Parse(block.Groups["body"].Value);
        }
        catch (JsonException)
        {
            return false;
        }

        if (input is not JsonObject root || root["judgePrompt"]?.GetValue<string>() != PromptVersion)
        {
            return false;
        }

        var answer = root["answer"]?.GetValue<string>() ?? string.Empty;
        var (rubricPass, why) = ApplyRubric(root["rubric"] as JsonObject, answer);
        // Seeded by the caller's seed (in process) and the prompt text (over HTTP, where no seed travels), so a replay agrees.
        var random = new Random(SimulatedQuality.StableHash(user, seed, modelId));
        var disagree = random.NextDouble() < DisagreementProbability(capability);
        var pass = disagree ? !rubricPass : rubricPass;
        var reason = disagree
            ? string.Create(CultureInfo.InvariantCulture, $"SIMULATED judge ({modelId}) disagrees with the rubric ({why}), as a model of capability {capability:0.###} does with probability {DisagreementProbability(capability):0.###}")
            : $"SIMULATED judge ({modelId}) agrees with the rubric: {why}";
        reply = new JsonObject { ["verdict"] = pass ? "pass" : "fail", ["reason"] = reason, ["simulated"] = true }.ToJsonString();
        return true;
    }

    /// <summary>The rubric grader's rule on the input's rubric: words ≤ maxWords, no wrong claim, every concept matched.</summary>
    private static (bool Pass, string Why) ApplyRubric(JsonObject? rubric, string answer)
    {
        if (rubric is null)
        {
            return (false, "no rubric in the judge input");
        }

        var words = answer.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Length;
        var maxWords = rubric["maxWords"]?.GetValue<int>() ?? int.MaxValue;
        if (words > maxWords)
        {
            return (false, string.Create(CultureInfo.InvariantCulture, $"too long: {words} words > {maxWords}"));
        }

        foreach (var claim in (rubric["wrongClaims"] as JsonArray ?? []).Select(c => c?.GetValue<string>() ?? string.Empty))
        {
            if (claim.Length > 0 && answer.Contains(claim, StringComparison.OrdinalIgnoreCase))
            {
                return (false, $"wrong claim \"{claim}\"");
            }
        }

        foreach (var concept in (rubric["requiredConcepts"] as JsonArray ?? []).OfType<JsonObject>())
        {
            var phrasings = (concept["phrasings"] as JsonArray ?? []).Select(p => p?.GetValue<string>() ?? string.Empty);
            if (!phrasings.Any(p => p.Length > 0 && answer.Contains(p, StringComparison.OrdinalIgnoreCase)))
            {
                return (false, $"missing concept {concept["name"]?.GetValue<string>()}");
            }
        }

        return (true, "every required concept, no wrong claim, within the word bound");
    }

    [GeneratedRegex(@"```json[ \t]*\r?\n(?<body>.*?)\r?\n```", RegexOptions.Singleline)]
    private static partial Regex JsonBlock();
}
