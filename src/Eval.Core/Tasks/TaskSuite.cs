using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Spark.Eval.Core.Results;

namespace Spark.Eval.Core.Tasks;

/// <summary>A loaded, validated task suite and the hash of the bytes it came from.</summary>
public sealed record TaskSuite(string Name, string Source, string Sha256, IReadOnlyList<BenchTask> Tasks);

/// <summary>Loads a suite from a directory (its <c>tasks.jsonl</c>) or a JSON Lines file, validating every record.</summary>
public static class TaskSuiteLoader
{
    public const string TasksFileName = "tasks.jsonl";

    private static readonly Dictionary<string, JsonValueKind[]> Fields = new(StringComparer.Ordinal)
    {
        ["formatVersion"] = [JsonValueKind.Number],
        ["id"] = [JsonValueKind.String],
        ["kind"] = [JsonValueKind.String],
        ["language"] = [JsonValueKind.String],
        ["prompt"] = [JsonValueKind.String],
        ["contextFiles"] = [JsonValueKind.Array],
        ["entryPoint"] = [JsonValueKind.String, JsonValueKind.Null],
        ["hiddenChecks"] = [JsonValueKind.String],
        ["referenceSolution"] = [JsonValueKind.String],
        ["supportCode"] = [JsonValueKind.String, JsonValueKind.Null],
        ["mutants"] = [JsonValueKind.Array],
        ["difficulty"] = [JsonValueKind.Number],
        ["tags"] = [JsonValueKind.Array],
        ["tokenBudget"] = [JsonValueKind.Number],
        ["stopTokens"] = [JsonValueKind.Array],
        ["structureRule"] = [JsonValueKind.String, JsonValueKind.Null],
        ["rubric"] = [JsonValueKind.Object, JsonValueKind.Null],
        ["failingOutput"] = [JsonValueKind.String, JsonValueKind.Null],
        ["quarantineReason"] = [JsonValueKind.String, JsonValueKind.Null],
    };

    private static readonly string[] Required = ["formatVersion", "id", "kind", "language", "prompt", "hiddenChecks", "referenceSolution"];

    private static readonly string[] Kinds = ["stub", "refactor", "unit-tests", "explain", "fix"];

    /// <summary>Loads from a path; throws <see cref="InputException"/> naming file, line and field on the first bad record.</summary>
    public static TaskSuite Load(string path)
    {
        var file = Directory.Exists(path) ? Path.Combine(path, TasksFileName) : path;
        if (!File.Exists(file))
        {
            throw InputException.At(path, null, null, "no such suite",
                $"pass a suite directory containing {TasksFileName} or a .jsonl file (see docs/formats.md)");
        }

        var bytes = File.ReadAllBytes(file);
        var name = Directory.Exists(path) ? new DirectoryInfo(path).Name : Path.GetFileNameWithoutExtension(file);
        return Parse(name, file, bytes);
    }

    /// <summary>Parses suite bytes; <paramref name="file"/> is used in error messages only.</summary>
    public static TaskSuite Parse(string name, string file, ReadOnlySpan<byte> bytes)
    {
        var sha = Convert.ToHexStringLower(SHA256.HashData(bytes));
        var text = DecodeStrict(file, bytes);
        var tasks = new List<BenchTask>();
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        var lineNo = 0;
        foreach (var rawLine in text.Split('\n'))
        {
            lineNo++;
            var line = rawLine.TrimEnd('\r');
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            var task = ParseLine(file, lineNo, line);
            if (seen.TryGetValue(task.Id, out var first))
            {
                throw InputException.At(file, lineNo, "id", $"duplicate id '{task.Id}' (first on line {first})",
                    "give every task a unique id");
            }

            seen[task.Id] = lineNo;
            tasks.Add(task);
        }

        if (tasks.Count == 0)
        {
            throw InputException.At(file, null, null, "the suite holds no tasks", "add at least one JSON object per line");
        }

        return new TaskSuite(name, file, sha, tasks);
    }

    /// <summary>UTF-8 only: an invalid byte is refused naming its line, never silently replaced by U+FFFD.</summary>
    private static string DecodeStrict(string file, ReadOnlySpan<byte> bytes)
    {
        var strict = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
        try
        {
            return strict.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            var lineNo = 1;
            var rest = bytes;
            while (true)
            {
                var end = rest.IndexOf((byte)'\n');
                var line = end < 0 ? rest : rest[..end];
                try
                {
                    strict.GetString(line);
                }
                catch (DecoderFallbackException ex)
                {
                    throw InputException.At(file, lineNo, null, $"invalid UTF-8 (byte {ex.Index + 1} of the line)",
                        "save the suite as UTF-8");
                }

                if (end < 0)
                {
                    throw InputException.At(file, null, null, "invalid UTF-8", "save the suite as UTF-8");
                }

                rest = rest[(end + 1)..];
                lineNo++;
            }
        }
    }

