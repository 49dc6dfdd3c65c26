using System.CommandLine;

namespace Spark.Eval.Cli;

/// <summary>Suggests the nearest command or option for a mistyped token ("did you mean '--repeats'?").</summary>
public static class DidYouMean
{
    /// <summary>One hint per unmatched token that is close to a name the command it was given to knows.</summary>
    public static IReadOnlyList<string> Hints(ParseResult parse)
    {
        ArgumentNullException.ThrowIfNull(parse);
        var command = parse.CommandResult.Command;
        var names = command.Subcommands.Where(c => !c.Hidden).SelectMany(c => c.Aliases.Prepend(c.Name))
            .Concat(command.Options.Where(o => !o.Hidden).SelectMany(o => o.Aliases.Prepend(o.Name)))
            .Distinct(StringComparer.Ordinal).ToList();
        var hints = new List<string>();
        foreach (var token in parse.UnmatchedTokens.Distinct(StringComparer.Ordinal))
        {
            var word = token.Split('=', 2)[0];
            var best = names.Select(n => (Name: n, Distance: Distance(word, n))).Where(x => x.Distance <= Math.Max(2, word.Length / 3))
                .OrderBy(x => x.Distance).ThenBy(x => x.Name, StringComparer.Ordinal).Select(x => x.Name).FirstOrDefault();
            if (best is not null && best != word)
            {
                hints.Add($"'{token}': did you mean '{best}'? (spark-eval {(command is RootCommand ? "" : command.Name + " ")}--help lists them all)");
            }
        }

        return hints;
    }

    /// <summary>Levenshtein distance, case-sensitive.</summary>
    internal static int Distance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            }

            (previous, current) = (current, previous);
        }

        return previous[b.Length];
    }
}
