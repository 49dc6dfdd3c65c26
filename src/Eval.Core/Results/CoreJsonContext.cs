using System.Text.Json.Serialization;
using Spark.Eval.Core.Metrics;
using Spark.Eval.Core.Running;
using Spark.Eval.Core.Tasks;

namespace Spark.Eval.Core.Results;

/// <summary>Source-generated JSON contract for every on-disk format of the core.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    UseStringEnumConverter = true)]
[JsonSerializable(typeof(BenchTask))]
[JsonSerializable(typeof(AttemptRecord))]
[JsonSerializable(typeof(Timing.StreamEvent))]
[JsonSerializable(typeof(Timing.StreamEventKind))]
[JsonSerializable(typeof(string))]
[JsonSerializable(typeof(RunManifest))]
[JsonSerializable(typeof(RunSummary))]
[JsonSerializable(typeof(RunPlanSpec))]
[JsonSerializable(typeof(AttemptGrade))]
[JsonSerializable(typeof(GradeReport))]
[JsonSerializable(typeof(SweepReport))]
public sealed partial class CoreJsonContext : JsonSerializerContext;

/// <summary>Indented variant for files people read (manifest, summary).</summary>
[JsonSourceGenerationOptions(
    WriteIndented = true,
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    UseStringEnumConverter = true)]
[JsonSerializable(typeof(RunManifest))]
[JsonSerializable(typeof(RunSummary))]
[JsonSerializable(typeof(GradeReport))]
[JsonSerializable(typeof(SweepReport))]
public sealed partial class CoreIndentedJsonContext : JsonSerializerContext;
