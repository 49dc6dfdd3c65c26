using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Runtime;
using System.Text.Json;
using Microsoft.Extensions.AI;
using Spark.Eval.Backends.Remote;
using Spark.Eval.Core;
using Spark.Eval.Core.Backends;
using Spark.Eval.Core.Metrics;
using Spark.Eval.Core.Timing;
using Spark.Eval.Simulator.Server;

namespace Spark.Eval.Diagnostics;

/// <summary>Exit codes of the diagnostics commands (the spark-eval contract: 0 ok, 1 threshold failed, 2 bad input, 130 interrupted).</summary>
public static class DiagnosticExit
{
    public const int Ok = 0;
    public const int ThresholdFailed = 1;
    public const int BadInput = 2;
    public const int Interrupted = 130;
}

/// <summary>
/// <c>spark-eval selftest</c>: starts serve-sim in its own process with a known schedule, drives it through the harness's
/// own pipeline (openai backend + timing layer) at several concurrencies, and reports measured minus server-logged times.
/// </summary>
public static class SelfTestCommand
{
    /// <summary>
    /// The message for --http2 with a real-time emission clock: Kestrel resumes each HTTP/2 stream's writer on a thread-pool
    /// thread, which timer threads spinning at a higher SCHED_FIFO priority can starve indefinitely (seen here at 256 streams).
    /// </summary>
    public static string Http2RealTimeConflict(string command, int priority) => string.Create(CultureInfo.InvariantCulture,
        $"{command}: --http2 with the emission clock at SCHED_FIFO priority {priority} can starve Kestrel's HTTP/2 stream writers, which resume on thread-pool threads below the timer threads (serve-sim stalled at 256 streams). Fix: add --rt-priority 0 (timer threads at the process's own priority) or --no-emission-clock");

    private const string InlineCompletions = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    /// <summary>
    /// The runtime settings selftest measures under, client (with <c>--client-jit full</c>) and server alike: no tiering, and no
    /// ready-to-run code (with tiering off it would never be replaced), so every method runs fully optimised from its first call.
    /// Under tiering the hot path of a 256-stream window was still tier-0 code after warm-up (perf), and serve-sim ran the
    /// framework's ready-to-run code: ~25 % fewer chunks/s (docs/benchmarks.md).
    /// </summary>
    private static readonly (string Name, string Value)[] FullJit = [("DOTNET_TieredCompilation", "0"), ("DOTNET_ReadyToRun", "0")];

    private static bool RunsFullJit() => FullJit.All(e => Environment.GetEnvironmentVariable(e.Name) == e.Value);

    private static readonly Option<bool> Json = new("--json") { Description = "Print the results as one JSON object." };
    private static readonly Option<string> Levels = new("--concurrency", "-c") { Description = "Comma-separated concurrency levels.", DefaultValueFactory = _ => "1,16,64,256" };
    private static readonly Option<double> TtftMs = new("--ttft-ms") { Description = "serve-sim's time to first token, ms (no jitter).", DefaultValueFactory = _ => 50 };
    private static readonly Option<double> ItlMs = new("--itl-ms") { Description = "serve-sim's inter-token time, ms (no jitter).", DefaultValueFactory = _ => 10 };
    private static readonly Option<int> Tokens = new("--tokens") { Description = "Output tokens per request.", DefaultValueFactory = _ => 32 };
    private static readonly Option<int> Rounds = new("--rounds") { Description = "Measured requests per stream at each level (after the warm-up: one round of at least 64 requests, three with --client-jit tiered).", DefaultValueFactory = _ => 2 };
    private static readonly Option<bool> ServerNoClock = new("--no-emission-clock") { Description = "Run serve-sim without its emission clock (the backend paces with the system timer), for comparison." };
    private static readonly Option<double> ServerSpinUs = new("--spin-us") { Description = "serve-sim's emission clock spin window, µs.", DefaultValueFactory = _ => 500 };
    private static readonly Option<int> ServerClockThreads = new("--clock-threads") { Description = "serve-sim's emission clock timer threads.", DefaultValueFactory = _ => 2 };
    private static readonly Option<int> ServerPriority = new("--rt-priority") { Description = "SCHED_FIFO priority of serve-sim's emission clock thread; 0 = normal.", DefaultValueFactory = _ => 30 };
    private static readonly Option<bool> UseHttp2 = new("--http2") { Description = "Stream over HTTP/2 (h2c with prior knowledge: serve-sim --http2, the openai backend's http_version=2) instead of HTTP/1.1: many streams share a few connections. Needs --rt-priority 0 or --no-emission-clock. Slower than HTTP/1.1 with the emission clock on this project's 2-core VM (docs/benchmarks.md)." };

