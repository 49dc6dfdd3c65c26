using Microsoft.Extensions.AI;
using Spark.Eval.Core.Backends;
using Spark.Eval.Core.Sessions;
using Spark.Eval.Core.Timing;
using Spark.Eval.Core.Tokens;
using Spark.Eval.Simulator.Backend;
using Spark.Eval.Simulator.Latency;
using Spark.Eval.Simulator.Load;
using Spark.Eval.Simulator.Profiles;

namespace Spark.Eval.Simulator.Tests;

/// <summary>
/// The engine every request of one hwsim client shares (<see cref="HwSimEngine"/>): in virtual time a closed loop of clients
/// against it measures what the load simulator predicts for the same profile and load, first tokens queue behind the step in
/// progress, a request that leaves gives its place back, and one whose sequence does not fit the KV cache waits for room.
/// </summary>
public class HwSimEngineTests
{
    private static readonly ChatMessage[] Prompt = [new(ChatRole.User, string.Concat(Enumerable.Repeat("Refactor the parser so that it reads one line at a time. ", 12)))];

    private static HwSimChatClient Client(TimeProvider time, HardwareProfile hardware) =>
        new(time, TokenCounter.Default, new LatencyModel(hardware, TestProfiles.Dense(), TestProfiles.Bf16, 1));

    private sealed record Measured(double TtftMs, double TpotMs, double EndMs);

    /// <summary>One request: its time to first token, time per later token and end, in ms of virtual time from its start.</summary>
    private static async Task<Measured> OneAsync(HwSimChatClient client, VirtualTimeProvider clock, int answer, CancellationToken cancel = default)
    {
        var start = clock.GetTimestamp();
        double first = -1, last = 0;
        await foreach (var update in client.GetStreamingResponseAsync(Prompt, new ChatOptions { MaxOutputTokens = answer }, cancel))
        {
            if (string.IsNullOrEmpty(update.Text))
            {
                continue;
            }

            var at = clock.GetElapsedTime(start).TotalMilliseconds;
            first = first < 0 ? at : first;
            last = at;
        }

        return new Measured(first, (last - first) / (answer - 1), last);
    }

    /// <summary>Closed loop: <paramref name="clients"/> clients, each sending its next request when the last one ends.</summary>
    private static List<Measured> ClosedLoop(HardwareProfile hardware, int clients, int perClient, int answer)
    {
        var clock = new VirtualTimeProvider(DateTimeOffset.UnixEpoch);
        var client = Client(clock, hardware);
        var all = new List<Measured>();
        VirtualTimeLoop.Run(clock, async () =>
        {
            await Task.WhenAll(Enumerable.Range(0, clients).Select(async _ =>
            {
                for (var i = 0; i < perClient; i++)
                {
                    all.Add(await OneAsync(client, clock, answer));
                }
            }));
            return 0;
        });
        return all;
    }

    [Theory]
    [InlineData(true, 8)]
    [InlineData(false, 8)]
    [InlineData(true, 1)]
    public void ClosedLoop_AgainstTheLoadSimulator_SameMeanTtftAndTpot(bool chunkedPrefill, int clients)
    {
        var hardware = TestProfiles.Gpu(requestMs: 3, stepMs: 0.4) with { ChunkedPrefill = chunkedPrefill, NetworkRttMs = 0.6 };
        const int perClient = 6, answer = 40;
        var measured = ClosedLoop(hardware, clients, perClient, answer);

        var model = new LatencyModel(hardware, TestProfiles.Dense(), TestProfiles.Bf16, 1);
        var input = Client(new VirtualTimeProvider(DateTimeOffset.UnixEpoch), hardware).CountInputTokens(Prompt);
        var predicted = LoadSimulator.Summarize(LoadSimulator.Run(model, LoadDefaults.For(hardware, input, answer, clients, requests: clients * perClient, coldStart: true)));

        Assert.Equal(clients * perClient, measured.Count);
        // Equal but for the virtual clock's 100 ns ticks (each step's end is rounded up to one).
        Assert.InRange(measured.Average(m => m.TtftMs) - predicted.TtftMeanMs, -0.01, 0.01);
        Assert.InRange(measured.Average(m => m.TpotMs) - predicted.TpotMeanMs, -0.01, 0.01);
        if (clients > 1)
        {
            // The load is felt: first tokens queue behind other requests' steps and decode steps carry the batch.
            var alone = ClosedLoop(hardware, 1, 1, answer)[0];
            Assert.True(measured.Average(m => m.TtftMs) > alone.TtftMs * 1.2, $"{measured.Average(m => m.TtftMs)} vs {alone.TtftMs} ms alone");
            Assert.True(measured.Average(m => m.TpotMs) > alone.TpotMs, $"{measured.Average(m => m.TpotMs)} vs {alone.TpotMs} ms alone");
        }
    }

