using System.Text.Json;
using System.Text.RegularExpressions;

namespace Spark.Eval.Sandbox.Grading;

/// <summary>A judge's parsed reply: pass or fail, its reason, and whether the judge labelled itself simulated.</summary>
public sealed record JudgeVerdict(bool Pass, string? Reason, bool Simulated);

/// <summary>The result of parsing a judge reply: a verdict, or the failure class and why.</summary>
public sealed record JudgeParse(JudgeVerdict? Verdict, string? ErrorClass, string? Error)
{
    public bool Ok => Verdict is not null;
}

/// <summary>
/// Reads a judge's reply robustly (docs/grading.md): reasoning in <c>&lt;think&gt;</c> blocks is dropped; the reply is
/// tried as bare JSON, then each fenced block, then each balanced <c>{…}</c> in the text; the first object with a valid
/// <c>verdict</c> wins. Anything else is a classified failure (<c>judge_unparsable</c>, <c>judge_bad_verdict</c>), never a pass.
/// </summary>
public static partial class JudgeVerdictParser
{
    public const string Unparsable = "judge_unparsable";
    public const string BadVerdict = "judge_bad_verdict";

    public static JudgeParse Parse(string? reply)
    {
        if (string.IsNullOrWhiteSpace(reply))
        {
            return new JudgeParse(null, Unparsable, "empty reply");
        }

        var text = ThinkBlock().Replace(reply, string.Empty).Trim();
        var sawObject = false;
        string? lastProblem = null;
        foreach (var candidate in Candidates(text))
        {
            JsonDocument document;
            try
            {
                document = JsonDocument.Parse(candidate, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
            }
            catch (JsonException)
            {
                continue;
            }

            using (document)
            {
                if (document.RootElement.ValueKind != JsonValueKind.Object)
                {
                    continue;
                }

                sawObject = true;
                var (verdict, problem) = Read(document.RootElement);
                if (verdict is not null)
                {
                    return new JudgeParse(verdict, null, null);
                }

                lastProblem = problem;
            }
        }

        return sawObject
            ? new JudgeParse(null, BadVerdict, lastProblem)
            : new JudgeParse(null, Unparsable, "no JSON object in the reply");
    }

    /// <summary>The reply itself, then the content of each fenced block, then each balanced top-level <c>{…}</c>.</summary>
    private static IEnumerable<string> Candidates(string text)
    {
        yield return text;
        foreach (Match fence in FencedBlock().Matches(text))
        {
            yield return fence.Groups["body"].Value;
        }

        for (var start = text.IndexOf('{', StringComparison.Ordinal); start >= 0; start = text.IndexOf('{', start + 1))
        {
            if (BalancedEnd(text, start) is { } end)
            {
                yield return text[start..(end + 1)];
                start = end;
            }
        }
    }

    /// <summary>Index of the brace closing the one at <paramref name="start"/>, skipping braces inside JSON strings.</summary>
    private static int? BalancedEnd(string text, int start)
    {
        var depth = 0;
        var inString = false;
        for (var i = start; i < text.Length; i++)
        {
            var c = text[i];
            if (inString)
            {
                if (c == '\\')
                {
                    i++;
                }
                else if (c == '"')
                {
                    inString = false;
                }

                continue;
            }

            switch (c)
            {
                case '"':
                    inString = true;
                    break;
                case '{':
                    depth++;
                    break;
                case '}' when --depth == 0:
                    return i;
            }
        }

        return null;
    }

    private static (JudgeVerdict? Verdict, string? Problem) Read(JsonElement root)
    {
        bool? pass = null;
        if (TryGet(root, "verdict", out var verdict))
        {
            pass = verdict.ValueKind switch
            {
                JsonValueKind.String => verdict.GetString()?.Trim().ToLowerInvariant() switch
                {
                    "pass" or "passed" or "correct" => true,
                    "fail" or "failed" or "incorrect" => false,
                    _ => null,
                },
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => null,
            };
            if (pass is null)
            {
                return (null, $"verdict {verdict.GetRawText()} is not \"pass\" or \"fail\"");
            }
        }
        else if (TryGet(root, "pass", out var flag) && flag.ValueKind is JsonValueKind.True or JsonValueKind.False)
        {
            pass = flag.ValueKind == JsonValueKind.True;
        }
        else
        {
            return (null, "the JSON object has no verdict field");
        }

        var reason = TryGet(root, "reason", out var r) && r.ValueKind == JsonValueKind.String ? r.GetString() : null;
        var simulated = TryGet(root, "simulated", out var s) && s.ValueKind == JsonValueKind.True;
        return (new JudgeVerdict(pass.Value, reason, simulated), null);
    }

    private static bool TryGet(JsonElement root, string name, out JsonElement value)
    {
        foreach (var property in root.EnumerateObject())
        {
            if (string.Equals(property.Name, name, StringComparison.OrdinalIgnoreCase))
            {
                value = property.Value;
                return true;
            }
        }

        value = default;
        return false;
    }

    [GeneratedRegex(@"<think>.*?(</think>|$)", RegexOptions.Singleline | RegexOptions.IgnoreCase)]
    private static partial Regex ThinkBlock();

    [GeneratedRegex(@"```[A-Za-z0-9_-]*[ \t]*\r?\n(?<body>.*?)(```|$)", RegexOptions.Singleline)]
    private static partial Regex FencedBlock();
}
