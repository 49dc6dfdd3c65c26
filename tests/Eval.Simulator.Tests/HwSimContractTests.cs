using Microsoft.Extensions.AI;
using Spark.Eval.Core.Tests;
using Spark.Eval.Core.Tokens;
using Spark.Eval.Simulator.Backend;
using Spark.Eval.Simulator.Latency;

namespace Spark.Eval.Simulator.Tests;

/// <summary>The backend contract for <c>hwsim</c> on the system clock (≈ 2 ms per decode step on the test GPU).</summary>
public sealed class HwSimContractTests : BackendContractTests
{
    protected override IChatClient CreateClient() =>
        new HwSimChatClient(TimeProvider.System, TokenCounter.Default, new LatencyModel(TestProfiles.Gpu(requestMs: 4), TestProfiles.Dense(0.5), TestProfiles.Bf16, 1));
}
