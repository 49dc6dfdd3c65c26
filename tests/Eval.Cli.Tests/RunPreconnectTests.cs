using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Spark.Eval.Core.Results;

namespace Spark.Eval.Cli.Tests;

/// <summary>
/// Issue 16: `run` in closed loop warms one connection per request it holds in flight before the first attempt, and the
/// manifest says so. Before, `--warmup 2` at `--concurrency 64` left 62 connections to be opened inside the measured window.
/// </summary>
public sealed class RunPreconnectTests
{
    [Fact]
    public async Task Run_ConcurrencyThree_ThreeConnectionsWarmedBeforeTheAttemptsAndNoneOpenedByThem()
    {
        var ct = TestContext.Current.CancellationToken;
        var body = await File.ReadAllBytesAsync(Path.Combine(CliHarness.RepoRoot, "tests", "Eval.Backends.Remote.Tests", "Fixtures", "servers", "openai-chat.sse"), ct);
        var warmed = new ConcurrentDictionary<string, bool>();
        var used = new ConcurrentDictionary<string, bool>();
        var (app, url) = await LoopbackApp.StartAsync("preconnect", routes =>
        {
            routes.MapGet("/v1/models", async ctx =>
            {
                warmed[ctx.Connection.Id] = true;
                await ctx.Response.WriteAsync("""{"object":"list","data":[{"id":"m","object":"model"}]}""", ct);
            });
            routes.MapPost("/v1/chat/completions", async ctx =>
            {
                used[ctx.Connection.Id] = true;
                ctx.Response.ContentType = "text/event-stream";
                await ctx.Response.Body.WriteAsync(body);
            });
        }, ct);
        await using var server = app;
        var dir = Path.Combine(CliHarness.TempDir(), "run");

        var (exit, _, stderr) = await CliHarness.RunAsync("run", "--backend", $"openai?url={Uri.EscapeDataString(url)}&model=m&retries=0",
            "--tasks", "3", "--repeats", "2", "--warmup", "0", "--concurrency", "3", "--no-grade", "--out", dir);

        Assert.True(exit == 0, stderr);
        Assert.Contains("3 connection(s) open, one per request in flight", stderr, StringComparison.Ordinal);
        var manifest = await File.ReadAllTextAsync(Path.Combine(dir, "manifest.json"), ct);
        Assert.Contains("3 connection(s) opened and warmed before the first attempt (one per request in flight, by default)", manifest, StringComparison.Ordinal);
        Assert.True(warmed.Count >= 3, $"{warmed.Count} connections warmed");
        Assert.NotEmpty(used);
        Assert.All(used.Keys, id => Assert.True(warmed.ContainsKey(id), $"attempt on connection {id}, opened after the warm-up"));
        var (records, _) = AttemptLog.Read(Path.Combine(dir, "attempts.jsonl"));
        Assert.Equal(6, records.Count);
        Assert.All(records, r => Assert.Equal(AttemptStatus.Ok, r.Outcome.Status));
        await app.StopAsync(ct);
    }
}
