using Spectre.Console;

namespace Spark.Eval.Cli;

/// <summary>Terminal helpers for the CLI's tables; the end-of-run table itself is Eval.Reporting's <c>ConsoleSummaryTable</c>.</summary>
public static class SummaryTable
{
    /// <summary>A console for writing tables: colours only on an interactive terminal, else plain text of the given width.</summary>
    internal static IAnsiConsole TableConsole(TextWriter writer, int plainWidth)
    {
        var interactive = ReferenceEquals(writer, Console.Out) && !Console.IsOutputRedirected;
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(writer),
            Ansi = interactive ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = interactive ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
        });
        if (!interactive)
        {
            console.Profile.Width = plainWidth;
        }

        return console;
    }
}
