using System.IO.Compression;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Spark.Eval.Core;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Tasks;
using Spark.Eval.Sandbox.Grading;

namespace Spark.Eval.Sandbox.Importing;

/// <summary>What an import wrote.</summary>
public sealed record ImportResult(string Path, int Tasks, int Quarantined, IReadOnlyList<string> Notes);

/// <summary>Imports public suites (HumanEval, MultiPL-E C#/TypeScript) into the task model as completion-style tasks (<see cref="ProgramComposer.PrefixTag"/>).</summary>
public static partial class Importers
{
    /// <summary>Default output root; git-ignored (.cache/), because imported public suites are never committed.</summary>
    public const string DefaultRoot = ".cache/datasets";

    /// <summary>Codex-paper stop tokens for HumanEval completions (the JSONL ships none).</summary>
    public static readonly IReadOnlyList<string> HumanEvalStopTokens = ["\nclass", "\ndef", "\n#", "\nif", "\nprint"];

    /// <summary>Known-bad tasks, quarantined with their reason rather than counted.</summary>
    public static readonly IReadOnlyDictionary<string, string> Quarantine = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["HumanEval_111_histogram/cs"] = "its checks compare Dictionary<string,long> results with .Equals (reference equality), so even a correct answer fails (MultiPL-E issue #71)",
    };

    public static async Task<ImportResult> ImportAsync(string format, string file, string? outDir, CancellationToken cancellationToken)
    {
        if (!File.Exists(file))
        {
            throw new InputException($"{file}: no such file. Fix: pass the path of the public data file (see ../shared/datasets/SOURCES.md)");
        }

        var lines = await ReadLinesAsync(file, cancellationToken);
        var (name, tasks, notes) = format switch
        {
            "humaneval" => HumanEval(file, lines),
            "multipl-e" or "multiple" => MultiplE(file, lines),
            _ => throw new InputException($"format '{format}': unknown. Fix: use humaneval or multipl-e"),
        };
        var dir = outDir ?? Path.Combine(DefaultRoot, name);
        Directory.CreateDirectory(dir);
        var builder = new StringBuilder();
        foreach (var task in tasks)
        {
            builder.Append(JsonSerializer.Serialize(task, CoreJsonContext.Default.BenchTask)).Append('\n');
        }

        var path = Path.Combine(dir, TaskSuiteLoader.TasksFileName);
        await File.WriteAllTextAsync(path, builder.ToString(), cancellationToken);
        // Round-trip through the loader so an import never writes a suite the harness rejects.
        _ = TaskSuiteLoader.Load(dir);
        return new ImportResult(dir, tasks.Count, tasks.Count(t => t.QuarantineReason is not null), notes);
    }

    private static async Task<List<string>> ReadLinesAsync(string file, CancellationToken cancellationToken)
    {
        await using var stream = File.OpenRead(file);
        await using var body = file.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? new GZipStream(stream, CompressionMode.Decompress) : (Stream)stream;
        using var reader = new StreamReader(body, Encoding.UTF8);
        var text = await reader.ReadToEndAsync(cancellationToken);
        return [.. text.Split('\n').Where(l => !string.IsNullOrWhiteSpace(l))];
    }

    private static (string, List<BenchTask>, List<string>) HumanEval(string file, List<string> lines)
    {
        var tasks = new List<BenchTask>();
        for (var i = 0; i < lines.Count; i++)
        {
            using var doc = Parse(file, i, lines[i]);
            var r = doc.RootElement;
            var taskId = Str(file, i, r, "task_id");
            var prompt = Str(file, i, r, "prompt");
            var entry = Str(file, i, r, "entry_point");
            var id = "humaneval-" + taskId.Replace("HumanEval/", "", StringComparison.Ordinal).Replace('/', '-');
            tasks.Add(new BenchTask
            {
                Id = id,
                Kind = TaskKind.Stub,
                Language = "python",
                Prompt = $"Complete the Python function `{entry}` in prompt.py. Answer with the whole function, or only its body, in a ```python block.",
                ContextFiles = [new ContextFile("prompt.py", prompt)],
                EntryPoint = entry,
                ReferenceSolution = prompt + Str(file, i, r, "canonical_solution"),
                HiddenChecks = Str(file, i, r, "test") + "\n" + $"check({entry})\n",
                Mutants = ["    return None\n", "    raise NotImplementedError\n"],
                StopTokens = HumanEvalStopTokens,
                Difficulty = 2,
                Tags = ["humaneval", "imported", ProgramComposer.PrefixTag],
                TokenBudget = 512,
            });
        }

        return ("humaneval", tasks, ["mutants are the null bodies 'return None' and 'raise NotImplementedError'; stop tokens are the Codex paper's"]);
    }

    private static (string, List<BenchTask>, List<string>) MultiplE(string file, List<string> lines)
    {
        var tasks = new List<BenchTask>();
        string? lang = null;
        for (var i = 0; i < lines.Count; i++)
        {
            using var doc = Parse(file, i, lines[i]);
            var r = doc.RootElement;
            var name = Str(file, i, r, "name");
            var source = Str(file, i, r, "language");
            var language = source switch
            {
                "cs" => "csharp",
                "ts" => "typescript",
                "js" => "javascript",
                _ => throw InputException.At(file, i + 1, "language", $"'{source}' is not supported", "import the cs, ts or js files"),
            };
            lang ??= source;
            var prompt = Str(file, i, r, "prompt");
            var tests = r.TryGetProperty("tests", out var t) ? t.GetString() ?? "" : Str(file, i, r, "test");
            var stops = r.TryGetProperty("stop_tokens", out var s) ? s.EnumerateArray().Select(e => e.GetString() ?? "").ToList() : [];
            var entry = (language == "csharp" ? CSharpSignature() : FunctionSignature()).Matches(prompt).LastOrDefault()?.Groups["name"].Value;
            var number = NameParts().Match(name);
            var id = $"multipl-e-{source}-{(number.Success ? number.Groups[1].Value + "-" + number.Groups[2].Value : name)}".ToLowerInvariant().Replace('_', '-');
            tasks.Add(new BenchTask
            {
                Id = id,
                Kind = TaskKind.Stub,
                Language = language,
                Prompt = $"Complete the function `{entry}` in the file shown. Answer with the whole function, or only the rest of its body, in a code block.",
                ContextFiles = [new ContextFile(language == "csharp" ? "prompt.cs" : "prompt.ts", prompt)],
                EntryPoint = entry,
                ReferenceSolution = "(none: MultiPL-E ships no reference solution)",
                HiddenChecks = tests,
                StopTokens = stops,
                Difficulty = 2,
                Tags = ["multipl-e", "imported", ProgramComposer.PrefixTag, SuiteChecker.NoReferenceTag, name],
                TokenBudget = 512,
                QuarantineReason = Quarantine.GetValueOrDefault($"{name}/{source}"),
            });
        }

        return ($"multipl-e-{lang ?? "unknown"}", tasks, ["MultiPL-E ships no reference solutions: tasks are tagged no-reference and skipped by 'datasets check'"]);
    }

    private static JsonDocument Parse(string file, int index, string line)
    {
        try
        {
            return JsonDocument.Parse(line);
        }
        catch (JsonException ex)
        {
            throw InputException.At(file, index + 1, null, $"not valid JSON ({ex.Message})", "pass an unmodified JSON Lines file");
        }
    }

    private static string Str(string file, int index, JsonElement element, string field) =>
        element.TryGetProperty(field, out var value) && value.ValueKind == JsonValueKind.String
            ? value.GetString()!
            : throw InputException.At(file, index + 1, field, "missing or not a string", "pass an unmodified file of this format");

    [GeneratedRegex(@"^[ \t]*public\s+static\s+[^\n(]*?\s(?<name>\w+)\s*\(", RegexOptions.Multiline)]
    private static partial Regex CSharpSignature();

    [GeneratedRegex(@"^[ \t]*(export\s+)?function\s+(?<name>\w+)", RegexOptions.Multiline)]
    private static partial Regex FunctionSignature();

    [GeneratedRegex(@"^HumanEval_(\d+)_(.+)$")]
    private static partial Regex NameParts();
}
