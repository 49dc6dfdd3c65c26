using Spark.Eval.Core.Backends;
using Spark.Eval.Core.Tokens;

namespace Spark.Eval.Cli;

/// <summary>The backend kinds this build of spark-eval knows.</summary>
public static class Backends
{
    public static BackendRegistry CreateRegistry() => new([
        new ConstantRateSimBackendFactory(TokenCounter.Default),
        new Spark.Eval.Simulator.Backend.HwSimBackendFactory(TokenCounter.Default),
    ]);
}
