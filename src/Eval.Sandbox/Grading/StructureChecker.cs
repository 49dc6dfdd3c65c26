using System.Diagnostics;
using System.Text.Json;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Spark.Eval.Sandbox.Execution;

namespace Spark.Eval.Sandbox.Grading;

/// <summary>Structural facts of an answer, read from its syntax tree (counts of node kinds; a fact a language lacks is 0).</summary>
public sealed record StructureFacts(string? SyntaxError, int Loops, int Comprehensions, IReadOnlyList<string> Calls, int Ifs, int Lambdas)
{
    /// <summary>if statements inside another if statement (an else-if / elif continues its chain and does not count).</summary>
    public int NestedIfs { get; init; }

    /// <summary>C# switch expressions (<c>x switch { ... }</c>).</summary>
    public int SwitchExpressions { get; init; }

    /// <summary>Python f-strings (<c>JoinedStr</c>).</summary>
    public int FStrings { get; init; }

    /// <summary>Python <c>'...' % x</c> with a string-literal left operand, plus <c>.format(...)</c> calls.</summary>
    public int StringFormats { get; init; }

    /// <summary>Python classes decorated with <c>dataclass</c> / <c>dataclasses.dataclass</c> (called or not).</summary>
    public int Dataclasses { get; init; }

    /// <summary>Python hand-written <c>__init__</c>, <c>__eq__</c>, <c>__repr__</c>, <c>__lt__</c>.</summary>
    public int DunderMethods { get; init; }

    /// <summary>async functions (declaration, expression, arrow or method).</summary>
    public int AsyncFunctions { get; init; }

    /// <summary>await expressions.</summary>
    public int Awaits { get; init; }

    /// <summary>TypeScript/JavaScript optional-chain links (<c>?.</c>).</summary>
    public int OptionalChains { get; init; }

    /// <summary>TypeScript/JavaScript <c>??</c> expressions.</summary>
    public int NullishCoalescing { get; init; }
}

/// <summary>Checks a refactor task's structure rule on the syntax tree: Roslyn (C#), Python's ast (helper script), the TypeScript 5.9 compiler API (helper script) — never text patterns.</summary>
/// <remarks>Rules, separated by ';', are listed in <see cref="KnownRules"/> and defined in docs/grading.md.</remarks>
public static class StructureChecker
{
    private static readonly HashSet<string> Linq = new(StringComparer.Ordinal)
    {
        "Select", "Where", "OrderBy", "OrderByDescending", "ThenBy", "ThenByDescending", "Order", "OrderDescending", "GroupBy", "Aggregate",
        "Sum", "Count", "Any", "All", "First", "FirstOrDefault", "SelectMany", "Distinct", "ToList", "ToArray", "ToDictionary", "Zip",
        "Skip", "Take", "Max", "Min", "Average", "Join", "DistinctBy", "MaxBy", "MinBy", "Chunk", "ToHashSet",
    };

    private static readonly HashSet<string> ArrayMethods = new(StringComparer.Ordinal) { "map", "filter", "reduce", "flatMap", "some", "every", "find", "findIndex", "reduceRight" };

    /// <summary>The rule vocabulary (docs/grading.md).</summary>
    public static readonly IReadOnlyList<string> KnownRules =
    [
        "no-loops", "no-if", "no-nested-if", "uses-linq", "uses-comprehension", "uses-array-methods", "uses-lambda", "uses-call:NAME", "no-call:NAME",
        "uses-switch-expression", "uses-fstring", "no-string-format", "uses-dataclass", "no-dunder-methods", "uses-async-await",
        "uses-optional-chaining", "uses-nullish-coalescing",
    ];

    // Rules that only make sense in some languages; any other rule applies to every language.
    private static readonly Dictionary<string, string[]> RuleLanguages = new(StringComparer.Ordinal)
    {
        ["uses-linq"] = ["csharp"],
        ["uses-switch-expression"] = ["csharp"],
        ["uses-comprehension"] = ["python"],
        ["uses-fstring"] = ["python"],
        ["no-string-format"] = ["python"],
        ["uses-dataclass"] = ["python"],
        ["no-dunder-methods"] = ["python"],
        ["uses-array-methods"] = ["typescript", "javascript"],
        ["uses-optional-chaining"] = ["typescript", "javascript"],
        ["uses-nullish-coalescing"] = ["typescript", "javascript"],
    };