    /// <summary>JSON with a key twice is ambiguous (which value wins differs between readers): refused, naming the key.</summary>
    private static void CheckNoDuplicateKeys(string file, int lineNo, JsonElement element, string? path)
    {
        if (element.ValueKind == JsonValueKind.Object)
        {
            var names = new HashSet<string>(StringComparer.Ordinal);
            foreach (var property in element.EnumerateObject())
            {
                var field = path is null ? property.Name : $"{path}.{property.Name}";
                if (!names.Add(property.Name))
                {
                    throw InputException.At(file, lineNo, field, "duplicate key", "keep one value for it and delete the other");
                }

                CheckNoDuplicateKeys(file, lineNo, property.Value, field);
            }
        }
        else if (element.ValueKind == JsonValueKind.Array)
        {
            var i = 0;
            foreach (var item in element.EnumerateArray())
            {
                CheckNoDuplicateKeys(file, lineNo, item, $"{path}[{i++}]");
            }
        }
    }

    private static BenchTask ParseLine(string file, int lineNo, string line)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(line);
        }
        catch (JsonException ex)
        {
            throw InputException.At(file, lineNo, null, $"not valid JSON ({ex.Message})",
                "write one complete JSON object per line");
        }

        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw InputException.At(file, lineNo, null, "a line must hold one JSON object", "wrap the record in { }");
            }

            CheckNoDuplicateKeys(file, lineNo, root, null);
            foreach (var property in root.EnumerateObject())
            {
                if (!Fields.TryGetValue(property.Name, out var kinds))
                {
                    throw InputException.At(file, lineNo, property.Name, "unknown field",
                        $"remove it or use one of: {string.Join(", ", Fields.Keys)}");
                }

                if (!kinds.Contains(property.Value.ValueKind))
                {
                    throw InputException.At(file, lineNo, property.Name,
                        $"expected {string.Join(" or ", kinds).ToLowerInvariant()}, found {property.Value.ValueKind.ToString().ToLowerInvariant()}",
                        "correct the value's type (docs/formats.md lists every field)");
                }
            }

            foreach (var field in Required)
            {
                if (!root.TryGetProperty(field, out var value))
                {
                    throw InputException.At(file, lineNo, field, "missing required field", $"add \"{field}\" to the record");
                }

                if (value.ValueKind == JsonValueKind.String && string.IsNullOrWhiteSpace(value.GetString()) && field != "hiddenChecks")
                {
                    throw InputException.At(file, lineNo, field, "must not be empty", "give it a value");
                }
            }

            var version = root.GetProperty("formatVersion").GetInt32();
            if (version != TaskFormat.Version)
            {
                throw InputException.At(file, lineNo, "formatVersion", $"unsupported version {version}",
                    $"this harness reads task format {TaskFormat.Version}");
            }

            var kind = root.GetProperty("kind").GetString()!;
            if (!Kinds.Contains(kind, StringComparer.Ordinal))
            {
                throw InputException.At(file, lineNo, "kind", $"unknown kind '{kind}'", $"use one of: {string.Join(", ", Kinds)}");
            }

            var language = root.GetProperty("language").GetString()!;
            if (!TaskFormat.Languages.Contains(language))
            {
                throw InputException.At(file, lineNo, "language", $"unknown language '{language}'",
                    $"use one of: {string.Join(", ", TaskFormat.Languages)}");
            }

            BenchTask task;
            try
            {
                task = root.Deserialize(CoreJsonContext.Default.BenchTask)
                    ?? throw InputException.At(file, lineNo, null, "null record", "write a JSON object");
            }
            catch (JsonException ex)
            {
                var field = ex.Path is { Length: > 2 } p ? p.TrimStart('$', '.') : null;
                throw InputException.At(file, lineNo, field, ex.Message, "correct the value (docs/formats.md lists every field)");
            }

            // The source-generated reader sets absent init-only properties to default(T): restore the documented defaults.
            task = task with
            {
                Difficulty = root.TryGetProperty("difficulty", out _) ? task.Difficulty : 1,
                TokenBudget = root.TryGetProperty("tokenBudget", out _) ? task.TokenBudget : 512,
            };

            if (task.Difficulty is < 1 or > 5)
            {
                throw InputException.At(file, lineNo, "difficulty", $"{task.Difficulty} is out of range", "use 1 (trivial) to 5 (hard)");
            }

            if (task.TokenBudget is < 1 or > 131072)
            {
                throw InputException.At(file, lineNo, "tokenBudget", $"{task.TokenBudget} is out of range", "use 1 to 131072");
            }

            return task;
        }
    }
}
