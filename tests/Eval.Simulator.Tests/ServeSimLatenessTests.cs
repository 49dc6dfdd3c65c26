using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.AI;
using Spark.Eval.Core.Backends;
using Spark.Eval.Core.Tokens;
using Spark.Eval.Simulator.Server;
using Spark.Eval.TestSupport;

namespace Spark.Eval.Simulator.Tests;

/// <summary>serve-sim's own lateness report and its schedule from the request's arrival, on a real Kestrel on loopback.</summary>
public sealed class ServeSimLatenessTests
{
    private const double TtftMs = 5;

    [Fact]
    public void ScheduleStart_ArrivalSetAndPast_StartsThere_OtherwiseNow()
    {
        ChatOptions With(object value) => new() { AdditionalProperties = new() { [AttemptContext.ArrivalKey] = value } };

        Assert.Equal(900, AttemptContext.ScheduleStart(With(900L), 1000));
        Assert.Equal(1000, AttemptContext.ScheduleStart(With(1100L), 1000)); // a future arrival is not believed
        Assert.Equal(1000, AttemptContext.ScheduleStart(With("900"), 1000));
        Assert.Equal(1000, AttemptContext.ScheduleStart(null, 1000));
        Assert.Equal(1000, AttemptContext.ScheduleStart(new ChatOptions(), 1000));
    }

    [Fact]
    public async Task Stream_LongPromptToTokenize_FirstTokenDueAtArrivalPlusTtft()
    {
        var ct = TestContext.Current.CancellationToken;
        // A TTFT well above the prompt's tokenization time, so that the first token is still scheduled (a timer releases it).
        const double LongTtftMs = 1500;
        using var clock = new EmissionClock(new EmissionClockOptions { RealTimePriority = 0, Spin = TimeSpan.Zero });
        var sim = new ConstantRateSimChatClient(clock, TokenCounter.Default, LongTtftMs, 200, "sim");
        await using var server = await SimServer.StartAsync(sim, new SimServerOptions { Port = 0, Emission = clock, Simulated = true }, TimeProvider.System, ct);
        // Counting this prompt's tokens (before the backend's clock starts) takes tens of ms: a schedule that started when
        // the backend was called would put the first token that much later than arrival + TTFT.
        var prompt = string.Join(' ', Enumerable.Range(0, 60_000).Select(i => "word" + (i % 997)));
        await StreamAsync(server, prompt, ct);

        // serve-sim logs a request when its handler returns, which can be after the client read its end: wait for it (bounded).
        var entry = Assert.Single(await ServerLogWait.AtLeastAsync(server.Log, null, 1, ct));
        var first = entry.Events.First(e => e.Kind == "content");
        Assert.NotNull(first.DueNs);
        var offsetMs = ((first.DueNs!.Value - entry.ReceivedNs) / 1e6) - LongTtftMs;
        // A schedule from the backend's call would be late by the prompt's tokenization; the timer of a schedule from the arrival
        // can still be set a little after its due time was computed (a thread preempted between the two on a loaded machine:
        // 5.7 ms seen). The bound is 5 ms or half of what counting a prompt like this one takes here now, whichever is more
        // (another prompt: the counter remembers the one it counted).
        var like = string.Join(' ', Enumerable.Range(0, 60_000).Select(i => "term" + (i % 991)));
        var counting = TimeProvider.System.GetTimestamp();
        TokenCounter.Default.Count(like);
        var tokenizeMs = TimeProvider.System.GetElapsedTime(counting).TotalMilliseconds;
        Assert.True(Math.Abs(offsetMs) < Math.Max(5, tokenizeMs / 2), $"first token due {offsetMs:0.000} ms away from arrival + TTFT (counting a like prompt takes {tokenizeMs:0.0} ms)");
    }

    [Fact]
    public async Task Lateness_AfterStreams_EndpointCountsRequestsFirstTokensAndWrites()
    {
        var ct = TestContext.Current.CancellationToken;
        using var clock = new EmissionClock(new EmissionClockOptions { RealTimePriority = 0 });
        var sim = new ConstantRateSimChatClient(clock, TokenCounter.Default, TtftMs, 200, "sim");
        await using var server = await SimServer.StartAsync(sim, new SimServerOptions { Port = 0, Emission = clock, Simulated = true }, TimeProvider.System, ct);
        await StreamAsync(server, "one", ct);
        await StreamAsync(server, "two", ct);
        // The server logs a request after its handler returns, which can be after the client read [DONE]: wait (bounded) for both.
        for (var i = 0; i < 250 && (server.Lateness.Total().Requests < 2 || server.Log.Find(null).Count < 2); i++)
        {
            await Task.Delay(20, ct);
        }

        using var http = new HttpClient { BaseAddress = server.BaseAddress };
        var snapshot = JsonSerializer.Deserialize(await http.GetStringAsync(new Uri("_spark/lateness", UriKind.Relative), ct), LatenessJsonContext.Default.LatenessSnapshot)!;
        Assert.Equal(1, snapshot.FormatVersion);
        Assert.Equal(2, snapshot.Total.Requests);
        // "First token" lateness is each request's first timer-released write (EmissionLateness): a handler that starts after
        // its first chunks are due (a loaded machine) writes them unscheduled, with no due time, and a request none of whose
        // writes a timer released has none (CI saw 1 of 2). Counted from the log, so a request left out of the count, or one
        // counted twice, still fails.
        var timed = server.Log.Find(null).Count(e => e.Events.Any(x => x.DueNs is not null));
        Assert.Equal(timed, snapshot.Total.FirstToken?.Count ?? 0);
        var contents = server.Log.Find(null).Sum(e => e.Events.Count(x => x.Kind == "content"));
        Assert.Equal(contents, snapshot.Total.ScheduledWrites + snapshot.Total.UnscheduledWrites);
        Assert.True(snapshot.Total.Writes!.MaxMs >= snapshot.Total.Writes.P99Ms && snapshot.Total.Writes.P99Ms >= snapshot.Total.Writes.P50Ms);
        Assert.True(snapshot.Total.FirstToken is null || snapshot.Total.FirstToken.P50Ms >= 0);
    }