    private static readonly Option<bool> Stagger = new("--stagger") { Description = "Start the streams spread evenly over one inter-token gap (steady state of independent users) instead of all at once (the default: every chunk of every stream comes due together, the worst case)." };
    private static readonly Option<string> ClientJit = new("--client-jit") { Description = "How the measuring client's code is compiled: full (selftest re-runs itself in a child process with DOTNET_TieredCompilation=0 and DOTNET_ReadyToRun=0, so every method, the framework's included, runs fully optimised from its first call) or tiered (this process, the runtime's usual settings: tier-0 and ready-to-run code may still run in the measured window). serve-sim always runs fully optimised.", DefaultValueFactory = _ => "full" };
    private static readonly Option<bool> NoPrefault = new("--no-prefault") { Description = "Do not pre-fault the heaps (by default the client maps its no-GC budget and serve-sim its gen0 budget before the window, so the window's allocations do not pay a page fault per fresh page), for comparison." };
    private static readonly Option<string> RxTimestamps = new("--rx-timestamps") { Description = "How the client stamps each event: kernel (the kernel's receive time of its bytes, SO_TIMESTAMPNS; HTTP/1.1 on Linux) or off (the moment the client parsed it).", DefaultValueFactory = _ => "kernel" };

    private static readonly Option<string> Via = new("--via") { Description = "client: selftest's own measuring client, launched in a tuned way; run: the user's path — a plainly started serve-sim and, per concurrency, a plain 'spark-eval run' through the openai backend (spark-mini, --repeats, --warmup), each in its own process, figures read from the run directory (docs/benchmarks.md).", DefaultValueFactory = _ => "client" };
    private static readonly Option<int> RunRepeats = new("--repeats") { Description = "--via run: repeats per task of each run.", DefaultValueFactory = _ => 22 };
    private static readonly Option<int> RunWarmup = new("--warmup") { Description = "--via run: warm-up attempts of each run.", DefaultValueFactory = _ => 2 };
    private static readonly Option<string?> RunSuite = new("--suite") { Description = "--via run: suite of each run (default: run's own, the embedded spark-mini)." };
    private static readonly Option<string?> RunBackendOptions = new("--backend-options") { Description = "--via run: settings appended to each run's openai backend spec (e.g. tx_thread=off, for comparison; docs/remote.md)." };
    private static readonly Option<string?> RunCli = new("--cli") { Description = "--via run: the spark-eval program to drive (a spark-eval.dll or executable; default this one), e.g. a baseline build." };

    /// <summary>The spark-eval program selftest starts serve-sim (and, with --client-jit full, itself) from.</summary>
    private static string _cliAssembly = "";

    /// <summary>The command; <paramref name="cliAssembly"/> is the spark-eval program (its .dll) whose serve-sim the test drives.</summary>
    public static Command Create(TextWriter stdout, TextWriter stderr, string cliAssembly)
    {
        _cliAssembly = cliAssembly;
        var command = new Command("selftest", "Measure the harness's own timing error: serve-sim in a child process with a fixed schedule, driven at concurrency 1/16/64/256; prints measured − server-logged flush times (TTFT, inter-token) at p50/p99.")
        {
            Json, Levels, TtftMs, ItlMs, Tokens, Rounds, ServerNoClock, ServerSpinUs, ServerPriority, ServerClockThreads, UseHttp2, RxTimestamps, Stagger, ClientJit, NoPrefault,
            Via, RunRepeats, RunWarmup, RunSuite, RunCli, RunBackendOptions,
        };
        command.SetAction((parse, ct) => ExecuteAsync(parse, stdout, stderr, ct));
        return command;
    }

    /// <summary>Errors of one concurrency level, in ms.</summary>
    public sealed record LevelResult(
        int Concurrency, int Requests, int Failed, long Chunks, double ChunksPerSecond, int CountMismatches, bool GcFreeWindow,
        LatencyStatistics? TtftErrorMs, LatencyStatistics? ItlErrorMs, LatencyStatistics? DeliveryDelayMs, LatencyStatistics? ServerTtftLatenessMs,
        LatencyStatistics? EmitLatenessMs, long UnscheduledChunks, LatencyStatistics? ReceiveLatenessMs, string Protocol,
        double? ClientCpuUsPerChunk, double? ServerCpuUsPerChunk, double? ClientPageFaultsPerChunk, double? ServerPageFaultsPerChunk);

