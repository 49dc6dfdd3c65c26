using System.Text.Json.Serialization;
using Spark.Eval.Simulator.Load;
using Spark.Eval.Simulator.Procurement;
using Spark.Eval.Simulator.Validation;

namespace Spark.Eval.Simulator.Profiles;

/// <summary>Source-generated JSON contract for the simulator's on-disk formats (profiles, validation data) and its --json output.</summary>
[JsonSourceGenerationOptions(
    WriteIndented = true,
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    ReadCommentHandling = System.Text.Json.JsonCommentHandling.Skip,
    AllowTrailingCommas = true,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    UseStringEnumConverter = true)]
[JsonSerializable(typeof(HardwareFile))]
[JsonSerializable(typeof(ModelFile))]
[JsonSerializable(typeof(ValidationFile))]
[JsonSerializable(typeof(SimulationReport))]
[JsonSerializable(typeof(ProcurementPlan))]
[JsonSerializable(typeof(ProcurementReport))]
public sealed partial class SimulatorJsonContext : JsonSerializerContext;