    [Fact]
    public async Task Report_IdleAfterBurstAndAtDispose_OneLineEach()
    {
        var ct = TestContext.Current.CancellationToken;
        var lines = new ConcurrentQueue<string>();
        using var clock = new EmissionClock(new EmissionClockOptions { RealTimePriority = 0 });
        var sim = new ConstantRateSimChatClient(clock, TokenCounter.Default, TtftMs, 200, "sim");
        var server = await SimServer.StartAsync(sim, new SimServerOptions
        {
            Port = 0, Emission = clock, Simulated = true, Report = lines.Enqueue, ReportAfterIdle = TimeSpan.FromMilliseconds(50),
        }, TimeProvider.System, ct);
        await using (server)
        {
            await server.WarmUpAsync(2, ct);
            Assert.Equal(0, server.Lateness.Total().Requests); // the warm-up is forgotten
            Assert.Empty(server.Log.Find(null));
            await StreamAsync(server, "burst", ct);
            // Bounded wait for the idle report (no timing asserted: only that it comes, once).
            for (var i = 0; i < 200 && lines.IsEmpty; i++)
            {
                await Task.Delay(50, ct);
            }

            var burst = Assert.Single(lines);
            Assert.StartsWith("serve-sim lateness, requests since the last report: 1 requests; first token late p50 ", burst, StringComparison.Ordinal);
            Assert.Null(server.Lateness.PeekWindow());
        }

        Assert.Equal(2, lines.Count);
        Assert.StartsWith("serve-sim lateness, whole session: 1 requests;", lines.Last(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task CollectWhenIdle_AfterABurst_CollectsOnceWhileNothingIsInFlight()
    {
        // A collection stops the timer threads: serve-sim makes it while idle after a client's run, not inside the next one.
        var ct = TestContext.Current.CancellationToken;
        using var clock = new EmissionClock(new EmissionClockOptions { RealTimePriority = 0 });
        var sim = new ConstantRateSimChatClient(clock, TokenCounter.Default, TtftMs, 200, "sim");
        var server = await SimServer.StartAsync(sim, new SimServerOptions
        {
            Port = 0, Emission = clock, Simulated = true, ReportAfterIdle = TimeSpan.FromMilliseconds(300), CollectWhenIdleAfterBytes = 1,
        }, TimeProvider.System, ct);
        await using (server)
        {
            // Bounded waits: the first idle collection (serve-sim started idle), then one after a request.
            for (var i = 0; i < 100 && server.IdleCollections == 0; i++)
            {
                await Task.Delay(50, ct);
            }

            Assert.True(server.IdleCollections >= 1, "no collection while idle");
            var stream = StreamAsync(server, "burst", ct);
            for (var i = 0; i < 1000 && server.Lateness.InFlight == 0 && !stream.IsCompleted; i++)
            {
                await Task.Delay(1, ct);
            }

            // From here until the request ends (and serve-sim has been idle for 300 ms after it), no collection is made.
            var during = server.IdleCollections;
            var collections = GC.CollectionCount(0);
            await stream;
            Assert.Equal(during, server.IdleCollections);
            for (var i = 0; i < 100 && server.IdleCollections == during; i++)
            {
                await Task.Delay(50, ct);
            }

            Assert.True(server.IdleCollections > during, "no collection once idle after the request");
            Assert.True(GC.CollectionCount(0) > collections);
        }
    }

    [Fact]
    public async Task CollectWhenIdle_Off_NeverCollects()
    {
        var ct = TestContext.Current.CancellationToken;
        var sim = new ConstantRateSimChatClient(TimeProvider.System, TokenCounter.Default, TtftMs, 200, "sim");
        var server = await SimServer.StartAsync(sim, new SimServerOptions { Port = 0, Simulated = true, ReportAfterIdle = TimeSpan.FromMilliseconds(50) }, TimeProvider.System, ct);
        await using (server)
        {
            await StreamAsync(server, "burst", ct);
            await Task.Delay(400, ct);
            Assert.Equal(0, server.IdleCollections);
        }
    }

    private static async Task StreamAsync(SimServer server, string prompt, CancellationToken ct)
    {
        using var http = new HttpClient { BaseAddress = server.BaseAddress };
        var body = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["model"] = "sim",
            ["stream"] = true,
            ["max_tokens"] = 4,
            ["messages"] = new[] { new Dictionary<string, string> { ["role"] = "user", ["content"] = prompt } },
        });
        using var response = await http.PostAsync(new Uri("chat/completions", UriKind.Relative), new StringContent(body, Encoding.UTF8, "application/json"), ct);
        response.EnsureSuccessStatusCode();
        var text = await response.Content.ReadAsStringAsync(ct);
        Assert.Contains("[DONE]", text, StringComparison.Ordinal);
    }
}