    private static async Task<int> ExecuteAsync(ParseResult parse, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        var time = TimeProvider.System;
        // Must be set before this process opens its first socket: the socket engine reads it once.
        Environment.SetEnvironmentVariable(InlineCompletions, "1");
        var levels = parse.GetValue(Levels)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(t => int.TryParse(t, NumberStyles.Integer, CultureInfo.InvariantCulture, out var c) && c > 0 ? c
                : throw new InputException($"--concurrency '{t}' is not a positive integer. Fix: write e.g. 1,16,64,256"))
            .ToArray();
        var ttft = parse.GetValue(TtftMs);
        var itl = parse.GetValue(ItlMs);
        var tokens = parse.GetValue(Tokens);
        var rounds = parse.GetValue(Rounds);
        if (ttft < 0 || itl <= 0 || tokens < 2 || rounds < 1)
        {
            throw new InputException("selftest: --ttft-ms ≥ 0, --itl-ms > 0, --tokens ≥ 2 and --rounds ≥ 1 are required. Fix: adjust the values");
        }

        switch (parse.GetValue(Via))
        {
            case "run":
                if (parse.GetValue(RunRepeats) < 1 || parse.GetValue(RunWarmup) < 0)
                {
                    throw new InputException("selftest --via run: --repeats ≥ 1 and --warmup ≥ 0 are required. Fix: adjust the values");
                }

                var cli = parse.GetValue(RunCli) ?? _cliAssembly;
                if (!File.Exists(cli))
                {
                    throw new InputException($"selftest --cli {cli}: no such file. Fix: give the path of a built spark-eval.dll (src/Eval.Cli/bin/Release/net10.0/spark-eval.dll)");
                }

                return await SelfTestRunPath.RunAsync(cli, levels, ttft, itl, parse.GetValue(RunRepeats), parse.GetValue(RunWarmup), parse.GetValue(RunSuite), parse.GetValue(RunBackendOptions), parse.GetValue(Json), stdout, stderr, ct);
            case "client":
                break;
            case var v:
                throw new InputException($"selftest: --via {v} is not a measuring path. Fix: write --via client (selftest's tuned client) or --via run (the user's serve-sim + run)");
        }

        var backendSpec = string.Create(CultureInfo.InvariantCulture, $"sim?ttft_ms={ttft}&tokens_per_s={1000.0 / itl}");
        // serve-sim runs under the settings selftest sets for it (StartServer), not its own re-launch.
        var serverArgs = new List<string> { "--runtime", "plain", "--spin-us", parse.GetValue(ServerSpinUs).ToString(CultureInfo.InvariantCulture), "--rt-priority", parse.GetValue(ServerPriority).ToString(CultureInfo.InvariantCulture), "--clock-threads", parse.GetValue(ServerClockThreads).ToString(CultureInfo.InvariantCulture) };
        if (parse.GetValue(ServerNoClock))
        {
            serverArgs.Add("--no-emission-clock");
        }

        var prefault = !parse.GetValue(NoPrefault);
        if (prefault)
        {
            serverArgs.AddRange(["--prefault-mb", ServerPrefaultMb.ToString(CultureInfo.InvariantCulture)]);
        }

        var http2 = parse.GetValue(UseHttp2);
        var stagger = parse.GetValue(Stagger) ? TimeSpan.FromMilliseconds(itl) : TimeSpan.Zero;
        var kernelStamps = parse.GetValue(RxTimestamps) switch
        {
            "kernel" => true,
            "off" => false,
            var v => throw new InputException($"selftest: --rx-timestamps {v} is not a stamping mode. Fix: write --rx-timestamps kernel or --rx-timestamps off"),
        };
        if (http2)
        {
            if (!parse.GetValue(ServerNoClock) && parse.GetValue(ServerPriority) > 0)
            {
                throw new InputException(Http2RealTimeConflict("selftest", parse.GetValue(ServerPriority)));
            }

            serverArgs.Add("--http2");
        }

        var clientJit = parse.GetValue(ClientJit);
        if (clientJit is not ("full" or "tiered"))
        {
            throw new InputException($"selftest: --client-jit {clientJit} is not a compilation mode. Fix: write --client-jit full or --client-jit tiered");
        }

        if (clientJit == "full" && !RunsFullJit())
        {
            return await RunAsFullJitChildAsync(parse, stdout, stderr, ct);
        }

        using var server = StartServer(backendSpec, serverArgs);
        try
        {
            var (baseUrl, serverLine) = await ReadBaseUrlAsync(server, ct);
            var stamping = kernelStamps && OpenAICompatibleChatClient.KernelReceiveTimestampsApply(http2, time)
                ? "event stamps = kernel receive time of their bytes (SO_TIMESTAMPNS)"
                : "event stamps = when the client parsed them";
            stamping += stagger > TimeSpan.Zero
                ? string.Create(CultureInfo.InvariantCulture, $", stream starts spread over one inter-token gap ({itl} ms)")
                : ", all streams started together";
            var conditions = string.Create(CultureInfo.InvariantCulture,
                $"{(http2 ? "HTTP/2 (h2c prior knowledge, streams multiplexed on pooled connections)" : "HTTP/1.1 (one keep-alive connection per stream)")}; client: {stamping}, {SchedulingPolicy()}, {InlineCompletions}=1, {(RunsFullJit() ? "DOTNET_TieredCompilation=0 DOTNET_ReadyToRun=0 (child process)" : "tiered JIT (default runtime settings)")}, GC kept out of the measured window (TryStartNoGCRegion{(prefault ? ", its budget pre-faulted" : ", heap not pre-faulted")}); server (child process): {InlineCompletions}=1, {ServerGen0}={ServerGen0Value} ({ServerGen0Mb} MB gen0 budget{(prefault ? string.Create(CultureInfo.InvariantCulture, $", --prefault-mb {ServerPrefaultMb}") : ", heap not pre-faulted")}), DOTNET_TieredCompilation=0 DOTNET_ReadyToRun=0, {serverLine}");
            await stderr.WriteLineAsync($"selftest: serve-sim pid {server.Id.ToString(CultureInfo.InvariantCulture)} at {baseUrl} ({backendSpec})");
            // serve-sim --http2 answers HTTP/2 only, its log and clock endpoints included.
            using var logClient = new HttpClient
            {
                BaseAddress = baseUrl,
                DefaultRequestVersion = http2 ? System.Net.HttpVersion.Version20 : System.Net.HttpVersion.Version11,
                DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
            };
            var results = new List<LevelResult>();
            foreach (var level in levels)
            {
                results.Add(await RunLevelAsync(level, rounds, tokens, ttft, http2, kernelStamps, stagger, prefault, baseUrl, logClient, server.Id, time, stderr, ct));
                await stderr.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"selftest: concurrency {level} done"));
            }

