using Spark.Eval.Core;
using YamlDotNet.Core;
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

        var deserializer = new DeserializerBuilder()
            .WithNamingConvention(CamelCaseNamingConvention.Instance)
            .Build();
        try
        {
            return deserializer.Deserialize<ConfigFile?>(File.ReadAllText(path)) ?? new ConfigFile();
        }
        catch (YamlException ex)
        {
            var inner = ex.InnerException?.Message ?? ex.Message;
            throw InputException.At(path, (int)ex.Start.Line, null, inner,
                "use the keys listed in docs/formats.md (suite, backends, concurrency, rate, …) with values of the right type");
        }
    }
}
