using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using Spark.Eval.Core;
using Spark.Eval.Core.Backends;
using Spark.Eval.Diagnostics;
using Spark.Eval.Simulator.Server;

namespace Spark.Eval.Cli.Commands;

/// <summary><c>spark-eval serve-sim</c>: serves a backend over an OpenAI-compatible API; <c>serve-local</c> (ServeLocalCommand.cs) shares its server wiring.</summary>
public static class ServeSimCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr) =>
        CreateServe("serve-sim", "Serve a backend over an OpenAI-compatible API (/v1/models, /v1/chat/completions, /v1/responses) with fault injection and a server-side flush log.", Backend, stdout, stderr, tunedRuntime: true);

    private static readonly Option<int> Port = new("--port", "-p") { Description = "TCP port to listen on; 0 picks a free one (printed on stdout).", DefaultValueFactory = _ => 8000 };
    private static readonly Option<string> Host = new("--host") { Description = "Address to bind; keep it on loopback (127.0.0.1) unless you mean to serve other machines.", DefaultValueFactory = _ => "127.0.0.1" };
    private static readonly Option<string> Backend = new("--backend", "-b") { Description = "Backend spec to host (see 'spark-eval run --help'); sim is a constant-rate simulator.", DefaultValueFactory = _ => "sim" };
    private static readonly Option<string> Model = new("--model") { Description = "Model id reported by /v1/models. Default: the backend's name." };
    private static readonly Option<double> FaultRate = new("--fault-rate") { Description = "Probability in [0, 1] that a request without an x-spark-fault header gets one of --faults. Default 0." };
    private static readonly Option<string?> Faults = new("--faults") { Description = "Comma-separated faults drawn by --fault-rate: 429, 503, 500, slow_headers, wrong_content_type, disconnect, stall, malformed, early_end; settings as kind;after=N;ms=N;retry_after=S." };
    private static readonly Option<int> FaultSeed = new("--fault-seed") { Description = "Seed of the fault draws.", DefaultValueFactory = _ => 42 };
    private static readonly Option<string?> LogPath = new("--log") { Description = "Append one JSON line per request (server-side flush times) to this file; GET /v1/_spark/log serves the same." };
    private static readonly Option<string?> KeyEnv = new("--api-key-env") { Description = "Name of an environment variable holding the key clients must send (Bearer); default: no key needed." };
    private static readonly Option<bool> NoEmissionClock = new("--no-emission-clock") { Description = "Let the hosted backend pace with the system timer (thread pool) instead of serve-sim's emission clock (a dedicated real-time timer thread that writes each chunk at its due time)." };
    private static readonly Option<double> SpinUs = new("--spin-us") { Description = "Emission clock: spin this many µs before each due time instead of sleeping (a real-time timer thread wakes within tens of µs anyway; a long spin at 64 streams keeps both cores of a small machine busy).", DefaultValueFactory = _ => DefaultSpinUs };
    private static readonly Option<int> Nice = new("--nice") { Description = "--runtime tuned: the child's nice value, −20..19; below 0 it gets the CPU before the builds and the client beside it (needs root or CAP_SYS_NICE; otherwise it runs at the caller's priority and its start line says so).", DefaultValueFactory = _ => -10 };
    private static readonly Option<bool> NoWarmup = new("--no-warmup") { Description = "Do not serve a few short requests to itself before listening (a simulated backend is otherwise warmed up, so the first client's requests do not pay for compiling the request path)." };

    /// <summary>The emission clock's default spin window, µs.</summary>
    internal const double DefaultSpinUs = 20;
    private static readonly Option<int> RtPriority = new("--rt-priority") { Description = "Emission clock: SCHED_FIFO priority of its timer thread (1-99; needs root or CAP_SYS_NICE, else it runs at normal priority and says so); 0 = normal priority.", DefaultValueFactory = _ => 30 };
    private static readonly Option<int> ClockThreads = new("--clock-threads") { Description = "Emission clock: timer threads; each request's chunks stay on one, requests are spread round-robin.", DefaultValueFactory = _ => 2 };
    private static readonly Option<int> PrefaultMb = new("--prefault-mb") { Description = "Before listening, allocate and collect this many MB of managed memory, so that later allocations land on pages already mapped instead of paying a page fault per fresh page (benchmarks that keep the GC out of a window; selftest passes its gen0 budget).", DefaultValueFactory = _ => 0 };
    private static readonly Option<bool> Http2 = new("--http2") { Description = "Speak HTTP/2 only (h2c with prior knowledge, e.g. the openai backend's http_version=2) instead of HTTP/1.1." };

    internal static Command CreateServe(string name, string description, Option<string> backend, TextWriter stdout, TextWriter stderr, bool tunedRuntime = false)
    {
        var runtime = new Option<string>("--runtime")
        {
            Description = $"tuned: start itself again as a child process under {TunedRuntime.Describe()} (full JIT, workstation GC with a {TunedRuntime.Gen0Mb} MB gen0 budget, inline socket completions; docs/remote.md); plain: run under the runtime's settings as launched.",
            DefaultValueFactory = _ => tunedRuntime ? "tuned" : "plain",
        };
        var command = new Command(name, description)
        {
            Port, Host, backend, Model, FaultRate, Faults, FaultSeed, LogPath, KeyEnv, NoEmissionClock, SpinUs, RtPriority, ClockThreads, Http2, PrefaultMb, runtime, Nice, NoWarmup,
        };
        command.SetAction((parse, ct) => ServeAsync(parse, backend, runtime, stdout, stderr, ct));
        return command;
    }

    /// <summary>Concurrent streams of serve-sim's warm-up (two rounds, then one whole response and one Responses stream).</summary>
    private const int WarmUpStreams = 8;

    /// <summary>Parses a comma-separated fault list (--faults).</summary>
    internal static IReadOnlyList<FaultSpec> ParseFaults(string? text) =>
        string.IsNullOrWhiteSpace(text) ? [] : text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(f => FaultSpec.Parse(f, "--faults")).ToArray();

    private static async Task<int> ServeAsync(ParseResult parse, Option<string> backendOption, Option<string> runtimeOption, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        var time = TimeProvider.System;
        var port = parse.GetValue(Port);
        if (port is < 0 or > 65535)
        {
            throw new InputException($"--port {port.ToString(CultureInfo.InvariantCulture)} is not a TCP port. Fix: give 0..65535 (0 picks a free one)");
        }

        string? key = null;
        if (parse.GetValue(KeyEnv) is { } keyEnv)
        {
            key = Environment.GetEnvironmentVariable(keyEnv);
            if (string.IsNullOrEmpty(key))
            {
                throw new InputException($"--api-key-env {keyEnv}: the variable is not set. Fix: export {keyEnv}=… or drop --api-key-env");
            }
        }

        var faults = new FaultInjector(parse.GetValue(FaultRate), ParseFaults(parse.GetValue(Faults)), parse.GetValue(FaultSeed));
        var spinUs = parse.GetValue(SpinUs);
        var priority = parse.GetValue(RtPriority);
        var threads = parse.GetValue(ClockThreads);
        var prefaultMb = parse.GetValue(PrefaultMb);
        if (spinUs is < 0 or > 100_000 || priority is < 0 or > 99 || threads is < 1 or > 64 || prefaultMb is < 0 or > 65_536)
        {
            throw new InputException("serve-sim: --spin-us must be in 0..100000, --rt-priority in 0..99, --clock-threads in 1..64 and --prefault-mb in 0..65536. Fix: adjust the values");
        }

        if (parse.GetValue(Http2) && !parse.GetValue(NoEmissionClock) && priority > 0)
        {
            throw new InputException(SelfTestCommand.Http2RealTimeConflict("serve-sim", priority));
        }

        var tuned = parse.GetValue(runtimeOption) switch
        {
            "tuned" => true,
            "plain" => false,
            var v => throw new InputException($"serve-sim: --runtime {v} is not a runtime mode. Fix: write --runtime tuned or --runtime plain"),
        };
        if (tuned && !TunedRuntime.Applied && TunedRuntime.CanRelaunch(typeof(ServeSimCommand).Assembly))
        {
            // Startup settings of the runtime: only a new process gets them (the child prints the listening line).
            var nice = parse.GetValue(Nice);
            if (nice is < -20 or > 19)
            {
                throw new InputException($"serve-sim: --nice {nice.ToString(CultureInfo.InvariantCulture)} is not a nice value. Fix: give -20..19 (0 leaves the priority as it is)");
            }

            return await TunedRuntime.RunChildAsync(typeof(ServeSimCommand).Assembly.Location, parse.Tokens.Select(t => t.Value), nice, ct);
        }

        TunedRuntime.BindToParent();

        using var emission = parse.GetValue(NoEmissionClock) ? null
            : new EmissionClock(new EmissionClockOptions { Spin = TimeSpan.FromMicroseconds(spinUs), RealTimePriority = priority, Threads = threads });
        var registry = Backends.CreateRegistry();
        await using var backend = await registry.CreateAsync(parse.GetValue(backendOption)!, new BackendContext((TimeProvider?)emission ?? time, Environment.CurrentDirectory, line => stderr.WriteLine(line)), ct);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        void Stop(PosixSignalContext context)
        {
            context.Cancel = true;
            stop.Cancel();
        }

        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        await using var server = await SimServer.StartAsync(backend.Client, new SimServerOptions
        {
            Host = parse.GetValue(Host)!,
            Port = port,
            ModelId = parse.GetValue(Model) ?? backend.Info.Name,
            Faults = faults,
            LogPath = parse.GetValue(LogPath),
            ApiKey = key,
            Emission = emission,
            // Sends inline on the flushing thread, so the logged flush time is when the bytes left (handed to an I/O thread, a
            // chunk left up to milliseconds after its logged flush at 256 streams). Only for simulated backends: a local model's
            // CPU-bound generation must not run on, and hold up, the socket threads.
            InlineScheduling = emission is not null || backend.Info.Simulated,
            Http2 = parse.GetValue(Http2),
            Simulated = backend.Info.Simulated,
            Report = line => stderr.WriteLine(line),
            // With the emission clock (real-time schedules): a collection inside a client's run stops the timer threads.
            CollectWhenIdleAfterBytes = emission is not null ? 16L << 20 : 0,
        }, time, ct);
        // Only a simulated backend: a local model's warm-up would be real generation.
        var warm = !parse.GetValue(NoWarmup) && backend.Info.Simulated;
        if (warm)
        {
            await server.WarmUpAsync(WarmUpStreams, ct);
        }

        if (prefaultMb > 0)
        {
            HeapPrefault.Touch(prefaultMb * (1L << 20));
        }

        var runtimeLine = (TunedRuntime.Applied ? "tuned (" + TunedRuntime.Describe() + ")" : "as launched") + ", " + TunedRuntime.DescribePriority();
        await stdout.WriteLineAsync($"serve-sim listening on {server.BaseAddress} (backend: {backend.Info.Description}; {(parse.GetValue(Http2) ? "HTTP/2 h2c" : "HTTP/1.1")}; emission clock: {emission?.Description ?? "off, the backend paces with the system timer"}; {server.ArrivalDescription}; runtime: {runtimeLine}; {(warm ? $"warmed up with {WarmUpStreams} concurrent streams" : "no warm-up")}; lateness report on stderr when idle and at exit, and at GET /v1/_spark/lateness)");
        await stdout.FlushAsync(ct);
        try
        {
            await Task.Delay(Timeout.Infinite, stop.Token);
        }
        catch (OperationCanceledException)
        {
        }

        await stderr.WriteLineAsync("serve-sim stopped");
        return ct.IsCancellationRequested ? SparkEvalCli.ExitInterrupted : SparkEvalCli.ExitOk;
    }
}
