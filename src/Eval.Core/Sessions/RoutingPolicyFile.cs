using System.Globalization;
using Spark.Eval.Core.Tasks;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Spark.Eval.Core.Sessions;

/// <summary>Reads a routing policy file (YAML; docs/formats.md, "Routing policy") into an <see cref="IRoutingPolicy"/>.</summary>
public static class RoutingPolicyFile
{
    /// <summary>The policy file format this build reads and writes.</summary>
    public const int FormatVersion = 1;

    private static readonly string[] TopKeys = ["formatVersion", "name", "start", "rules", "escalate", "firstTokenTimeoutMs"];
    private static readonly string[] RuleKeys = ["name", "backend", "kind", "language", "promptTokensAtLeast", "promptTokensBelow"];
    private static readonly string[] EscalationKeys = ["from", "to", "on"];

    private static readonly Dictionary<string, TaskKind> KindNames = new(StringComparer.Ordinal)
    {
        ["stub"] = TaskKind.Stub, ["refactor"] = TaskKind.Refactor, ["unit-tests"] = TaskKind.UnitTests,
        ["explain"] = TaskKind.Explain, ["fix"] = TaskKind.Fix,
    };

    private static readonly Dictionary<string, EscalationCause> CauseNames = new(StringComparer.Ordinal)
    {
        ["failed_grade"] = EscalationCause.FailedGrade, ["first_token_timeout"] = EscalationCause.FirstTokenTimeout,
    };

    /// <summary>
    /// Loads <paramref name="path"/>; every backend it names must be in <paramref name="runBackends"/>. Bad input throws an
    /// <see cref="InputException"/> naming the file, line and field.
    /// </summary>
    public static IRoutingPolicy Load(string path, IReadOnlyCollection<string> runBackends)
    {
        ArgumentNullException.ThrowIfNull(path);
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw InputException.At(path, null, null, $"cannot read the routing policy ({ex.Message})", "pass an existing, readable YAML file to --policy");
        }

