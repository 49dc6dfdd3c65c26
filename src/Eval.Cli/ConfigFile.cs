using Spark.Eval.Core;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace Spark.Eval.Cli;

/// <summary>A run plan in YAML or JSON (JSON is read as YAML); flags given on the command line win. Keys in docs/formats.md.</summary>
public sealed class ConfigFile
{
    public string? Suite { get; set; }
    public List<string>? Backends { get; set; }
    public int? Repeats { get; set; }
    public int? Warmup { get; set; }
    public int? Concurrency { get; set; }
    public double? Rate { get; set; }
    public string? Arrival { get; set; }
    public double? Burstiness { get; set; }
    public int? Seed { get; set; }
    public double? Duration { get; set; }
    public double? Timeout { get; set; }
    public double? Temperature { get; set; }
    public int? MaxTokens { get; set; }
    public int? Tasks { get; set; }
    public string? Out { get; set; }
    public string? FailIf { get; set; }
    public SloConfig? Slo { get; set; }

    /// <summary>Run the backends side by side instead of one after another (as <c>--interleave</c>).</summary>
    public bool? Interleave { get; set; }

    /// <summary>Judge backend spec for explain answers (as <c>--judge</c>).</summary>
    public string? Judge { get; set; }

    /// <summary>When grading runs: auto, after or concurrent (as <c>--grading</c>).</summary>
    public string? Grading { get; set; }

    /// <summary>SLO thresholds for goodput, in milliseconds.</summary>
    public sealed class SloConfig
    {
        public double? TtftMs { get; set; }
        public double? TpotMs { get; set; }
        public double? E2eMs { get; set; }
    }

    public static ConfigFile Load(string path)
    {
        if (!File.Exists(path))
        {
            throw InputException.At(path, null, null, "config file not found", "pass the path of a YAML or JSON plan (docs/formats.md)");
        }

        var text = File.ReadAllText(path);
        Check(path, text);
        var deserializer = new DeserializerBuilder()
            .WithNamingConvention(CamelCaseNamingConvention.Instance)
            .Build();
        try
        {
            return deserializer.Deserialize<ConfigFile?>(text) ?? new ConfigFile();
        }
        catch (YamlException ex)
        {
            throw new InputException($"{path} line {ex.Start.Line}: {ex.InnerException?.Message ?? ex.Message}. Fix: use the keys listed in docs/formats.md with values of the right type");
        }
    }

    /// <summary>
    /// Checks keys and value types against this class before YamlDotNet sees the text, so that a typo or a wrong type is
    /// reported in the user's words ("plan.yaml line 2: unknown key 'concurency'. Did you mean 'concurrency'?") instead of
    /// a .NET type name.
    /// </summary>
    private static void Check(string path, string text)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException ex)
        {
            throw new InputException($"{path} line {ex.Start.Line}: not valid YAML or JSON ({ex.Message}). Fix: one 'key: value' per line, keys from docs/formats.md");
        }

        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is YamlScalarNode { Value: null or "" or "~" or "null" })
        {
            return;
        }

        var root = stream.Documents[0].RootNode;
        if (root is not YamlMappingNode map)
        {
            throw new InputException($"{path} line {root.Start.Line}: a plan is a list of 'key: value' lines, not a {Describe(root)}. Fix: write e.g. 'repeats: 3' (keys in docs/formats.md)");
        }

        CheckMapping(path, map, typeof(ConfigFile), parent: null);
    }

    private static void CheckMapping(string path, YamlMappingNode map, Type type, string? parent)
    {
        var properties = type.GetProperties().ToDictionary(p => CamelCaseNamingConvention.Instance.Apply(p.Name), StringComparer.Ordinal);
        foreach (var (keyNode, value) in map.Children)
        {
            var key = (keyNode as YamlScalarNode)?.Value ?? "";
            var name = parent is null ? key : $"{parent}.{key}";
            var line = keyNode.Start.Line;
            if (!properties.TryGetValue(key, out var property))
            {
                var known = properties.Keys.Order(StringComparer.Ordinal).ToList();
                var nearest = known.Select(k => (Key: k, Distance: DidYouMean.Distance(key.ToLowerInvariant(), k.ToLowerInvariant())))
                    .Where(k => k.Distance <= Math.Max(2, key.Length / 3)).OrderBy(k => k.Distance).Select(k => k.Key).FirstOrDefault();
                var under = parent is null ? "" : $" under '{parent}'";
                var hint = nearest is null ? "" : $" Did you mean '{nearest}'?";
                throw new InputException($"{path} line {line}: unknown key '{key}'{under}.{hint} Fix: {(nearest is null ? "use" : $"write '{nearest}' or use")} one of {string.Join(", ", known)} (docs/formats.md)");
            }

            if (value is YamlScalarNode { Style: not (YamlDotNet.Core.ScalarStyle.SingleQuoted or YamlDotNet.Core.ScalarStyle.DoubleQuoted), Value: null or "" or "~" or "null" })
            {
                continue;
            }

            var target = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
            var got = value is YamlScalarNode scalar ? $"'{scalar.Value}'" : $"a {Describe(value)}";
            string? expected = null;
            string example = "";
            if (target == typeof(int))
            {
                (expected, example) = value is YamlScalarNode { Value: var v } && int.TryParse(v, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out _) ? (null, "") : ("a whole number", "3");
            }
            else if (target == typeof(double))
            {
                (expected, example) = value is YamlScalarNode { Value: var v } && double.TryParse(v, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out _) ? (null, "") : ("a number", "2.5");
            }
            else if (target == typeof(bool))
            {
                (expected, example) = value is YamlScalarNode { Value: var v } && bool.TryParse(v, out _) ? (null, "") : ("true or false", "true");
            }
            else if (target == typeof(string))
            {
                (expected, example) = value is YamlScalarNode ? (null, "") : ("a single value", "\"...\"");
            }
            else if (target == typeof(List<string>))
            {
                if (value is YamlSequenceNode sequence)
                {
                    var bad = sequence.Children.FirstOrDefault(c => c is not YamlScalarNode);
                    if (bad is not null)
                    {
                        throw new InputException($"{path} line {bad.Start.Line}: each item of '{name}' must be a single value (got a {Describe(bad)}). Fix: one '- value' per line");
                    }
                }
                else
                {
                    (expected, example) = ("a list", "[\"a\", \"b\"] or one '- value' per line below it");
                }
            }
            else if (value is YamlMappingNode nested)
            {
                CheckMapping(path, nested, target, name);
            }
            else
            {
                (expected, example) = ("a set of 'key: value' lines", "the keys in docs/formats.md, indented below it");
            }

            if (expected is not null)
            {
                throw new InputException($"{path} line {value.Start.Line}: '{name}' must be {expected} (got {got}). Fix: write e.g. '{key}: {example}'");
            }
        }
    }

    private static string Describe(YamlNode node) => node switch
    {
        YamlMappingNode => "set of 'key: value' lines",
        YamlSequenceNode => "list",
        _ => "single value",
    };
}
