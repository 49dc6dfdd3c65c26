using Microsoft.Extensions.AI;
using Spark.Eval.Core.Backends;
using Spark.Eval.Core.Tokens;

namespace Spark.Eval.Core.Tests;

/// <summary>The contract for <c>sim</c>: the constant-rate simulator in Core (5 ms TTFT, 1000 tokens/s on the system clock).</summary>
public sealed class ConstantRateSimContractTests : BackendContractTests
{
    protected override IChatClient CreateClient() => new ConstantRateSimChatClient(TimeProvider.System, TokenCounter.Default, 5, 1000, "sim-constant");
}
