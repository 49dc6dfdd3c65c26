using System.Globalization;
using Microsoft.Extensions.AI;
using Spark.Eval.Core.Results;

namespace Spark.Eval.Core.Sessions;

/// <summary>
/// The message a repair turn sends back in the same conversation (docs/formats.md, "Sessions"): the grade's outcome and its first
/// failure (the first failing check's output, compiler errors), or the generation's error, cut to the first
/// <see cref="SessionDefaults.FailureHeadChars"/> and the last <see cref="SessionDefaults.FailureTailChars"/> characters.
/// </summary>
public static class RepairPrompt
{
    /// <summary>What failed, before truncation: "outcome: detail" of the grade, or "error class: message" of the generation.</summary>
    public static string Failure(AttemptRecord attempt)
    {
        ArgumentNullException.ThrowIfNull(attempt);
        if (attempt.Grade is { } grade)
        {
            return string.IsNullOrWhiteSpace(grade.Detail) ? grade.Outcome : grade.Outcome + ": " + grade.Detail;
        }

        return attempt.Outcome.Status == AttemptStatus.Ok
            ? "not graded"
            : $"{attempt.Outcome.ErrorClass ?? attempt.Outcome.Status.ToString()}: {attempt.Outcome.Message}";
    }

    /// <summary>Keeps the head and the tail of a long failure text (compilers put the first error first, test runners the summary last).</summary>
    public static string Truncate(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        const int head = SessionDefaults.FailureHeadChars, tail = SessionDefaults.FailureTailChars;
        if (text.Length <= head + tail)
        {
            return text;
        }

        var cut = text.Length - head - tail;
        return string.Create(CultureInfo.InvariantCulture, $"{text[..head]}\n… [{cut} characters cut] …\n{text[^tail..]}");
    }

    /// <summary>The user message of a repair turn.</summary>
    public static ChatMessage Message(AttemptRecord attempt) => new(ChatRole.User, Text(attempt));

    /// <summary>The text of that message.</summary>
    public static string Text(AttemptRecord attempt) =>
        "Your answer failed the checks. Their output:\n```text\n" + Truncate(Failure(attempt)).Replace("```", "'''", StringComparison.Ordinal)
        + "\n```\nFix it and reply with the complete corrected answer.";
}