    [Fact]
    public void PromptArrivingMidDecode_WaitsForTheStepInProgress()
    {
        // Without chunked prefill a prompt waits for the decode step in progress, then is prefilled alone while decoding waits.
        var hardware = TestProfiles.Gpu(requestMs: 2) with { ChunkedPrefill = false };
        var clock = new VirtualTimeProvider(DateTimeOffset.UnixEpoch);
        var client = Client(clock, hardware);
        var step = client.Latency.DecodeStepSeconds(1, client.CountInputTokens(Prompt)) * 1000;
        Measured? early = null, late = null;
        VirtualTimeLoop.Run(clock, async () =>
        {
            var a = OneAsync(client, clock, 200);
            // B joins the engine (after its request overhead) a third of the way into one of A's decode steps.
            var aJoin = 2.0;
            var aFirst = client.TimeToFirstTokenSeconds(client.CountInputTokens(Prompt)) * 1000;
            await Task.Delay(TimeSpan.FromMilliseconds(aFirst - aJoin + (10.33 * step)), clock);
            late = await OneAsync(client, clock, 20);
            early = await a;
            return 0;
        });

        var alone = client.TimeToFirstTokenSeconds(client.CountInputTokens(Prompt)) * 1000;
        Assert.InRange(late!.TtftMs, alone + (0.6 * step), alone + (0.7 * step));
        // A's decoding waited for B's prefill once.
        Assert.True(early!.TpotMs > step, $"{early.TpotMs} vs {step}");
    }

    [Fact]
    public void RequestSubmittedLate_ThatJoinedFirst_IsStepped_FromItsOwnJoin()
    {
        // serve-sim submits a request when its handler reaches the engine, which may be after a later arrival's: here B
        // arrives and is submitted at 1.0 ms, A arrived at 0.5 ms but reaches the engine at 1.2 ms. A is served as if alone,
        // from its own join; B waits for A's step. Before the fix the engine woke at B's join and prefilled both together.
        var hardware = TestProfiles.Gpu(requestMs: 3) with { NetworkRttMs = 0 };
        var clock = new VirtualTimeProvider(DateTimeOffset.UnixEpoch);
        var client = Client(clock, hardware);
        var alone = client.TimeToFirstTokenSeconds(client.CountInputTokens(Prompt)) * 1000;
        double aFirst = 0, bFirst = 0;
        VirtualTimeLoop.Run(clock, async () =>
        {
            var origin = clock.GetTimestamp();
            await PreciseDelay.DelayAsync(clock, TimeSpan.FromMilliseconds(1.0), CancellationToken.None);
            var b = FirstTokenAsync(client, clock, origin, arrival: null);
            await PreciseDelay.DelayAsync(clock, TimeSpan.FromMilliseconds(0.2), CancellationToken.None);
            var a = FirstTokenAsync(client, clock, origin, arrival: PreciseDelay.TimestampAfter(clock, origin, TimeSpan.FromMilliseconds(0.5)));
            aFirst = await a;
            bFirst = await b;
            return 0;
        });

        Assert.InRange(aFirst - (0.5 + alone), -0.001, 0.001);
        Assert.True(bFirst > aFirst + 0.1, $"B's first token at {bFirst} ms, A's at {aFirst} ms: B should wait for A's prefill step");
    }

    /// <summary>The moment (ms from <paramref name="origin"/>) a request's first token is seen; <paramref name="arrival"/> stands for serve-sim's arrival stamp.</summary>
    private static async Task<double> FirstTokenAsync(HwSimChatClient client, VirtualTimeProvider clock, long origin, long? arrival)
    {
        var options = new ChatOptions { MaxOutputTokens = 3 };
        if (arrival is { } at)
        {
            options.AdditionalProperties = new() { [AttemptContext.ArrivalKey] = at };
        }

        await foreach (var update in client.GetStreamingResponseAsync(Prompt, options))
        {
            if (!string.IsNullOrEmpty(update.Text))
            {
                return clock.GetElapsedTime(origin).TotalMilliseconds;
            }
        }

        return double.NaN;
    }

