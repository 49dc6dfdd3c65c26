using System.Text.RegularExpressions;
using Spark.Eval.Core.Tasks;

namespace Spark.Eval.Sandbox.Grading;

/// <summary>Builds the program that is executed from a task and an answer, per docs/grading.md.</summary>
public static partial class ProgramComposer
{
    /// <summary>Tag of completion-style (imported) tasks: program = contextFiles[0] (the prompt prefix) + answer + "\n" + hiddenChecks.</summary>
    public const string PrefixTag = "compose:prefix";

    public const string CSharpUsings = "using System; using System.Collections.Generic; using System.Linq; using System.Text;\nusing System.Text.RegularExpressions; using System.Diagnostics;\n";

    /// <summary>The whole program for stub, refactor and fix tasks.</summary>
    public static string Compose(BenchTask task, Extraction answer)
    {
        if (task.Tags.Contains(PrefixTag, StringComparer.Ordinal) && task.ContextFiles.Count > 0)
        {
            return ComposePrefixed(task, answer);
        }

        return task.Language switch
        {
            "csharp" => $"{CSharpUsings}{task.SupportCode}\npublic static class Problem {{\n{answer.Code}\npublic static void Main() {{\n{task.HiddenChecks}\n}}\n}}\n",
            _ => $"{task.SupportCode}\n{answer.Code}\n{task.HiddenChecks}",
        };
    }

    private static string ComposePrefixed(BenchTask task, Extraction answer)
    {
        var prefix = task.ContextFiles[0].Content;
        if (answer.Form == "body")
        {
            return prefix + answer.Code + "\n" + task.HiddenChecks;
        }

        // A whole function: keep what precedes the entry point's declaration (imports, helpers, the class header).
        var head = HeadBefore(prefix, task);
        var checks = task.HiddenChecks;
        if (task.Language is "csharp")
        {
            // MultiPL-E C# checks open by closing the function the completion was writing.
            checks = ClosingBrace().Replace(checks, "", 1);
        }

        return head + answer.Code + "\n" + checks;
    }

    private static string HeadBefore(string prefix, BenchTask task)
    {
        var name = Regex.Escape(task.EntryPoint ?? "");
        var pattern = task.Language switch
        {
            "python" => $@"^[ \t]*(async\s+)?def\s+{name}\s*\(",
            "csharp" => $@"^[ \t]*(public|private|internal|protected|static)\b[^\n]*\s{name}\s*\(",
            _ => $@"^[ \t]*(export\s+)?function\s+{name}\b",
        };
        var matches = Regex.Matches(prefix, pattern, RegexOptions.Multiline, TimeSpan.FromSeconds(1));
        if (matches.Count == 0)
        {
            return prefix;
        }

        var at = matches[^1].Index;
        // Keep the doc comment block with the head only if it belongs to an earlier declaration; here it is dropped with the signature.
        return prefix[..at];
    }

    [GeneratedRegex(@"^\s*\}")]
    private static partial Regex ClosingBrace();
}