    /// <summary>Returns null when every rule holds, else the first broken rule.</summary>
    public static async Task<string?> CheckAsync(string rule, string language, string code, CancellationToken cancellationToken)
    {
        var facts = await FactsAsync(language, code, cancellationToken);
        if (facts.SyntaxError is { } error)
        {
            return $"structure: the answer does not parse ({error})";
        }

        foreach (var part in rule.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (RuleLanguages.TryGetValue(part, out var languages) && !languages.Contains(language, StringComparer.Ordinal))
            {
                return $"structure rule {part}: applies to {string.Join("/", languages)} only, not {language}";
            }

            var broken = part switch
            {
                "no-loops" => facts.Loops > 0 ? $"{facts.Loops} loop(s) remain" : null,
                "no-if" => facts.Ifs > 0 ? $"{facts.Ifs} if statement(s) remain" : null,
                "no-nested-if" => facts.NestedIfs > 0 ? $"{facts.NestedIfs} if statement(s) nested inside another if" : null,
                "uses-switch-expression" => facts.SwitchExpressions > 0 ? null : "no switch expression",
                "uses-fstring" => facts.FStrings > 0 ? null : "no f-string",
                "no-string-format" => facts.StringFormats > 0 ? $"{facts.StringFormats} '%' formatting or .format() call(s) remain" : null,
                "uses-dataclass" => facts.Dataclasses > 0 ? null : "no class is decorated with dataclass",
                "no-dunder-methods" => facts.DunderMethods > 0 ? $"{facts.DunderMethods} hand-written __init__/__eq__/__repr__/__lt__ remain" : null,
                "uses-async-await" => facts.AsyncFunctions > 0 && facts.Awaits > 0 ? null : facts.AsyncFunctions == 0 ? "no async function" : "no await expression",
                "uses-optional-chaining" => facts.OptionalChains > 0 ? null : "no optional chain (?.)",
                "uses-nullish-coalescing" => facts.NullishCoalescing > 0 ? null : "no ?? expression",
                "uses-linq" => facts.Calls.Any(Linq.Contains) ? null : "no LINQ operator is called",
                "uses-comprehension" => facts.Comprehensions > 0 ? null : "no comprehension or generator expression",
                "uses-array-methods" => facts.Calls.Any(ArrayMethods.Contains) ? null : "no map/filter/reduce-style array method is called",
                "uses-lambda" => facts.Lambdas > 0 ? null : "no lambda",
                _ when part.StartsWith("uses-call:", StringComparison.Ordinal) => facts.Calls.Contains(part[10..], StringComparer.Ordinal) ? null : $"{part[10..]} is never called",
                _ when part.StartsWith("no-call:", StringComparison.Ordinal) => facts.Calls.Contains(part[8..], StringComparer.Ordinal) ? $"{part[8..]} is called" : null,
                _ => $"unknown rule '{part}' (known: {string.Join(", ", KnownRules)})",
            };
            if (broken is not null)
            {
                return $"structure rule {part}: {broken}";
            }
        }

        return null;
    }

    public static async Task<StructureFacts> FactsAsync(string language, string code, CancellationToken cancellationToken)
    {
        switch (language)
        {
            case "csharp":
                return CSharpFacts(code);
            case "python":
                var python = ToolLocator.Require(ToolLocator.Python, "python3", "Python 3.11 or later");
                return await HelperAsync(python.Executable, [Helper("structure.py")], code, cancellationToken);
            default:
                var tools = await NodeTools.EnsureAsync(null, cancellationToken);
                var node = ToolLocator.Require(ToolLocator.Node, "node", "Node.js 20 or later");
                return await HelperAsync(node.Executable, [Helper("structure.js"), tools.NodeModules], code, cancellationToken);
        }
    }

    private static string Helper(string name) => Path.Combine(AppContext.BaseDirectory, "sandbox-helpers", name);

