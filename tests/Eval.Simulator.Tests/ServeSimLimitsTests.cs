using System.Net;
using Spark.Eval.Core;
using Spark.Eval.Core.Backends;
using Spark.Eval.Core.Tokens;
using Spark.Eval.Simulator.Backend;
using Spark.Eval.Simulator.Server;
using Spark.Eval.TestSupport;

namespace Spark.Eval.Simulator.Tests;

/// <summary>serve-sim under hostile clients and bad specs (issue 15 item 10): bounded request bodies and log, finite spec numbers.</summary>
public sealed class ServeSimLimitsTests
{
    [Fact]
    public async Task ServeSim_BodyOverTheLimit_Answers413NotA500()
    {
        // Before: Kestrel's own 30 MB limit threw inside the JSON parse and the request got a bare 500.
        var ct = TestContext.Current.CancellationToken;
        var sim = new ConstantRateSimChatClient(TimeProvider.System, TokenCounter.Default, 1, 10_000, "sim");
        await using var server = await SimServer.StartAsync(sim, new SimServerOptions { Port = 0 }, TimeProvider.System, ct);
        using var http = new HttpClient();
        var body = new byte[40 * 1024 * 1024];
        Array.Fill(body, (byte)' ');
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(server.BaseAddress, "chat/completions")) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new("application/json");
        // The server answers before reading the body; without 100-continue the client could still be sending when it closes.
        request.Headers.ExpectContinue = true;

        using var response = await http.SendAsync(request, ct);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Contains("request_too_large", await response.Content.ReadAsStringAsync(ct), StringComparison.Ordinal);
        // serve-sim logs a request when its handler returns, which can be after the client read its end: wait for it (bounded).
        Assert.Equal(413, Assert.Single(await ServerLogWait.AtLeastAsync(server.Log, null, 1, ct)).Status);
    }

    [Fact]
    public void ServerLog_ManyRequests_StaysWithinItsEntryAndEventBounds()
    {
        // Before: a ring of 200,000 entries, ~4 KB each: about 800 MB of log in a long-running serve-sim.
        using var log = new ServerLogStore(null);
        for (var i = 0; i < 30_000; i++)
        {
            var entry = new ServerRequestLog { RequestId = i.ToString("x8", System.Globalization.CultureInfo.InvariantCulture), Path = "/v1/chat/completions" };
            for (var e = 0; e < 50; e++)
            {
                entry.Events.Add(new ServerEvent(e, "content", 4));
            }

            log.Add(entry);
        }

        Assert.InRange(log.Count, 1, ServerLogStore.DefaultCapacity);
        Assert.InRange(log.EventCount, 1, ServerLogStore.DefaultEventCapacity);
        Assert.Equal((30_000 - 1).ToString("x8", System.Globalization.CultureInfo.InvariantCulture), log.Find(null)[^1].RequestId);
    }

    [Fact]
    public void ServerLog_OneHugeEntry_IsKeptAloneWhileOlderOnesGo()
    {
        using var log = new ServerLogStore(null, capacity: 10, eventCapacity: 100);
        log.Add(new ServerRequestLog { RequestId = "a", Path = "/" });
        var huge = new ServerRequestLog { RequestId = "b", Path = "/" };
        huge.Events.AddRange(Enumerable.Range(0, 500).Select(i => new ServerEvent(i, "content")));

        log.Add(huge);

        Assert.Equal("b", Assert.Single(log.Find(null)).RequestId);
    }

    [Theory]
    [InlineData("sim?tokens_per_s=NaN", "tokens_per_s")]
    [InlineData("sim?ttft_ms=Infinity", "ttft_ms")]
    [InlineData("hwsim?hw=h100-sxm&model=llama-3.1-8b&rtt_ms=NaN", "rtt_ms")]
    public async Task Spec_NonFiniteNumber_IsRefusedNamingTheKey(string specText, string key)
    {
        // Before: NaN compared false with both bounds and was accepted (a NaN rate then made every timing NaN).
        var registry = new BackendRegistry([new ConstantRateSimBackendFactory(TokenCounter.Default), new HwSimBackendFactory(TokenCounter.Default)]);
        var context = new BackendContext(TimeProvider.System, ProfileCatalogTests.RepoRoot, _ => { });

        var error = await Assert.ThrowsAsync<InputException>(() => registry.CreateAsync(specText, context, TestContext.Current.CancellationToken));

        Assert.Contains(key + "=", error.Message, StringComparison.Ordinal);
        Assert.Contains("is not a number", error.Message, StringComparison.Ordinal);
    }
}
