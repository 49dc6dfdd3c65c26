using Spark.Eval.Core.Backends;
using Spark.Eval.Core.Tokens;

namespace Spark.Eval.Cli;

/// <summary>The backend kinds this build of spark-eval knows.</summary>
public static class Backends
{
    public static BackendRegistry CreateRegistry() => new([
        new ConstantRateSimBackendFactory(TokenCounter.Default),
        new Spark.Eval.Backends.Local.LocalBackendFactory(),
        new Spark.Eval.Backends.Remote.OpenAIBackendFactory(),
        new Spark.Eval.Simulator.Backend.HwSimBackendFactory(TokenCounter.Default),
    ]);
}