        return Parse(text, path, runBackends);
    }

    /// <summary>Parses policy text; <paramref name="path"/> only names the source in errors.</summary>
    public static RoutingPolicy Parse(string text, string path, IReadOnlyCollection<string> runBackends)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(runBackends);
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException ex)
        {
            throw InputException.At(path, (int)ex.Start.Line, null, $"not valid YAML ({ex.Message})", "one 'key: value' per line; the schema is in docs/formats.md, \"Routing policy\"");
        }

        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is not YamlMappingNode root)
        {
            throw InputException.At(path, 1, null, "a routing policy is a set of 'key: value' lines", "start from the example in docs/formats.md, \"Routing policy\"");
        }

        var reader = new Reader(path, runBackends);
        reader.CheckKeys(root, TopKeys, "");
        var version = reader.Int(root, "formatVersion", required: true)!.Value;
        if (version != FormatVersion)
        {
            throw InputException.At(path, Line(root, "formatVersion"), "formatVersion", $"format version {version} is not one this spark-eval reads ({FormatVersion})",
                $"write 'formatVersion: {FormatVersion}' and the keys of docs/formats.md, \"Routing policy\"");
        }

        var name = reader.String(root, "name", required: true)!;
        var start = reader.Backend(root, "start", "start")!;
        var rules = new List<RoutingRule>();
        if (Reader.Child(root, "rules") is { } rulesNode)
        {
            foreach (var item in reader.Sequence(rulesNode, "rules"))
            {
                rules.Add(reader.Rule(item, rules));
            }
        }

        var escalations = new List<RoutingEscalation>();
        if (Reader.Child(root, "escalate") is { } escalateNode)
        {
            foreach (var item in reader.Sequence(escalateNode, "escalate"))
            {
                escalations.Add(reader.Escalation(item, escalations));
            }
        }

        var (defaultTimeout, timeouts) = reader.Timeouts(root);
        return new RoutingPolicy(name, start, rules, escalations, defaultTimeout, timeouts);
    }

    private static int Line(YamlNode node) => (int)node.Start.Line;

    private static int Line(YamlMappingNode map, string key) =>
        map.Children.Keys.FirstOrDefault(k => k is YamlScalarNode { Value: var v } && v == key) is { } k ? Line(k) : Line(map);

    private sealed class Reader(string path, IReadOnlyCollection<string> runBackends)
    {
        public void CheckKeys(YamlMappingNode map, string[] allowed, string parent)
        {
            foreach (var key in map.Children.Keys)
            {
                var name = (key as YamlScalarNode)?.Value ?? "";
                if (!allowed.Contains(name, StringComparer.Ordinal))
                {
                    throw InputException.At(path, Line(key), parent + name, "unknown key", $"use one of: {string.Join(", ", allowed)} (docs/formats.md, \"Routing policy\")");
                }
            }
        }

        public static YamlNode? Child(YamlMappingNode map, string key) =>
            map.Children.FirstOrDefault(p => p.Key is YamlScalarNode { Value: var v } && v == key).Value;

        public IEnumerable<YamlNode> Sequence(YamlNode node, string field) => node is YamlSequenceNode sequence
            ? sequence.Children
            : throw InputException.At(path, Line(node), field, "must be a list", $"write one '- …' item per line under '{field}:'");

        public string? String(YamlMappingNode map, string key, bool required, string? field = null)
        {
            field ??= key;
            switch (Child(map, key))
            {
                case null when required:
                    throw InputException.At(path, Line(map), field, "missing", $"add '{key}: …' (docs/formats.md, \"Routing policy\")");
                case null:
                    return null;
                case YamlScalarNode { Value: { Length: > 0 } value }:
                    return value;
                case var other:
                    throw InputException.At(path, Line(other), field, "must be a single non-empty value", $"write e.g. '{key}: fast'");
            }
        }

        public int? Int(YamlMappingNode map, string key, bool required, string? field = null)
        {
            field ??= key;
            if (String(map, key, required, field) is not { } raw)
            {
                return null;
            }

            return int.TryParse(raw, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) && value >= 0
                ? value
                : throw InputException.At(path, Line(map, key), field, $"must be a whole number ≥ 0 (got '{raw}')", $"write e.g. '{key}: 2000'");
        }

        public string? Backend(YamlMappingNode map, string key, string field)
        {
            var name = String(map, key, required: true, field)!;
            if (!runBackends.Contains(name, StringComparer.Ordinal))
            {
                throw InputException.At(path, Line(map, key), field, $"backend '{name}' is not one of the run's backends ({string.Join(", ", runBackends)})",
                    "name a backend given with --backend (its name=… or its spec), or add that backend to the run");
            }

            return name;
        }

        private List<string> Strings(YamlMappingNode map, string key, string field)
        {
            switch (Child(map, key))
            {
                case null:
                    return [];
                case YamlScalarNode { Value: { Length: > 0 } one }:
                    return [one];
                case YamlSequenceNode list when list.Children.All(c => c is YamlScalarNode { Value.Length: > 0 }):
                    return list.Children.Select(c => ((YamlScalarNode)c).Value!).ToList();
                case var other:
                    throw InputException.At(path, Line(other), field, "must be a value or a list of values", $"write e.g. '{key}: [a, b]'");
            }
        }

        public RoutingRule Rule(YamlNode node, List<RoutingRule> earlier)
        {
            var field = $"rules[{earlier.Count}]";
            if (node is not YamlMappingNode map)
            {
                throw InputException.At(path, Line(node), field, "a rule is a set of 'key: value' lines", "write '- name: …' then 'backend: …' and its conditions");
            }

            CheckKeys(map, RuleKeys, field + ".");
            var name = String(map, "name", required: true, field + ".name")!;
            if (earlier.Any(r => r.Name == name))
            {
                throw InputException.At(path, Line(map, "name"), field + ".name", $"a second rule named '{name}'", "give every rule its own name (it is recorded as the route reason rule:<name>)");
            }

            var kinds = new List<TaskKind>();
            foreach (var kind in Strings(map, "kind", field + ".kind"))
            {
                kinds.Add(KindNames.TryGetValue(kind, out var k) ? k
                    : throw InputException.At(path, Line(map, "kind"), field + ".kind", $"unknown task kind '{kind}'", $"use one of: {string.Join(", ", KindNames.Keys)}"));
            }

            var languages = Strings(map, "language", field + ".language");
            if (languages.FirstOrDefault(l => !TaskFormat.Languages.Contains(l)) is { } unknown)
            {
                throw InputException.At(path, Line(map, "language"), field + ".language", $"unknown language '{unknown}'", $"use one of: {string.Join(", ", TaskFormat.Languages)}");
            }

            var atLeast = Int(map, "promptTokensAtLeast", required: false, field + ".promptTokensAtLeast");
            var below = Int(map, "promptTokensBelow", required: false, field + ".promptTokensBelow");
            if (atLeast is { } a && below is { } b && b <= a)
            {
                throw InputException.At(path, Line(map, "promptTokensBelow"), field + ".promptTokensBelow", $"{b} is not above promptTokensAtLeast {a}, so the rule never matches",
                    "make promptTokensBelow larger than promptTokensAtLeast");
            }

            return new RoutingRule
            {
                Name = name,
                Backend = Backend(map, "backend", field + ".backend")!,
                Kinds = kinds,
                Languages = languages,
                PromptTokensAtLeast = atLeast,
                PromptTokensBelow = below,
            };
        }

        public RoutingEscalation Escalation(YamlNode node, List<RoutingEscalation> earlier)
        {
            var field = $"escalate[{earlier.Count}]";
            if (node is not YamlMappingNode map)
            {
                throw InputException.At(path, Line(node), field, "an escalation is a set of 'key: value' lines", "write '- from: fast' then 'to: deep' and 'on: [failed_grade]'");
            }

            CheckKeys(map, EscalationKeys, field + ".");
            var from = Backend(map, "from", field + ".from")!;
            var to = Backend(map, "to", field + ".to")!;
            if (from == to)
            {
                throw InputException.At(path, Line(map, "to"), field + ".to", $"escalates '{from}' to itself", "name another backend in 'to'");
            }

            var causes = new List<EscalationCause>();
            var names = Strings(map, "on", field + ".on");
            if (names.Count == 0)
            {
                throw InputException.At(path, Line(map), field + ".on", "missing", $"add 'on: [{string.Join(", ", CauseNames.Keys)}]'");
            }

            foreach (var cause in names)
            {
                causes.Add(CauseNames.TryGetValue(cause, out var c) ? c
                    : throw InputException.At(path, Line(map, "on"), field + ".on", $"unknown cause '{cause}'", $"use one of: {string.Join(", ", CauseNames.Keys)}"));
            }

            if (earlier.FirstOrDefault(e => e.From == from && e.On.Intersect(causes).Any()) is { } clash)
            {
                throw InputException.At(path, Line(map, "from"), field + ".from", $"'{from}' already escalates to '{clash.To}' on the same cause",
                    "keep one escalation per backend and cause");
            }

            // A cycle would bounce a task between backends until the repair turns run out: refuse it at start-up.
            var next = to;
            for (var hops = 0; hops <= earlier.Count; hops++)
            {
                if (next == from)
                {
                    throw InputException.At(path, Line(map, "to"), field + ".to", $"escalating '{from}' to '{to}' closes a loop back to '{from}'",
                        "escalate towards a deeper backend only (a chain such as fast → mid → deep)");
                }

                next = earlier.FirstOrDefault(e => e.From == next)?.To ?? "";
            }

            return new RoutingEscalation(from, to, causes);
        }

        public (TimeSpan? Default, Dictionary<string, TimeSpan> PerBackend) Timeouts(YamlMappingNode root)
        {
            var perBackend = new Dictionary<string, TimeSpan>(StringComparer.Ordinal);
            switch (Child(root, "firstTokenTimeoutMs"))
            {
                case null:
                    return (null, perBackend);
                case YamlScalarNode:
                    return (Ms(Int(root, "firstTokenTimeoutMs", required: true)!.Value, Line(root, "firstTokenTimeoutMs"), "firstTokenTimeoutMs"), perBackend);
                case YamlMappingNode map:
                    foreach (var key in map.Children.Keys)
                    {
                        var backend = (key as YamlScalarNode)?.Value ?? "";
                        var field = $"firstTokenTimeoutMs.{backend}";
                        if (!runBackends.Contains(backend, StringComparer.Ordinal))
                        {
                            throw InputException.At(path, Line(key), field, $"backend '{backend}' is not one of the run's backends ({string.Join(", ", runBackends)})",
                                "name a backend of the run, or give one number for all");
                        }

                        perBackend[backend] = Ms(Int(map, backend, required: true, field)!.Value, Line(key), field);
                    }

                    return (null, perBackend);
                case var other:
                    throw InputException.At(path, Line(other), "firstTokenTimeoutMs", "must be a number of ms or a 'backend: ms' mapping", "write e.g. 'firstTokenTimeoutMs: 1500'");
            }
        }

        private TimeSpan Ms(int value, int line, string field) => value > 0
            ? TimeSpan.FromMilliseconds(value)
            : throw InputException.At(path, line, field, "must be above 0 ms", "leave it out for no first-token timeout, or give e.g. 1500");
    }
}
