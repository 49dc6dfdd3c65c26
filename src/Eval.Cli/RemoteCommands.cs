using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using Spark.Eval.Core;
using Spark.Eval.Core.Backends;
using Spark.Eval.Simulator.Server;

namespace Spark.Eval.Cli;

/// <summary>The remote-API area's commands: <c>serve-sim</c> (OpenAI-compatible server), <c>selftest</c> and <c>sse-bench</c>.</summary>
public static class RemoteCommands
{
    public static IEnumerable<Command> Create(TextWriter stdout, TextWriter stderr) =>
        [CreateServeSim(stdout, stderr)];

    private static readonly Option<int> Port = new("--port", "-p") { Description = "TCP port to listen on; 0 picks a free one (printed on stdout). Default 8000.", DefaultValueFactory = _ => 8000 };
    private static readonly Option<string> Host = new("--host") { Description = "Address to bind. Default 127.0.0.1 (loopback only).", DefaultValueFactory = _ => "127.0.0.1" };
    private static readonly Option<string> Backend = new("--backend", "-b") { Description = "Backend spec to host (see 'spark-eval run --help'). Default: sim (constant rate).", DefaultValueFactory = _ => "sim" };
    private static readonly Option<string> Model = new("--model") { Description = "Model id reported by /v1/models. Default: the backend's name." };
    private static readonly Option<double> FaultRate = new("--fault-rate") { Description = "Probability in [0, 1] that a request without an x-spark-fault header gets one of --faults. Default 0." };
    private static readonly Option<string?> Faults = new("--faults") { Description = "Comma-separated faults drawn by --fault-rate: 429, 503, 500, slow_headers, wrong_content_type, disconnect, stall, malformed, early_end; settings as kind;after=N;ms=N;retry_after=S." };
    private static readonly Option<int> FaultSeed = new("--fault-seed") { Description = "Seed of the fault draws. Default 42.", DefaultValueFactory = _ => 42 };
    private static readonly Option<string?> LogPath = new("--log") { Description = "Append one JSON line per request (server-side flush times) to this file; GET /v1/_spark/log serves the same." };
    private static readonly Option<string?> KeyEnv = new("--api-key-env") { Description = "Name of an environment variable holding the key clients must send (Bearer); default: no key needed." };

    private static Command CreateServeSim(TextWriter stdout, TextWriter stderr)
    {
        var command = new Command("serve-sim", "Serve a backend over an OpenAI-compatible API (/v1/models, /v1/chat/completions, /v1/responses) with fault injection and a server-side flush log.")
        {
            Port, Host, Backend, Model, FaultRate, Faults, FaultSeed, LogPath, KeyEnv,
        };
        command.SetAction((parse, ct) => ServeAsync(parse, stdout, stderr, ct));
        return command;
    }

    /// <summary>Parses a comma-separated fault list (--faults).</summary>
    internal static IReadOnlyList<FaultSpec> ParseFaults(string? text) =>
        string.IsNullOrWhiteSpace(text) ? [] : text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(f => FaultSpec.Parse(f, "--faults")).ToArray();

    private static async Task<int> ServeAsync(ParseResult parse, TextWriter stdout, TextWriter stderr, CancellationToken ct)
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
        var registry = Backends.CreateRegistry();
        await using var backend = await registry.CreateAsync(parse.GetValue(Backend)!, new BackendContext(time, Environment.CurrentDirectory, line => stderr.WriteLine(line)), ct);
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
        }, time, ct);
        await stdout.WriteLineAsync($"serve-sim listening on {server.BaseAddress} (backend: {backend.Info.Description})");
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