    private static StructureFacts CSharpFacts(string code)
    {
        // The answer is a member of class Problem; parse it inside one so methods and expression bodies are valid.
        var tree = CSharpSyntaxTree.ParseText("class Problem {\n" + code + "\n}", new CSharpParseOptions(LanguageVersion.Latest));
        var root = tree.GetRoot();
        var error = tree.GetDiagnostics().FirstOrDefault(d => d.Severity == DiagnosticSeverity.Error);
        var nodes = root.DescendantNodes().ToList();
        var calls = nodes.OfType<InvocationExpressionSyntax>().Select(i => i.Expression switch
        {
            MemberAccessExpressionSyntax m => m.Name.Identifier.Text,
            IdentifierNameSyntax n => n.Identifier.Text,
            GenericNameSyntax g => g.Identifier.Text,
            _ => "",
        }).Where(n => n.Length > 0).ToList();
        // Query syntax (from … select) is LINQ too.
        if (nodes.OfType<QueryExpressionSyntax>().Any())
        {
            calls.Add("Select");
        }

        return new StructureFacts(
            error?.ToString(),
            nodes.Count(n => n is ForStatementSyntax or ForEachStatementSyntax or WhileStatementSyntax or DoStatementSyntax),
            nodes.OfType<QueryExpressionSyntax>().Count(),
            calls,
            nodes.OfType<IfStatementSyntax>().Count(),
            nodes.OfType<LambdaExpressionSyntax>().Count())
        {
            NestedIfs = nodes.OfType<IfStatementSyntax>().Count(i => ChainHead(i).Ancestors().OfType<IfStatementSyntax>().Any()),
            SwitchExpressions = nodes.OfType<SwitchExpressionSyntax>().Count(),
            AsyncFunctions = nodes.Count(n => n switch
            {
                MethodDeclarationSyntax m => m.Modifiers.Any(SyntaxKind.AsyncKeyword),
                LocalFunctionStatementSyntax f => f.Modifiers.Any(SyntaxKind.AsyncKeyword),
                AnonymousFunctionExpressionSyntax a => a.AsyncKeyword.IsKind(SyntaxKind.AsyncKeyword),
                _ => false,
            }),
            Awaits = nodes.OfType<AwaitExpressionSyntax>().Count(),
        };
    }

    // An `else if` is an if statement that is the whole else clause of another: it continues that chain rather than nesting.
    private static SyntaxNode ChainHead(IfStatementSyntax node)
    {
        SyntaxNode current = node;
        while (current.Parent is ElseClauseSyntax { Parent: IfStatementSyntax outer })
        {
            current = outer;
        }

        return current;
    }

    private static async Task<StructureFacts> HelperAsync(string executable, string[] args, string code, CancellationToken cancellationToken)
    {
        var info = new ProcessStartInfo(executable) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        // The helper only parses the answer, but it parses untrusted text: none of the harness's environment (keys) goes with it.
        info.Environment.Clear();
        info.Environment["PATH"] = "/usr/local/bin:/usr/bin:/bin";
        info.Environment["LANG"] = "C.UTF-8";
        using var process = Process.Start(info)!;
        await process.StandardInput.WriteAsync(code);
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            // Cancelled or past 30 s: the helper goes at once, not when it finishes.
            process.Kill(entireProcessTree: true);
            throw;
        }
        var text = await stdout;
        if (process.ExitCode != 0 || text.Length == 0)
        {
            throw new InvalidOperationException($"structure helper failed: {Classifier.Tail(await stderr, 3)}");
        }

        using var doc = JsonDocument.Parse(text);
        var r = doc.RootElement;
        return new StructureFacts(
            r.GetProperty("syntaxError").ValueKind == JsonValueKind.String ? r.GetProperty("syntaxError").GetString() : null,
            r.GetProperty("loops").GetInt32(),
            r.GetProperty("comprehensions").GetInt32(),
            [.. r.GetProperty("calls").EnumerateArray().Select(e => e.GetString() ?? "")],
            r.GetProperty("ifs").GetInt32(),
            r.GetProperty("lambdas").GetInt32())
        {
            NestedIfs = r.GetProperty("nestedIfs").GetInt32(),
            SwitchExpressions = r.GetProperty("switchExpressions").GetInt32(),
            FStrings = r.GetProperty("fstrings").GetInt32(),
            StringFormats = r.GetProperty("stringFormats").GetInt32(),
            Dataclasses = r.GetProperty("dataclasses").GetInt32(),
            DunderMethods = r.GetProperty("dunderMethods").GetInt32(),
            AsyncFunctions = r.GetProperty("asyncFunctions").GetInt32(),
            Awaits = r.GetProperty("awaits").GetInt32(),
            OptionalChains = r.GetProperty("optionalChains").GetInt32(),
            NullishCoalescing = r.GetProperty("nullishCoalescing").GetInt32(),
        };
    }
}