    [Fact]
    public void Replicas_ConcurrentRequests_GoToIdleReplicas_AndAreServedAsIfAlone()
    {
        // Three requests at once: on one server the prompts share a prefill step, so each waits longer than one alone; on
        // three replicas behind the least-loaded balancer each lands on an idle engine and is served as if alone. A fourth,
        // sent while the three run, joins one of them.
        var hardware = TestProfiles.Gpu(requestMs: 2);
        var latency = new LatencyModel(hardware, TestProfiles.Dense(), TestProfiles.Bf16, 1);
        List<Measured> Burst(int replicas, int requests)
        {
            var clock = new VirtualTimeProvider(DateTimeOffset.UnixEpoch);
            var client = new HwSimChatClient(clock, TokenCounter.Default, latency, replicas: replicas);
            var all = new List<Measured>();
            VirtualTimeLoop.Run(clock, async () =>
            {
                all.AddRange(await Task.WhenAll(Enumerable.Range(0, requests).Select(_ => OneAsync(client, clock, 20))));
                return 0;
            });
            return all;
        }

        var alone = Burst(1, 1)[0];
        var shared = Burst(1, 3);
        var replicated = Burst(3, 3);
        Assert.All(shared, m => Assert.True(m.TtftMs > alone.TtftMs + 0.001, $"{m.TtftMs} ms on one server vs {alone.TtftMs} ms alone"));
        Assert.All(replicated, m => Assert.Equal(alone.TtftMs, m.TtftMs, 6));
        Assert.All(replicated, m => Assert.Equal(alone.TpotMs, m.TpotMs, 6));
        // Four on three replicas: one replica serves two, and those two wait as on a shared server.
        Assert.Equal(2, Burst(3, 4).Count(m => m.TtftMs > alone.TtftMs + 0.001));
    }

    [Fact]
    public void Cancelled_GivesItsPlaceBack()
    {
        var hardware = TestProfiles.Gpu(requestMs: 1);
        var clock = new VirtualTimeProvider(DateTimeOffset.UnixEpoch);
        var client = Client(clock, hardware);
        Measured? after = null;
        var cancelled = false;
        VirtualTimeLoop.Run(clock, async () =>
        {
            using var cancel = new CancellationTokenSource();
            var stream = OneAsync(client, clock, 5000, cancel.Token);
            await Task.Delay(TimeSpan.FromMilliseconds(50), clock);
            await cancel.CancelAsync();
            try
            {
                await stream;
            }
            catch (OperationCanceledException)
            {
                cancelled = true;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(20), clock);
            after = await OneAsync(client, clock, 10);
            return 0;
        });

        Assert.True(cancelled);
        // Alone again: the cancelled sequence left the batch, so the next request is served as if the engine were idle.
        Assert.InRange(after!.TtftMs - (client.TimeToFirstTokenSeconds(client.CountInputTokens(Prompt)) * 1000), -0.001, 0.001);
    }

    [Fact]
    public void SequenceThatDoesNotFitTheKvCache_WaitsForRoom()
    {
        // 8000 KV bytes per token (TestProfiles.Dense): a cache of a little over one sequence (prompt + 400 answer tokens).
        var clock = new VirtualTimeProvider(DateTimeOffset.UnixEpoch);
        var probe = Client(clock, TestProfiles.Gpu());
        var input = probe.CountInputTokens(Prompt);
        var weights = probe.Latency.WeightBytes;
        var cacheGB = (weights + (1.5 * (input + 400) * 8000)) / 1e9;
        var hardware = TestProfiles.Gpu(memoryGB: cacheGB);
        var client = Client(clock, hardware);
        Assert.InRange(client.Latency.KvCapacityTokens, input + 400, (2 * (input + 400)) - 1);
        Measured? first = null, second = null;
        VirtualTimeLoop.Run(clock, async () =>
        {
            var a = OneAsync(client, clock, 400);
            var b = OneAsync(client, clock, 400);
            first = await a;
            second = await b;
            return 0;
        });

        // The second is admitted only when the first ends.
        Assert.True(second!.TtftMs > first!.EndMs, $"second's first token at {second.TtftMs} ms, first ended at {first.EndMs} ms");
    }
}
