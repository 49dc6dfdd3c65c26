using System.Text.RegularExpressions;
using Spark.Eval.Core.Tasks;

namespace Spark.Eval.Sandbox.Grading;

/// <summary>What was taken from a chat answer and how (recorded in the attempt's grade).</summary>
public sealed record Extraction(string Code, string Method, string? StopToken, string Form);

/// <summary>Takes the code out of a chat answer: the first fenced block tagged with the task's language, else the first fenced block, else the whole answer; stop tokens cut completions.</summary>
public static partial class CodeExtractor
{
    private static readonly Dictionary<string, string[]> Aliases = new(StringComparer.Ordinal)
    {
        ["python"] = ["python", "py", "python3"],
        ["typescript"] = ["typescript", "ts", "tsx"],
        ["javascript"] = ["javascript", "js", "mjs", "node"],
        ["csharp"] = ["csharp", "cs", "c#", "c-sharp"],
    };

    public static Extraction Extract(string answer, BenchTask task)
    {
        var blocks = Fence().Matches(answer.Replace("\r\n", "\n", StringComparison.Ordinal));
        string code;
        string method;
        var tags = Aliases.GetValueOrDefault(task.Language, [task.Language]);
        var tagged = blocks.FirstOrDefault(b => tags.Contains(b.Groups["lang"].Value.Trim().ToLowerInvariant(), StringComparer.Ordinal));
        if (tagged is not null)
        {
            code = tagged.Groups["code"].Value;
            method = $"fenced:{task.Language}" + (tagged.Groups["close"].Success ? "" : ":unclosed");
        }
        else if (blocks.Count > 0)
        {
            code = blocks[0].Groups["code"].Value;
            method = "fenced:first" + (blocks[0].Groups["close"].Success ? "" : ":unclosed");
        }
        else
        {
            code = answer;
            method = "whole-answer";
        }

        var form = IsWholeDefinition(code, task) ? "whole-function" : "body";
        string? stop = null;
        if (form == "body" && task.Tags.Contains(ProgramComposer.PrefixTag, StringComparer.Ordinal))
        {
            // Completion-style (imported) tasks: the model continues the prompt; cut at the first stop token.
            var cut = task.StopTokens.Select(t => (Token: t, At: code.IndexOf(t, StringComparison.Ordinal))).Where(x => x.At >= 0).OrderBy(x => x.At).FirstOrDefault();
            if (cut.Token is not null)
            {
                code = code[..cut.At];
                stop = cut.Token;
            }
        }

        return new Extraction(code, method, stop, form);
    }

    /// <summary>True when the code defines the task's entry point itself (a whole function), rather than only its body.</summary>
    public static bool IsWholeDefinition(string code, BenchTask task)
    {
        if (task.EntryPoint is not { Length: > 0 } entry)
        {
            return true;
        }

        var name = Regex.Escape(entry);
        var pattern = task.Language switch
        {
            "python" => $@"^\s*(async\s+)?def\s+{name}\s*\(",
            "csharp" => $@"^\s*(public|private|internal|protected|static)\b[\w<>\[\],\s\.?]*\s{name}\s*(<[^>]*>)?\s*\(",
            _ => $@"(^\s*(export\s+)?(async\s+)?function\s+{name}\b)|(^\s*(export\s+)?(const|let|var)\s+{name}\s*[=:])",
        };
        return Regex.IsMatch(code, pattern, RegexOptions.Multiline, TimeSpan.FromSeconds(1));
    }

    [GeneratedRegex(@"```[ \t]*(?<lang>[\w#+\-.]*)[^\n]*\n(?<code>.*?)(?:(?<close>\n?```)|\z)", RegexOptions.Singleline)]
    private static partial Regex Fence();
}
