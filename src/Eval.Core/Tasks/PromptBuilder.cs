using System.Text;
using Microsoft.Extensions.AI;

namespace Spark.Eval.Core.Tasks;

/// <summary>Turns a task into chat messages: a short system instruction per kind, then the prompt and its context files.</summary>
public static class PromptBuilder
{
    public static IReadOnlyList<ChatMessage> Build(BenchTask task)
    {
        ArgumentNullException.ThrowIfNull(task);
        var system = task.Kind switch
        {
            TaskKind.Explain => "You are a concise coding assistant. Answer in plain prose.",
            TaskKind.UnitTests => $"You are a coding assistant. Reply with one {task.Language} code block holding only the tests.",
            _ => $"You are a coding assistant. Reply with one {task.Language} code block and nothing else.",
        };
        var user = new StringBuilder(task.Prompt);
        foreach (var file in task.ContextFiles)
        {
            user.Append("\n\n--- ").Append(file.Path).Append(" ---\n").Append(file.Content);
        }

        if (task.FailingOutput is { Length: > 0 } failing)
        {
            user.Append("\n\nFailing output:\n").Append(failing);
        }

        return [new ChatMessage(ChatRole.System, system), new ChatMessage(ChatRole.User, user.ToString())];
    }
}
