using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Spark.Eval.Core.Results;

namespace Spark.Eval.Cli.Tests;

/// <summary>
/// `run` against a llama-server that answers every request with its context-overflow stream (HTTP 200, `error: {…}`, then
/// `data: [DONE]`; the bytes are the remote tests' fixture): every attempt fails with the server's message, the error rate
/// says so, and the exit code follows.
/// </summary>
public sealed class RemoteStreamErrorRunTests
{
    [Fact]
    public async Task Run_LlamaServerContextOverflowStream_AttemptsFailAndRunExitsOne()
    {
        var ct = TestContext.Current.CancellationToken;
        var body = await File.ReadAllBytesAsync(Path.Combine(CliHarness.RepoRoot, "tests", "Eval.Backends.Remote.Tests", "Fixtures", "servers", "llama-server-context-overflow.sse"), ct);
        var (app, url) = await LoopbackApp.StartAsync("llama-overflow", routes =>
        {
            routes.MapPost("/v1/chat/completions", async ctx =>
            {
                ctx.Response.ContentType = "text/event-stream";
                await ctx.Response.Body.WriteAsync(body);
            });
        }, ct);
        await using var server = app;
        var dir = Path.Combine(CliHarness.TempDir(), "run");

        var (exit, _, stderr) = await CliHarness.RunAsync("run", "--backend", $"openai?name=llama&url={Uri.EscapeDataString(url)}&model=m&retries=0",
            "--tasks", "2", "--repeats", "1", "--warmup", "0", "--out", dir);

        Assert.True(exit == 1, stderr);
        Assert.Contains("every attempt failed", stderr, StringComparison.Ordinal);
        var (records, _) = AttemptLog.Read(Path.Combine(dir, "attempts.jsonl"));
        Assert.Equal(2, records.Count);
        Assert.All(records, r => Assert.Equal(AttemptStatus.Error, r.Outcome.Status));
        Assert.All(records, r => Assert.Equal("server_error_event", r.Outcome.ErrorClass));
        Assert.All(records, r => Assert.Contains("exceeds the available context size", r.Outcome.Message, StringComparison.Ordinal));
        Assert.Contains("\"errorRate\": 1", await File.ReadAllTextAsync(Path.Combine(dir, "summary.json"), ct), StringComparison.Ordinal);
        await app.StopAsync(ct);
    }
}
