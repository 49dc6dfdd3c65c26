using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.AI;
using Spark.Eval.Core.Tests;
using Spark.Eval.Core.Timing;

namespace Spark.Eval.Backends.Remote.Tests;

/// <summary>The backend contract for <c>openai</c>, over real HTTP to a serve-sim on loopback.</summary>
public sealed class OpenAIContractTests(SimServerFixture fixture) : BackendContractTests, IClassFixture<SimServerFixture>
{
    protected override IChatClient CreateClient() => new OpenAICompatibleChatClient(fixture.Options(), TimeProvider.System, null);

    protected override IReadOnlyList<StreamEventKind> TransportMarks => [StreamEventKind.RequestSent, StreamEventKind.ResponseHeaders, StreamEventKind.FirstByte];

    protected override IEnumerable<BackendFailure> CreateFailures()
    {
        // A loopback port nobody listens on: the connection is refused.
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        var closed = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        yield return new(
            new OpenAICompatibleChatClient(fixture.Options() with { BaseUrl = new Uri($"http://127.0.0.1:{closed}/v1/") }, TimeProvider.System, null),
            Prompt, "connect_error");

        // A server that holds its headers for 6 s against a 300 ms first-token limit.
        yield return new(
            new OpenAICompatibleChatClient(fixture.Options("slow_headers;ms=6000") with { TimeToFirstTokenTimeout = TimeSpan.FromMilliseconds(300) }, TimeProvider.System, null),
            Prompt, "ttft_timeout");
    }
}