            if (parse.GetValue(Json))
            {
                await stdout.WriteLineAsync(JsonSerializer.Serialize(new SelfTestReport(
                    "measured − server-logged flush time on one monotonic clock; ttft_error = client first content − server first content flush; itl_error = client gap − server gap; delivery = client chunk − server flush of the same chunk",
                    ttft, itl, tokens, rounds, Environment.ProcessorCount, conditions, results), SelfTestJson.Default.SelfTestReport));
            }
            else
            {
                await stdout.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                    $"serve-sim schedule: TTFT {ttft} ms, inter-token {itl} ms, {tokens} tokens/request, {rounds} measured requests per stream; {Environment.ProcessorCount} CPU cores shared by client and server"));
                await stdout.WriteLineAsync("conditions: " + conditions);
                await stdout.WriteLineAsync("error = measured (client stamp of the event, see conditions) − server-logged flush time, same monotonic clock; emit late = server flush − due time of the emission-clock timer that released the chunk (its schedule); recv late = client stamp − that due time (an upper bound on emit late that does not trust the server's flush stamp); unscheduled = content chunks no timer released (already due when the backend looked: late and coalesced); ms");
                await stdout.WriteLineAsync("| concurrency | requests | failed | chunks/s | TTFT err p50 | TTFT err p99 | ITL err p50 | ITL err p99 | delivery p99 | emit late p50 | emit late p99 | recv late p99 | unscheduled | protocol | GC-free |");
                await stdout.WriteLineAsync("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---|:---:|");
                foreach (var r in results)
                {
                    await stdout.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                        $"| {r.Concurrency} | {r.Requests} | {r.Failed} | {r.ChunksPerSecond:0} | {F(r.TtftErrorMs?.P50)} | {F(r.TtftErrorMs?.P99)} | {F(r.ItlErrorMs?.P50)} | {F(r.ItlErrorMs?.P99)} | {F(r.DeliveryDelayMs?.P99)} | {F(r.EmitLatenessMs?.P50)} | {F(r.EmitLatenessMs?.P99)} | {F(r.ReceiveLatenessMs?.P99)} | {r.UnscheduledChunks} | {r.Protocol} | {(r.GcFreeWindow ? "yes" : "no")} |"));
                }
            }

            return results.Any(r => r.Failed > 0 || r.CountMismatches > 0) ? DiagnosticExit.ThresholdFailed : DiagnosticExit.Ok;
        }
        finally
        {
            if (!server.HasExited)
            {
                server.Kill(entireProcessTree: true);
                await server.WaitForExitAsync(CancellationToken.None);
            }
        }

        static string F(double? v) => v is { } x ? x.ToString("0.000", CultureInfo.InvariantCulture) : "–";
    }

    private const string ServerGen0 = "DOTNET_GCgen0size";

    /// <summary>serve-sim's gen0 budget, MB: large enough that it does not collect within a measured window.</summary>
    private const int ServerGen0Mb = 512;

    private static readonly string ServerGen0Value = "0x" + (ServerGen0Mb * (1L << 20)).ToString("x", CultureInfo.InvariantCulture);

    /// <summary>serve-sim's pre-faulted heap: its gen0 budget and a margin, so a collection recycles the regions once.</summary>
    private const int ServerPrefaultMb = ServerGen0Mb + 64;

    /// <summary>This process's scheduling policy as /proc reports it (SCHED_FIFO under <c>chrt -f</c>).</summary>
    private static string SchedulingPolicy()
    {
        try
        {
            // rt_priority is field 40, policy 41.
            var fields = StatFields("self");
            var priority = fields[40 - 3];
            return fields[41 - 3] switch
            {
                "0" => "normal priority (SCHED_OTHER)",
                "1" => "SCHED_FIFO priority " + priority,
                "2" => "SCHED_RR priority " + priority,
                var p => "scheduling policy " + p,
            };
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or IndexOutOfRangeException)
        {
            return "scheduling policy unknown";
        }
    }

    /// <summary>Runs this same selftest in a child process under <see cref="FullJit"/>, relaying its output and exit code.</summary>
    private static async Task<int> RunAsFullJitChildAsync(ParseResult parse, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        var info = SelfStartInfo(parse.Tokens.Select(t => t.Value));
        info.RedirectStandardError = true;
        foreach (var (name, value) in FullJit)
        {
            info.Environment[name] = value;
        }

        using var child = Process.Start(info) ?? throw new InvalidOperationException("could not start the selftest client process");
        try
        {
            var relayOut = RelayAsync(child.StandardOutput, stdout, ct);
            var relayErr = RelayAsync(child.StandardError, stderr, ct);
            await child.WaitForExitAsync(ct);
            await Task.WhenAll(relayOut, relayErr);
            return child.ExitCode;
        }
        catch (OperationCanceledException)
        {
            child.Kill(entireProcessTree: true);
            throw;
        }

        static async Task RelayAsync(StreamReader from, TextWriter to, CancellationToken ct)
        {
            while (await from.ReadLineAsync(ct) is { } line)
            {
                await to.WriteLineAsync(line);
            }
        }
    }

    /// <summary>This program (the apphost, or <c>dotnet spark-eval.dll</c>) with the given arguments; standard output redirected.</summary>
    private static ProcessStartInfo SelfStartInfo(IEnumerable<string> args)
    {
        var self = Environment.ProcessPath ?? "dotnet";
        var info = new ProcessStartInfo(self) { RedirectStandardOutput = true, RedirectStandardError = false, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(self) != "spark-eval")
        {
            info.ArgumentList.Add(_cliAssembly);
        }

        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        return info;
    }

    private static Process StartServer(string backendSpec, IEnumerable<string> serverArgs)
    {
        var info = SelfStartInfo(new[] { "serve-sim", "--port", "0", "--backend", backendSpec }.Concat(serverArgs));

        info.Environment[InlineCompletions] = "1";
        // A large gen0 budget: the server does not collect during a measured window (it cannot use a no-GC region across requests).
        info.Environment[ServerGen0] = ServerGen0Value;
        // Fully optimised code from the start, so the server neither re-JITs nor runs ready-to-run code in the measured window.
        foreach (var (name, value) in FullJit)
        {
            info.Environment[name] = value;
        }
        return Process.Start(info) ?? throw new InvalidOperationException("could not start serve-sim");
    }

    private static async Task<(Uri Url, string Line)> ReadBaseUrlAsync(Process server, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        while (await server.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
        {
            const string marker = "listening on ";
            var at = line.IndexOf(marker, StringComparison.Ordinal);
            if (at >= 0)
            {
                return (new Uri(line[(at + marker.Length)..].Split(' ')[0]), line);
            }
        }

        throw new InvalidOperationException("serve-sim exited before it printed its address");
    }

    private static async Task<LevelResult> RunLevelAsync(int concurrency, int rounds, int tokens, double ttftMs, bool http2, bool kernelStamps, TimeSpan stagger, bool prefault, Uri baseUrl, HttpClient logClient, int serverPid, TimeProvider time, TextWriter stderr, CancellationToken ct)
    {
        using var client = new OpenAICompatibleChatClient(new OpenAIBackendOptions
        {
            BaseUrl = baseUrl,
            Model = "selftest",
            MaxRetries = 0,
            BreakerMinimumThroughput = 0,
            TotalTimeout = TimeSpan.FromMinutes(5),
            TimeToFirstTokenTimeout = TimeSpan.FromMinutes(1),
            Http2 = http2,
            KernelReceiveTimestamps = kernelStamps,
            // selftest's own tuned client starts its streams together, each on its own flow, as it always has (--via run measures the send thread).
            SendThread = false,
        }, time, null);
        var pipeline = new ChatClientBuilder(client).UseTiming().Build();

        async Task<(AttemptRecorder Recorder, string? ResponseId, bool Ok)> OneAsync(int worker, int round)
        {
            var recorder = new AttemptRecorder(time);
            var options = new ChatOptions
            {
                MaxOutputTokens = tokens,
                AdditionalProperties = new AdditionalPropertiesDictionary { [AttemptRecorder.OptionsKey] = recorder },
            };
            string? id = null;
            try
            {
                var prompt = string.Create(CultureInfo.InvariantCulture, $"selftest stream {worker} round {round}: write a loop that sums an array of integers");
                await foreach (var update in pipeline.GetStreamingResponseAsync([new ChatMessage(ChatRole.User, prompt)], options, ct))
                {
                    id ??= update.ResponseId;
                }

                return (recorder, id, true);
            }
            catch (BackendException)
            {
                return (recorder, id, false);
            }
        }

        // Warm-up, not measured: opens the keep-alive connections (one round) and, under tiered JIT, gives tiering a
        // chance: the runtime counts calls only after 100 ms without new tier-0 code and compiles in the background, twice
        // with dynamic PGO (instrumented, then optimised), so three rounds with a pause after each. Even so, perf found
        // hot methods still instrumented in the window; --client-jit full (the default) avoids tiering altogether.
        for (var round = 0; round < (RunsFullJit() ? 1 : 3); round++)
        {
            for (var done = 0; done < Math.Max(concurrency, 64); done += concurrency)
            {
                await Task.WhenAll(Enumerable.Range(0, concurrency).Select(w => OneAsync(w, -1)));
            }

            await Task.Delay(TimeSpan.FromMilliseconds(250), ct);
        }
        await logClient.GetStringAsync(new Uri("_spark/log?clear=1", UriKind.Relative), ct);

        if (prefault)
        {
            // The no-GC region's budget, mapped now: its allocations then reuse these pages instead of faulting fresh ones in.
            HeapPrefault.Touch(NoGcBudget(concurrency, rounds, tokens) + (16L << 20));
        }

        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        var noGc = TryStartNoGcRegion(concurrency, rounds, tokens);
        var gen0 = GC.CollectionCount(0);
        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        var clientBefore = ReadCounters("self");
        var serverBefore = ReadCounters(serverPid.ToString(CultureInfo.InvariantCulture));
        var start = time.GetTimestamp();
        var attempts = (await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async w =>
        {
            var mine = new List<(AttemptRecorder, string?, bool)>(rounds);
            if (w > 0 && stagger > TimeSpan.Zero)
            {
                // Stream w starts w/concurrency of a gap later; equal request lengths keep the offsets for every round.
                await Task.Delay(stagger * w / concurrency, time, ct);
            }

            for (var r = 0; r < rounds; r++)
            {
                mine.Add(await OneAsync(w, r));
            }

            return mine;
        }))).SelectMany(x => x).ToList();
        var elapsed = time.GetElapsedTime(start);
        var clientUse = ReadCounters("self") - clientBefore;
        var serverUse = ReadCounters(serverPid.ToString(CultureInfo.InvariantCulture)) - serverBefore;
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
        var gcFree = GC.CollectionCount(0) == gen0;
        if (noGc && GCSettings.LatencyMode == GCLatencyMode.NoGCRegion)
        {
            GC.EndNoGCRegion();
        }

        // serve-sim logs a request when its handler returns, which can be after this client read its end: wait (bounded) until
        // every answered request is in the log, or one not yet logged would count as failed here and land in the next level's.
        var expected = attempts.Where(a => a.Item3 && a.Item2 is not null).Select(a => a.Item2!.Replace("chatcmpl-", string.Empty, StringComparison.Ordinal)).ToHashSet(StringComparer.Ordinal);
        var logWait = time.GetTimestamp();
        while (time.GetElapsedTime(logWait) < TimeSpan.FromSeconds(5))
        {
            var logged = (await logClient.GetStringAsync(new Uri("_spark/log", UriKind.Relative), ct)).Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Select(ServerLogStore.FromJsonLine).OfType<ServerRequestLog>().Select(e => e.RequestId).ToHashSet(StringComparer.Ordinal);
            if (expected.IsSubsetOf(logged))
            {
                break;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(10), time, ct);
        }

        var logText = await logClient.GetStringAsync(new Uri("_spark/log?clear=1", UriKind.Relative), ct);
        await stderr.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"selftest: client allocated {allocated / 1e6:F1} MB in the measured window ({allocated / (double)Math.Max(1, attempts.Count):F0} B per request)"));
        await stderr.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"selftest: serve-sim emission clock after concurrency {concurrency} (cumulative): ")
            + await logClient.GetStringAsync(new Uri("_spark/clock", UriKind.Relative), ct));
        var serverLog = logText.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(ServerLogStore.FromJsonLine).OfType<ServerRequestLog>()
            .ToDictionary(e => e.RequestId, StringComparer.Ordinal);

        var ttftErr = new List<double>();
        var itlErr = new List<double>();
        var delivery = new List<double>();
        var serverLate = new List<double>();
        var emitLate = new List<double>();
        var receiveLate = new List<double>();
        var protocols = new SortedSet<string>(StringComparer.Ordinal);
        long unscheduled = 0;
        int failed = 0, mismatches = 0;
        long chunks = 0;
        foreach (var (recorder, responseId, ok) in attempts)
        {
            var key = responseId?.Replace("chatcmpl-", string.Empty, StringComparison.Ordinal);
            if (!ok || key is null || !serverLog.TryGetValue(key, out var entry))
            {
                failed++;
                continue;
            }

            var startNs = ServerLogStore.ToNanoseconds(recorder.StartTimestamp, time.TimestampFrequency);
            var received = recorder.Events().Where(e => e.Kind == StreamEventKind.Content).Select(e => startNs + (e.OffsetMicroseconds * 1000)).ToArray();
            var content = entry.Events.Where(e => e.Kind == "content").ToArray();
            var served = content.Select(e => e.MonotonicNs).ToArray();
            protocols.Add(entry.Protocol ?? "unknown");
            foreach (var e in content)
            {
                if (e.DueNs is { } due)
                {
                    emitLate.Add((e.MonotonicNs - due) / 1e6);
                }
                else
                {
                    unscheduled++;
                }
            }

            if (received.Length != served.Length || received.Length == 0)
            {
                mismatches++;
                continue;
            }

            // Client stamp − schedule: an upper bound on the chunk's emission lateness that does not depend on where the
            // server stamps its flush (with batched HTTP/2 sends the stamp precedes the connection's send).
            for (var i = 0; i < content.Length; i++)
            {
                if (content[i].DueNs is { } due)
                {
                    receiveLate.Add((received[i] - due) / 1e6);
                }
            }

            chunks += received.Length;
            ttftErr.Add((received[0] - served[0]) / 1e6);
            serverLate.Add(((served[0] - entry.ReceivedNs) / 1e6) - ttftMs);
            for (var i = 0; i < received.Length; i++)
            {
                delivery.Add((received[i] - served[i]) / 1e6);
                if (i > 0)
                {
                    itlErr.Add(((received[i] - received[i - 1]) - (served[i] - served[i - 1])) / 1e6);
                }
            }
        }

        // CPU time per chunk received (the chunks the client took in the window, so both sides divide by the same count).
        double? PerChunk(double? total) => chunks > 0 ? total / chunks : null;
        var clientUs = PerChunk(clientUse?.Total.TotalMicroseconds);
        var serverUs = PerChunk(serverUse?.Total.TotalMicroseconds);
        string Side(ProcessCounters? use) => use is { } u
            ? string.Create(CultureInfo.InvariantCulture, $"{PerChunk(u.Total.TotalMicroseconds):F1} µs (user {PerChunk(u.User.TotalMicroseconds):F1}, system {PerChunk(u.System.TotalMicroseconds):F1}; {PerChunk(u.MinorFaults):F2} page faults)")
            : "unknown";
        await stderr.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
            $"selftest: CPU time per chunk in the measured window: client {Side(clientUse)}, {(clientUs > 0 ? 1e6 / clientUs : 0):F0} chunks/s per core; serve-sim {Side(serverUse)}"));
        return new LevelResult(concurrency, attempts.Count, failed, chunks, chunks / elapsed.TotalSeconds, mismatches, gcFree,
            LatencyStatistics.FromSamples([.. ttftErr], "ms"), LatencyStatistics.FromSamples([.. itlErr], "ms"),
            LatencyStatistics.FromSamples([.. delivery], "ms"), LatencyStatistics.FromSamples([.. serverLate], "ms"),
            LatencyStatistics.FromSamples([.. emitLate], "ms"), unscheduled, LatencyStatistics.FromSamples([.. receiveLate], "ms"), string.Join('+', protocols),
            clientUs, serverUs, PerChunk(clientUse?.MinorFaults), PerChunk(serverUse?.MinorFaults));
    }

    /// <summary>The fields of <c>/proc/PROCESS/stat</c> from field 3 on (after the command name, which may hold spaces): field n is at n − 3.</summary>
    private static string[] StatFields(string process)
    {
        var stat = File.ReadAllText($"/proc/{process}/stat");
        return stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
    }

    /// <summary>A process's CPU time (user, system) and minor page faults so far, from <c>/proc/PROCESS/stat</c>.</summary>
    internal readonly record struct ProcessCounters(TimeSpan User, TimeSpan System, long MinorFaults)
    {
        public TimeSpan Total => User + System;

        public static ProcessCounters operator -(ProcessCounters a, ProcessCounters b) =>
            new(a.User - b.User, a.System - b.System, a.MinorFaults - b.MinorFaults);
    }

    /// <summary>
    /// The counters of <paramref name="process"/> (a PID or <c>self</c>), null where unreadable. Another process's CPU times
    /// come in clock ticks of 10 ms; minor faults are first touches of pages (fresh heap memory among them), each a trip
    /// through the kernel.
    /// </summary>
    private static ProcessCounters? ReadCounters(string process)
    {
        try
        {
            // minflt is field 10, utime 14, stime 15. This process's own CPU times come from the runtime, finer than ticks.
            var fields = StatFields(process);
            static TimeSpan Ticks(string f) => TimeSpan.FromSeconds(long.Parse(f, CultureInfo.InvariantCulture) / 100.0);
            var faults = long.Parse(fields[10 - 3], CultureInfo.InvariantCulture);
            if (process != "self")
            {
                return new ProcessCounters(Ticks(fields[14 - 3]), Ticks(fields[15 - 3]), faults);
            }

            var usage = Environment.CpuUsage; // one reading, so user and system time are of the same moment
            return new ProcessCounters(usage.UserTime, usage.PrivilegedTime, faults);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or IndexOutOfRangeException or FormatException)
        {
            return null;
        }
    }

    /// <summary>
    /// The allocation budget asked of the no-GC region: a rough budget per streamed chunk (SSE parse, JsonDocument, update
    /// objects), generously rounded up, within what the runtime grants.
    /// </summary>
    private static long NoGcBudget(int concurrency, int rounds, int tokens) =>
        Math.Clamp((long)concurrency * rounds * (tokens + 8) * 16 * 1024, 16L << 20, 240L << 20);

    /// <summary>Asks the GC to stay out of the measured window; false when the runtime refuses that much.</summary>
    private static bool TryStartNoGcRegion(int concurrency, int rounds, int tokens)
    {
        for (var size = NoGcBudget(concurrency, rounds, tokens); size >= 16L << 20; size /= 2)
        {
            try
            {
                if (GC.TryStartNoGCRegion(size))
                {
                    return true;
                }
            }
            catch (ArgumentOutOfRangeException)
            {
            }
            catch (InvalidOperationException)
            {
                return false;
            }
        }

        return false;
    }
}

/// <summary>The selftest result as one JSON object (<c>--json</c>).</summary>
public sealed record SelfTestReport(string Definition, double TtftMs, double ItlMs, int Tokens, int Rounds, int Cores, string Conditions, IReadOnlyList<SelfTestCommand.LevelResult> Levels);

[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = true,
    NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals)]
[System.Text.Json.Serialization.JsonSerializable(typeof(SelfTestReport))]
internal sealed partial class SelfTestJson : System.Text.Json.Serialization.JsonSerializerContext;
