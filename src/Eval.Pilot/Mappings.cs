using Spark.Eval.Core;

namespace Spark.Eval.Pilot;

/// <summary>Maps the identities each source uses (git e-mails, GitHub logins, account ids) onto one developer name.</summary>
public sealed class IdentityMap
{
    private readonly Dictionary<string, string> _map;

    private IdentityMap(Dictionary<string, string> map) => _map = map;

    public static IdentityMap Empty { get; } = new(new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase));

    public int Count => _map.Count;

    public string Resolve(string identity) => _map.TryGetValue(identity, out var developer) ? developer : identity;

    /// <summary>Reads an authors file: CSV with header <c>identity,developer</c>; one identity a row.</summary>
    public static IdentityMap Load(string path)
    {
        var map = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (line, fields) in SimpleCsv.Rows(path, ["identity", "developer"]))
        {
            var identity = fields[0].Trim();
            var developer = fields[1].Trim();
            if (identity.Length == 0)
            {
                throw InputException.At(path, line, "identity", "empty", "give the e-mail, login or account id a source uses");
            }

            if (developer.Length == 0)
            {
                throw InputException.At(path, line, "developer", "empty", "give the developer's canonical name (the one the cohort map uses)");
            }

            if (map.TryGetValue(identity, out var existing) && !string.Equals(existing, developer, StringComparison.OrdinalIgnoreCase))
            {
                throw InputException.At(path, line, "identity", $"'{identity}' is already mapped to another developer", "map each identity once");
            }

            map[identity] = developer;
        }

        return new IdentityMap(map);
    }
}

/// <summary>Who is in the pilot and who is the control: CSV with header <c>developer,cohort</c> (cohort: pilot or control).</summary>
public sealed class CohortMap
{
    private readonly Dictionary<string, Cohort> _map;

    private CohortMap(Dictionary<string, Cohort> map) => _map = map;

    public int Count => _map.Count;

    public Cohort? Find(string developer) => _map.TryGetValue(developer, out var cohort) ? cohort : null;

    public static CohortMap FromPairs(IEnumerable<KeyValuePair<string, Cohort>> pairs) =>
        new(new Dictionary<string, Cohort>(pairs, StringComparer.OrdinalIgnoreCase));

    public static CohortMap Load(string path)
    {
        var map = new Dictionary<string, Cohort>(StringComparer.OrdinalIgnoreCase);
        foreach (var (line, fields) in SimpleCsv.Rows(path, ["developer", "cohort"]))
        {
            var developer = fields[0].Trim();
            if (developer.Length == 0)
            {
                throw InputException.At(path, line, "developer", "empty", "give the developer's name, e-mail or login");
            }

            if (!TryParseCohort(fields[1], out var cohort) || cohort == Cohort.Unknown)
            {
                throw InputException.At(path, line, "cohort", $"'{fields[1]}' is not a cohort", "write 'pilot' or 'control'");
            }

            if (!map.TryAdd(developer, cohort))
            {
                throw InputException.At(path, line, "developer", $"'{developer}' is listed twice", "list each developer once");
            }
        }

        return new CohortMap(map);
    }

    public static bool TryParseCohort(ReadOnlySpan<char> text, out Cohort cohort)
    {
        text = text.Trim();
        if (text.IsEmpty)
        {
            cohort = Cohort.Unknown;
            return true;
        }

        if (text.Equals("pilot", StringComparison.OrdinalIgnoreCase) || text.Equals("treatment", StringComparison.OrdinalIgnoreCase))
        {
            cohort = Cohort.Pilot;
            return true;
        }

        if (text.Equals("control", StringComparison.OrdinalIgnoreCase))
        {
            cohort = Cohort.Control;
            return true;
        }

        cohort = Cohort.Unknown;
        return false;
    }
}

/// <summary>A small CSV reader for mapping files (quoted fields allowed); the header names the required columns in order.</summary>
internal static class SimpleCsv
{
    public static IEnumerable<(int Line, string[] Fields)> Rows(string path, string[] header)
    {
        if (!File.Exists(path))
        {
            throw InputException.At(path, null, null, "file not found", "check the path");
        }

        var lineNumber = 0;
        var sawHeader = false;
        foreach (var raw in File.ReadLines(path))
        {
            lineNumber++;
            if (raw.Length == 0 || raw.StartsWith('#'))
            {
                continue;
            }

            var fields = Split(raw);
            if (!sawHeader)
            {
                sawHeader = true;
                for (var i = 0; i < header.Length; i++)
                {
                    if (i >= fields.Count || !fields[i].Trim().Equals(header[i], StringComparison.OrdinalIgnoreCase))
                    {
                        throw InputException.At(path, lineNumber, header[i], "header is missing this column", $"start the file with the header '{string.Join(',', header)}'");
                    }
                }

                continue;
            }

            if (fields.Count < header.Length)
            {
                throw InputException.At(path, lineNumber, header[fields.Count], "missing", $"give {header.Length} comma-separated fields: {string.Join(',', header)}");
            }

            yield return (lineNumber, [.. fields]);
        }
    }

    /// <summary>Splits one CSV line (RFC 4180 quotes, no embedded newlines).</summary>
    public static List<string> Split(string line)
    {
        var fields = new List<string>();
        var current = new System.Text.StringBuilder();
        var quoted = false;
        for (var i = 0; i < line.Length; i++)
        {
            var c = line[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < line.Length && line[i + 1] == '"')
                {
                    current.Append('"');
                    i++;
                }
                else if (c == '"')
                {
                    quoted = false;
                }
                else
                {
                    current.Append(c);
                }
            }
            else if (c == '"')
            {
                quoted = true;
            }
            else if (c == ',')
            {
                fields.Add(current.ToString());
                current.Clear();
            }
            else
            {
                current.Append(c);
            }
        }

        fields.Add(current.ToString());
        return fields;
    }
}
