using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.WebSockets;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Spark.Eval.Core;
using Spark.Eval.Core.Backends;

namespace Spark.Eval.Simulator.Server;

/// <summary>Settings of serve-sim: where it listens, which faults it injects, where it logs and what key it expects.</summary>
public sealed record SimServerOptions
{
    /// <summary>Address to bind: loopback unless told otherwise.</summary>
    public string Host { get; init; } = "127.0.0.1";

    /// <summary>Port to bind; 0 picks a free one (see <see cref="SimServer.BaseAddress"/>).</summary>
    public int Port { get; init; } = 8000;

    /// <summary>The model id reported by /v1/models and in responses.</summary>
    public string ModelId { get; init; } = "sim";

    public FaultInjector Faults { get; init; } = FaultInjector.HeaderOnly;

    /// <summary>A JSONL file that receives one line per request, besides the in-memory log.</summary>
    public string? LogPath { get; init; }

    /// <summary>When set, requests must carry <c>Authorization: Bearer &lt;key&gt;</c>; others get 401.</summary>
    public string? ApiKey { get; init; }

    /// <summary>
    /// The emission scheduler the hosted backend paces with (pass the same instance to the backend as its clock); when set,
    /// each chunk's due time is logged beside its flush time (<c>due_ns</c>). Null: the backend paces on its own clock.
    /// </summary>
    public EmissionClock? Emission { get; init; }

    /// <summary>
    /// Run socket continuations inline (Kestrel's UnsafePreferInlineScheduling): a flush then sends on the thread that
    /// flushed (the emission clock's, or the backend's) instead of handing the bytes to an I/O thread, so the logged flush time is the send time.
    /// </summary>
    public bool InlineScheduling { get; init; }

    /// <summary>Speak HTTP/2 only on the cleartext endpoint (h2c with prior knowledge); default HTTP/1.1.</summary>
    public bool Http2 { get; init; }

    /// <summary>Largest request body (and WebSocket message) accepted; a larger one is answered 413 (default 16 MiB).</summary>
    public long MaxRequestBodyBytes { get; init; } = 16 * 1024 * 1024;

    /// <summary>
    /// True when the hosted backend's timings are modelled: every response then carries <see cref="SimServer.SimulatedHeader"/>,
    /// so a client's records stay labelled simulated (an <c>openai</c> backend pointed at serve-sim is not a measurement).
    /// </summary>
    public bool Simulated { get; init; }

    /// <summary>
    /// Receives serve-sim's lateness report (<see cref="EmissionLateness"/>): one line when it goes idle after serving requests
    /// (none in flight for <see cref="ReportAfterIdle"/>: the end of a client's run) and one for the whole session at shutdown.
    /// Null: no lines (the figures stay at <c>GET /v1/_spark/lateness</c>).
    /// </summary>
    public Action<string>? Report { get; init; }

    /// <summary>How long serve-sim must be idle after a burst of requests before it prints that burst's lateness.</summary>
    public TimeSpan ReportAfterIdle { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Collect garbage while idle (none in flight for <see cref="ReportAfterIdle"/>) once this many bytes were allocated since
    /// serve-sim's last idle collection, so that a client's next run starts with the whole allocation budget; 0: never. A
    /// collection stops serve-sim's timer threads; its effect on the tail is not shown (docs/benchmarks.md, "Round 7", item 5).
    /// </summary>
    public long CollectWhenIdleAfterBytes { get; init; }

    /// <summary>
    /// Start each HTTP/1.1 request's schedule at the kernel's arrival of its first bytes (<see cref="RequestArrivals"/>)
    /// rather than at its handler's start, which in a burst comes later (Linux, system clock; elsewhere the handler's start).
    /// The log keeps both: <c>received_ns</c> (the arrival the schedule starts from) and <c>handler_ns</c>.
    /// </summary>
    public bool KernelArrivals { get; init; } = true;
}

/// <summary>
/// serve-sim: an OpenAI-compatible HTTP server on Kestrel that hosts any <see cref="IChatClient"/>, injects faults on
/// demand and logs when each event was flushed. Endpoints: <c>GET /v1/models</c>, <c>POST /v1/chat/completions</c>,
/// <c>POST /v1/responses</c>, <c>GET /v1/_spark/log</c>.
/// </summary>
public sealed class SimServer : IAsyncDisposable
{
    /// <summary>Response header that says the answer's timings are modelled (see <see cref="SimServerOptions.Simulated"/>).</summary>
    public const string SimulatedHeader = "x-spark-eval-simulated";

    private static readonly byte[] DataPrefix = "data: "u8.ToArray();
    private static readonly byte[] EventPrefix = "event: "u8.ToArray();
    private static readonly byte[] EventEnd = "\n\n"u8.ToArray();
    private static readonly byte[] DoneLine = "data: [DONE]\n\n"u8.ToArray();

    private readonly WebApplication _app;
    private readonly IChatClient _backend;
    private readonly SimServerOptions _options;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, List<ChatMessage>> _conversations = new(StringComparer.Ordinal);
    private long _nextId;
    private long _lastFinished;
    private CancellationTokenSource? _reporterStop;
    private Task? _reporter;

    private RequestArrivals? _arrivals;

    private SimServer(WebApplication app, IChatClient backend, SimServerOptions options, TimeProvider time)
    {
        _app = app;
        _backend = backend;
        _options = options;
        _time = time;
        Log = new ServerLogStore(options.LogPath, lateness: Lateness);
    }

    /// <summary>The base URL clients use, ending in <c>/v1/</c>.</summary>
    public Uri BaseAddress { get; private set; } = new("http://127.0.0.1/v1/");

    public ServerLogStore Log { get; }

    /// <summary>Where each request's schedule starts: the kernel's arrival of its bytes (and how that is read) or its handler's start.</summary>
    public string ArrivalDescription => _arrivals is { } a
        ? $"schedules start at the kernel's arrival of each request (peeked by one thread, {a.Scheduling})"
        : "schedules start at each request's handler";

    /// <summary>How late serve-sim's scheduled writes went out: since start and since the last report (docs/simulator.md, "Lateness").</summary>
    public EmissionLateness Lateness { get; } = new();

    /// <summary>Starts listening; returns once the port is bound.</summary>
    public static async Task<SimServer> StartAsync(IChatClient backend, SimServerOptions options, TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        var address = options.Host == "localhost" ? IPAddress.Loopback
            : IPAddress.TryParse(options.Host, out var parsed) ? parsed
            : throw new InputException($"--host '{options.Host}' is not an IP address. Fix: use 127.0.0.1 (default), ::1 or 0.0.0.0");
        // Kernel arrival stamps are CLOCK_MONOTONIC ticks: only for a clock that reads the system's (not a fake one).
        var arrivals = options.KernelArrivals && !options.Http2 && (time.GetType() == TimeProvider.System.GetType() || time is EmissionClock)
            ? RequestArrivals.TryStart() : null;
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = "serve-sim" });
        builder.WebHost.UseKestrelCore().ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            // A stalled stream is a fault we inject on purpose; Kestrel must not cut it short.
            k.Limits.MinResponseDataRate = null;
            k.Limits.MaxConcurrentConnections = null;
            k.Limits.MaxRequestBodySize = options.MaxRequestBodyBytes;
            k.Listen(address, options.Port, listen =>
            {
                listen.Protocols = options.Http2 ? HttpProtocols.Http2 : HttpProtocols.Http1;
                if (arrivals is not null)
                {
                    // Each accepted connection is watched before Kestrel's first read of it; its requests' handlers find it in their features.
                    listen.Use(next => async connection =>
                    {
                        var watched = connection.Features.Get<IConnectionSocketFeature>()?.Socket is { } socket ? arrivals.Watch(socket) : null;
                        if (watched is not null)
                        {
                            connection.Features.Set(watched);
                        }

                        try
                        {
                            await next(connection);
                        }
                        finally
                        {
                            watched?.Forget();
                        }
                    });
                }
            });
        });
        if (options.InlineScheduling)
        {
            builder.WebHost.UseSockets(s => s.UnsafePreferInlineScheduling = true);
        }

        builder.Services.AddRoutingCore();
        builder.Services.AddWebSockets(_ => { });
        var app = builder.Build();
        var server = new SimServer(app, backend, options, time) { _arrivals = arrivals };
        if (arrivals is not null)
        {
            // Every request on a watched connection (GET /v1/models too) takes the stamp peeked for it and, when it ends, marks
            // what was peeked meanwhile as its own, so the next request never starts from an older request's arrival.
            app.Use(async (context, next) =>
            {
                var connection = context.Features.Get<RequestArrivals.Connection>();
                if (connection is null)
                {
                    await next(context);
                    return;
                }

                context.Features.Set(new RequestArrivals.Arrival(connection.Take(time.GetTimestamp())));
                try
                {
                    await next(context);
                }
                finally
                {
                    connection.Done(time.GetTimestamp());
                }
            });
        }

        app.MapGet("/v1/models", server.ModelsAsync);
        app.MapPost("/v1/chat/completions", ctx => server.HandleAsync(ctx, ApiKind.Chat));
        app.UseWebSockets();
        app.MapPost("/v1/responses", ctx => server.HandleAsync(ctx, ApiKind.Responses));
        app.MapGet("/v1/responses", server.WebSocketAsync);
        app.MapGet("/v1/_spark/log", server.LogAsync);
        app.MapGet("/v1/_spark/clock", server.ClockAsync);
        app.MapGet("/v1/_spark/lateness", server.LatenessAsync);
        try
        {
            await app.StartAsync(cancellationToken);
        }
        catch (IOException ex)
        {
            throw new InputException($"serve-sim could not bind {options.Host}:{options.Port.ToString(CultureInfo.InvariantCulture)}: {ex.Message}. Fix: choose a free --port (0 picks one)");
        }

        var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault()
            ?? throw new InvalidOperationException("Kestrel reported no address");
        server.BaseAddress = new Uri(bound.TrimEnd('/') + "/v1/");
        if (options.Report is not null || options.CollectWhenIdleAfterBytes > 0)
        {
            server._reporterStop = new CancellationTokenSource();
            server._reporter = server.ReportWhenIdleAsync(server._reporterStop.Token);
        }

        return server;
    }

    /// <summary>
    /// Serves a few short requests to itself over loopback (concurrent streams on both APIs, a whole response), so that the
    /// code of the request path is compiled, the connections' buffers and the backend's tokenizer are in place before the
    /// first client's request; then forgets them (log and lateness). With tiering off (serve-sim's tuned runtime) the first
    /// request would otherwise compile everything inside a client's measured window.
    /// </summary>
    public async Task WarmUpAsync(int streams, CancellationToken cancellationToken)
    {
        using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false, PooledConnectionLifetime = TimeSpan.Zero })
        {
            BaseAddress = BaseAddress,
            DefaultRequestVersion = _options.Http2 ? HttpVersion.Version20 : HttpVersion.Version11,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Timeout = TimeSpan.FromSeconds(60),
        };
        async Task OneAsync(string path, string body)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(path, UriKind.Relative))
            {
                Content = new StringContent(body, Encoding.UTF8, "application/json"),
                Version = http.DefaultRequestVersion,
                VersionPolicy = http.DefaultVersionPolicy,
            };
            request.Headers.TryAddWithoutValidation(FaultInjector.HeaderName, "none");
            if (_options.ApiKey is { } key)
            {
                request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + key);
            }

            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
            await stream.CopyToAsync(Stream.Null, cancellationToken);
        }

        var model = JsonSerializer.Serialize(_options.ModelId, ServerJson.Default.String);
        var chat = $"{{\"model\":{model},\"messages\":[{{\"role\":\"user\",\"content\":\"serve-sim warm-up\"}}],\"max_tokens\":4,\"stream\":true,\"stream_options\":{{\"include_usage\":true}}}}";
        // Requests shaped like a harness's: a system and a user message of code with escapes, quotes and non-ASCII text (their
        // JSON unescaping, the answers' escaping), a temperature, a distinct prompt per stream long enough to be counted and
        // remembered, each asked twice (made, then from the cache). Code first met in a client's burst was compiled inside
        // it: ~4 ms of the JIT on the request path of a burst of 132 (docs/benchmarks.md, "Round 7").
        string Realistic(int i) => $"{{\"model\":{model},\"messages\":[{{\"role\":\"system\",\"content\":\"You are a coding assistant. Reply with one code block.\"}},"
            + $"{{\"role\":\"user\",\"content\":\"Warm-up {i}: write `f(x: str) -> bool` that returns True when \\\"x\\\" matches ^[a-z]+$ (<, >, & and + stay as they are; caf\\u00e9, \u00fc).\\nUse a regular expression.\\tThanks!\"}}],"
            + "\"temperature\":0.2,\"max_tokens\":24,\"stream\":true,\"stream_options\":{\"include_usage\":true}}";
        for (var round = 0; round < 2; round++)
        {
            await Task.WhenAll(Enumerable.Range(0, Math.Max(1, streams)).Select(_ => OneAsync("chat/completions", chat)));
            await Task.WhenAll(Enumerable.Range(0, Math.Max(1, streams)).Select(i => OneAsync("chat/completions", Realistic(i))));
        }

        await OneAsync("chat/completions", chat.Replace("\"stream\":true", "\"stream\":false", StringComparison.Ordinal));
        await OneAsync("responses", $"{{\"model\":{model},\"input\":\"serve-sim warm-up\",\"max_output_tokens\":4,\"stream\":true}}");
        Log.Clear();
        Lateness.Reset();
        Interlocked.Exchange(ref _nextId, 0);
    }

    /// <summary>Collections serve-sim made while idle (<see cref="SimServerOptions.CollectWhenIdleAfterBytes"/>).</summary>
    public int IdleCollections { get; private set; }

    /// <summary>Prints the lateness of each burst of requests once serve-sim has been idle after it, and collects garbage then.</summary>
    private async Task ReportWhenIdleAsync(CancellationToken cancellationToken)
    {
        using var tick = new PeriodicTimer(TimeSpan.FromMilliseconds(250), _time);
        // Counted from serve-sim's own last idle collection (one the runtime made meanwhile does not reset it: a spare
        // collection while idle costs nothing a client waits for).
        var allocatedAtCollection = GC.GetTotalAllocatedBytes();
        try
        {
            while (await tick.WaitForNextTickAsync(cancellationToken))
            {
                var idle = Lateness.InFlight == 0 && _time.GetElapsedTime(Interlocked.Read(ref _lastFinished)) >= _options.ReportAfterIdle;
                if (idle && Lateness.PeekWindow() is not null && Lateness.TakeWindow() is { } burst)
                {
                    _options.Report?.Invoke("serve-sim lateness, requests since the last report: " + burst.Describe());
                }

                if (idle && _options.CollectWhenIdleAfterBytes > 0 && GC.GetTotalAllocatedBytes() - allocatedAtCollection >= _options.CollectWhenIdleAfterBytes)
                {
                    var pausedBefore = GC.GetTotalPauseDuration();
                    GC.Collect(1, GCCollectionMode.Forced, blocking: true);
                    IdleCollections++;
                    _options.Report?.Invoke(string.Create(CultureInfo.InvariantCulture,
                        $"serve-sim collected garbage while idle ({(GC.GetTotalAllocatedBytes() - allocatedAtCollection) / 1048576.0:0} MB allocated since the last collection; paused {(GC.GetTotalPauseDuration() - pausedBefore).TotalMilliseconds:0.0} ms, between requests)"));
                    allocatedAtCollection = GC.GetTotalAllocatedBytes();
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    public Task WaitForShutdownAsync(CancellationToken cancellationToken) => _app.WaitForShutdownAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        if (_reporterStop is not null)
        {
            await _reporterStop.CancelAsync();
            await _reporter!;
            _reporterStop.Dispose();
            var total = Lateness.Total();
            if (total.Requests > 0)
            {
                _options.Report?.Invoke("serve-sim lateness, whole session: " + total.Describe());
            }
        }

        await _app.StopAsync(CancellationToken.None);
        await _app.DisposeAsync();
        _arrivals?.Dispose();
        Log.Dispose();
    }

    private enum ApiKind
    {
        Chat,
        Responses,
    }

    private long NowNs() => ServerLogStore.ToNanoseconds(_time.GetTimestamp(), _time.TimestampFrequency);

    /// <summary>The due time (ns) of the emission-clock timer that released the chunk being logged, or null when none did.</summary>
    private long? TakeDueNs()
    {
        if (_options.Emission is not { } clock || EmissionClock.Slot is not { } slot)
        {
            return null;
        }

        var due = slot.Take();
        return due < 0 ? null : ServerLogStore.ToNanoseconds(due, clock.TimestampFrequency);
    }

    private async Task ModelsAsync(HttpContext context)
    {
        context.Response.ContentType = "application/json";
        var json = string.Create(CultureInfo.InvariantCulture,
            $"{{\"object\":\"list\",\"data\":[{{\"id\":{JsonSerializer.Serialize(_options.ModelId, ServerJson.Default.String)},\"object\":\"model\",\"created\":0,\"owned_by\":\"spark-eval\"}}]}}");
        await context.Response.WriteAsync(json, context.RequestAborted);
    }

    /// <summary>The emission clock's counters: callbacks run, mean and longest time one held the timer thread (µs), and how it runs.</summary>
    private async Task ClockAsync(HttpContext context)
    {
        context.Response.ContentType = "application/json";
        var clock = _options.Emission;
        var json = clock is null ? "{\"emission_clock\":null}" : string.Create(CultureInfo.InvariantCulture,
            $"{{\"emission_clock\":{JsonSerializer.Serialize(clock.Description, ServerJson.Default.String)},\"real_time\":{(clock.RealTime ? "true" : "false")},\"fired\":{clock.Fired},\"mean_callback_us\":{clock.MeanCallbackMicroseconds:0.0},\"mean_callback_bytes\":{clock.MeanCallbackBytes:0},\"max_callback_us\":{clock.MaxCallbackMicroseconds:0.0},\"gc_collections\":{GC.CollectionCount(0)},\"gc_pause_ms\":{GC.GetTotalPauseDuration().TotalMilliseconds:0.0},\"gc_allocated_mb\":{GC.GetTotalAllocatedBytes() / 1048576.0:0.0},\"gc_gen1\":{GC.CollectionCount(1)},\"gc_gen2\":{GC.CollectionCount(2)},\"idle_collections\":{IdleCollections}}}");
        await context.Response.WriteAsync(json, context.RequestAborted);
    }

    /// <summary>serve-sim's own lateness (<see cref="EmissionLateness"/>) as one JSON object.</summary>
    private async Task LatenessAsync(HttpContext context)
    {
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(JsonSerializer.Serialize(Lateness.Snapshot(), LatenessJsonContext.Default.LatenessSnapshot), context.RequestAborted);
    }

    private async Task LogAsync(HttpContext context)
    {
        var id = context.Request.Query["request_id"].FirstOrDefault();
        var entries = Log.Find(id);
        if (context.Request.Query["clear"].FirstOrDefault() == "1")
        {
            Log.Clear();
        }

        context.Response.ContentType = "application/x-ndjson";
        var text = new StringBuilder();
        foreach (var entry in entries)
        {
            text.Append(ServerLogStore.ToJsonLine(entry)).Append('\n');
        }

        await context.Response.WriteAsync(text.ToString(), context.RequestAborted);
    }

    /// <summary>A parsed request: messages, stream flags and limits.</summary>
    private sealed record ParsedRequest(List<ChatMessage> Messages, bool Stream, bool IncludeUsage, int? MaxTokens, float? Temperature, string Model, string? PreviousResponseId);

#pragma warning disable CA1031 // A request that fails is answered with an error status and logged; the server goes on.
    private async Task HandleAsync(HttpContext context, ApiKind api)
    {
        var handlerStart = _time.GetTimestamp();
        // The kernel's arrival of the request where serve-sim watches its connection (RequestArrivals), else the handler's start.
        var kernelArrival = _arrivals is null ? null : context.Features.Get<RequestArrivals.Arrival>()?.Kernel;
        var arrival = kernelArrival ?? handlerStart;
        var entry = new ServerRequestLog
        {
            RequestId = Interlocked.Increment(ref _nextId).ToString("x8", CultureInfo.InvariantCulture),
            Path = context.Request.Path,
            ArrivalTimestamp = arrival,
            ReceivedNs = ServerLogStore.ToNanoseconds(arrival, _time.TimestampFrequency),
            HandlerNs = kernelArrival is null ? null : ServerLogStore.ToNanoseconds(handlerStart, _time.TimestampFrequency),
            Protocol = context.Request.Protocol,
        };
        if (_options.InlineScheduling)
        {
            // Kestrel runs an inline-scheduled handler on the socket thread that read its request: the work before its first
            // wait (parsing, an uncached prompt's answer) would hold back every request read after it in a burst. On a pool
            // thread the socket thread reads on; the schedule still starts at the request's arrival.
            await Task.Yield();
        }

        using var slot = new EmissionSlot();
        EmissionClock.Slot = slot;
        Lateness.Started();
        context.Response.Headers["x-request-id"] = entry.RequestId;
        if (_options.Simulated)
        {
            context.Response.Headers[SimulatedHeader] = "true";
        }

        try
        {
            if (_options.ApiKey is { } key && context.Request.Headers.Authorization.ToString() != "Bearer " + key)
            {
                // Like real providers, the message echoes (part of) the key it got: clients must keep it out of their logs.
                await ErrorAsync(context, entry, 401, "invalid_api_key", $"Incorrect API key provided: {context.Request.Headers.Authorization.ToString().Replace("Bearer ", string.Empty, StringComparison.Ordinal)}.");
                return;
            }

            ParsedRequest request;
            FaultSpec fault;
            try
            {
                using var body = await JsonDocument.ParseAsync(context.Request.Body, default, context.RequestAborted);
                request = api == ApiKind.Chat ? ParseChat(body.RootElement) : ParseResponses(body.RootElement);
                fault = _options.Faults.Choose(context.Request.Headers[FaultInjector.HeaderName].FirstOrDefault());
            }
            catch (Microsoft.AspNetCore.Http.BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
            {
                await ErrorAsync(context, entry, 413, "request_too_large", string.Create(CultureInfo.InvariantCulture,
                    $"the request body is larger than {_options.MaxRequestBodyBytes} bytes, serve-sim's limit. Fix: send a smaller prompt"));
                return;
            }
            catch (Exception ex) when (ex is JsonException or InputException or InvalidOperationException or KeyNotFoundException)
            {
                await ErrorAsync(context, entry, 400, "invalid_request_error", ex.Message);
                return;
            }

            entry.Stream = request.Stream;
            entry.Fault = FaultSpec.CanonicalName(fault.Kind);
            if (await BeforeBodyFaultAsync(context, entry, fault))
            {
                return;
            }

            if (request.Stream)
            {
                await StreamAsync(context, entry, api, request, fault);
            }
            else
            {
                await CompleteAsync(context, entry, api, request, fault);
            }
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            entry.Events.Add(new ServerEvent(NowNs(), "client_aborted"));
        }
        catch (Exception ex)
        {
            entry.Events.Add(new ServerEvent(NowNs(), "server_exception:" + ex.GetType().Name));
            if (!context.Response.HasStarted)
            {
                context.Response.StatusCode = 500;
            }
            else
            {
                context.Abort();
            }
        }
        finally
        {
            entry.Status = context.Response.StatusCode;
            entry.EndNs = NowNs();
            Log.Add(entry);
            Interlocked.Exchange(ref _lastFinished, _time.GetTimestamp());
            Lateness.Finished();
        }
    }
#pragma warning restore CA1031

#pragma warning disable CA1031 // A bad message is answered with an error event; the connection goes on.
    /// <summary>
    /// Responses API WebSocket mode: one persistent connection; each text message <c>{"type":"response.create", …}</c>
    /// (fields as in the HTTP body, at the top level or under <c>response</c>) is answered with the same events as the SSE
    /// stream, one per message; <c>previous_response_id</c> continues a stored conversation with incremental input.
    /// </summary>
    private async Task WebSocketAsync(HttpContext context)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            context.Response.StatusCode = 400;
            await context.Response.WriteAsync("POST /v1/responses, or open a WebSocket here", context.RequestAborted);
            return;
        }

        if (_options.ApiKey is { } key && context.Request.Headers.Authorization.ToString() != "Bearer " + key)
        {
            context.Response.StatusCode = 401;
            return;
        }

        using var socket = await context.WebSockets.AcceptWebSocketAsync();
        var ct = context.RequestAborted;
        var buffer = new ArrayBufferWriter<byte>(8192);
        while (socket.State == WebSocketState.Open)
        {
            buffer.ResetWrittenCount();
            ValueWebSocketReceiveResult received;
            try
            {
                do
                {
                    received = await socket.ReceiveAsync(buffer.GetMemory(8192), ct);
                    buffer.Advance(received.Count);
                    if (buffer.WrittenCount > _options.MaxRequestBodyBytes)
                    {
                        await socket.CloseAsync(WebSocketCloseStatus.MessageTooBig, "message larger than serve-sim's request limit", CancellationToken.None);
                        return;
                    }
                }
                while (!received.EndOfMessage && received.MessageType != WebSocketMessageType.Close);
            }
            catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
            {
                return;
            }

            if (received.MessageType == WebSocketMessageType.Close)
            {
                await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
                return;
            }

            var arrival = _time.GetTimestamp();
            var entry = new ServerRequestLog
            {
                RequestId = Interlocked.Increment(ref _nextId).ToString("x8", CultureInfo.InvariantCulture),
                Path = "/v1/responses (websocket)",
                ArrivalTimestamp = arrival,
                ReceivedNs = ServerLogStore.ToNanoseconds(arrival, _time.TimestampFrequency),
                Stream = true,
                Protocol = context.Request.Protocol,
            };
            using var slot = new EmissionSlot();
            EmissionClock.Slot = slot;
            Lateness.Started();
            try
            {
                ParsedRequest request;
                try
                {
                    using var document = JsonDocument.Parse(buffer.WrittenMemory);
                    var root = document.RootElement;
                    if (!root.TryGetProperty("type", out var type) || type.GetString() != "response.create")
                    {
                        throw new InputException("WebSocket messages must have type response.create. Fix: send {\"type\":\"response.create\", \"model\":…, \"input\":…}");
                    }

                    request = ParseResponses(root.TryGetProperty("response", out var inner) && inner.ValueKind == JsonValueKind.Object ? inner : root) with { Stream = true };
                }
                catch (Exception ex) when (ex is JsonException or InputException or InvalidOperationException or KeyNotFoundException)
                {
                    var error = string.Create(CultureInfo.InvariantCulture,
                        $"{{\"type\":\"error\",\"error\":{{\"type\":\"invalid_request_error\",\"message\":{JsonSerializer.Serialize(ex.Message, ServerJson.Default.String)}}}}}");
                    await socket.SendAsync(Encoding.UTF8.GetBytes(error), WebSocketMessageType.Text, endOfMessage: true, ct);
                    entry.Status = 400;
                    continue;
                }

                entry.HeadersNs = entry.ReceivedNs;
                entry.Status = 200;
                await StreamAsync(context, entry, ApiKind.Responses, request, new FaultSpec(FaultKind.None), socket);
            }
            catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
            {
                entry.Events.Add(new ServerEvent(NowNs(), "client_aborted"));
                return;
            }
            finally
            {
                entry.EndNs = NowNs();
                Log.Add(entry);
                Interlocked.Exchange(ref _lastFinished, _time.GetTimestamp());
                Lateness.Finished();
            }
        }
    }
#pragma warning restore CA1031

    private async Task ErrorAsync(HttpContext context, ServerRequestLog entry, int status, string code, string message)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        var json = string.Create(CultureInfo.InvariantCulture,
            $"{{\"error\":{{\"message\":{JsonSerializer.Serialize(message, ServerJson.Default.String)},\"type\":\"{code}\",\"code\":\"{code}\"}}}}");
        await context.Response.WriteAsync(json, context.RequestAborted);
        entry.HeadersNs = NowNs();
    }

    /// <summary>Applies faults that act before any body byte; true when the response is finished.</summary>
    private async Task<bool> BeforeBodyFaultAsync(HttpContext context, ServerRequestLog entry, FaultSpec fault)
    {
        switch (fault.Kind)
        {
            case FaultKind.RateLimit or FaultKind.Unavailable:
                context.Response.Headers.RetryAfter = Math.Ceiling(fault.RetryAfterSeconds).ToString(CultureInfo.InvariantCulture);
                context.Response.Headers["retry-after-ms"] = (fault.RetryAfterSeconds * 1000).ToString("0", CultureInfo.InvariantCulture);
                await ErrorAsync(context, entry, fault.Kind == FaultKind.RateLimit ? 429 : 503,
                    fault.Kind == FaultKind.RateLimit ? "rate_limit_exceeded" : "service_unavailable", "injected fault");
                return true;
            case FaultKind.ServerError:
                await ErrorAsync(context, entry, 500, "server_error", "injected fault");
                return true;
            case FaultKind.WrongContentType:
                context.Response.StatusCode = 200;
                context.Response.ContentType = "text/html; charset=utf-8";
                await context.Response.WriteAsync("<html><body>Gateway says hello</body></html>", context.RequestAborted);
                entry.HeadersNs = NowNs();
                return true;
            case FaultKind.SlowHeaders:
                await Task.Delay(TimeSpan.FromMilliseconds(fault.DelayMs), _time, context.RequestAborted);
                return false;
            default:
                return false;
        }
    }

    private ParsedRequest ParseChat(JsonElement root)
    {
        var messages = new List<ChatMessage>();
        foreach (var m in root.GetProperty("messages").EnumerateArray())
        {
            messages.Add(new ChatMessage(new ChatRole(m.GetProperty("role").GetString() ?? "user"), ContentText(m.TryGetProperty("content", out var c) ? c : default)));
        }

        var stream = root.TryGetProperty("stream", out var s) && s.ValueKind == JsonValueKind.True;
        var usage = root.TryGetProperty("stream_options", out var so) && so.ValueKind == JsonValueKind.Object
            && so.TryGetProperty("include_usage", out var iu) && iu.ValueKind == JsonValueKind.True;
        int? max = root.TryGetProperty("max_completion_tokens", out var mct) && mct.ValueKind == JsonValueKind.Number ? mct.GetInt32()
            : root.TryGetProperty("max_tokens", out var mt) && mt.ValueKind == JsonValueKind.Number ? mt.GetInt32() : null;
        return new ParsedRequest(messages, stream, usage, max, Temperature(root), Model(root), null);
    }

    private ParsedRequest ParseResponses(JsonElement root)
    {
        var messages = new List<ChatMessage>();
        string? previous = root.TryGetProperty("previous_response_id", out var p) && p.ValueKind == JsonValueKind.String ? p.GetString() : null;
        if (previous is not null)
        {
            if (!_conversations.TryGetValue(previous, out var earlier))
            {
                throw new InputException($"previous_response_id '{previous}' is unknown to this server. Fix: send the full input, or an id this server returned");
            }

            lock (earlier)
            {
                messages.AddRange(earlier);
            }
        }

        if (root.TryGetProperty("instructions", out var ins) && ins.ValueKind == JsonValueKind.String)
        {
            messages.Insert(0, new ChatMessage(ChatRole.System, ins.GetString()));
        }

        var input = root.GetProperty("input");
        if (input.ValueKind == JsonValueKind.String)
        {
            messages.Add(new ChatMessage(ChatRole.User, input.GetString()));
        }
        else
        {
            foreach (var item in input.EnumerateArray())
            {
                if (item.TryGetProperty("role", out var role))
                {
                    messages.Add(new ChatMessage(new ChatRole(role.GetString() ?? "user"), ContentText(item.TryGetProperty("content", out var c) ? c : default)));
                }
            }
        }

        var stream = root.TryGetProperty("stream", out var s) && s.ValueKind == JsonValueKind.True;
        int? max = root.TryGetProperty("max_output_tokens", out var mt) && mt.ValueKind == JsonValueKind.Number ? mt.GetInt32() : null;
        return new ParsedRequest(messages, stream, true, max, Temperature(root), Model(root), previous);
    }

    private static float? Temperature(JsonElement root) =>
        root.TryGetProperty("temperature", out var t) && t.ValueKind == JsonValueKind.Number ? t.GetSingle() : null;

    private string Model(JsonElement root) =>
        root.TryGetProperty("model", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString() ?? _options.ModelId : _options.ModelId;

    private static string ContentText(JsonElement content)
    {
        if (content.ValueKind == JsonValueKind.String)
        {
            return content.GetString() ?? string.Empty;
        }

        if (content.ValueKind != JsonValueKind.Array)
        {
            return string.Empty;
        }

        var text = new StringBuilder();
        foreach (var part in content.EnumerateArray())
        {
            if (part.TryGetProperty("text", out var t) && t.ValueKind == JsonValueKind.String)
            {
                text.Append(t.GetString());
            }
        }

        return text.ToString();
    }

    /// <summary>
    /// The hosted backend's options. Without a fault, a simulated backend's schedule starts at the request's arrival
    /// (<see cref="AttemptContext.ArrivalKey"/>): TTFT is then arrival to first token, whatever serve-sim spent parsing. A
    /// fault that delays the response (slow headers) keeps the old start, after the delay, so its tokens still pace.
    /// </summary>
    private static ChatOptions BackendOptions(ParsedRequest request, ServerRequestLog entry, FaultSpec fault)
    {
        var options = new ChatOptions
        {
            MaxOutputTokens = request.MaxTokens,
            Temperature = request.Temperature,
            ModelId = request.Model,
            // serve-sim reads each update's text before it asks for the next and keeps no update: a backend may reuse one
            // (no object per token on the emission clock's timer thread).
            AdditionalProperties = new() { [AttemptContext.TransientUpdatesKey] = true },
        };
        if (fault.Kind == FaultKind.None)
        {
            options.AdditionalProperties[AttemptContext.ArrivalKey] = entry.ArrivalTimestamp;
        }

        return options;
    }

    /// <summary>Streams the hosted backend's updates as SSE, flushing each event and logging when the flush returned.</summary>
    private async Task StreamAsync(HttpContext context, ServerRequestLog entry, ApiKind api, ParsedRequest request, FaultSpec fault, WebSocket? socket = null)
    {
        var ct = context.RequestAborted;
        var response = context.Response;
        if (socket is null)
        {
            response.StatusCode = 200;
            response.ContentType = "text/event-stream";
            response.Headers.CacheControl = "no-cache";
            await response.StartAsync(ct);
            await response.BodyWriter.FlushAsync(ct);
            entry.HeadersNs = NowNs();
        }

        // Room for one event per token asked for (bounded), made here: a list that grew on the emission clock's thread would
        // allocate there, mid-stream.
        entry.Events.EnsureCapacity(Math.Clamp((request.MaxTokens ?? 0) + 8, 64, 1024));
        using var writer = new SseEventWriter(response, entry, this, socket);
        var id = (api == ApiKind.Chat ? "chatcmpl-" : "resp_") + entry.RequestId;
        var itemId = "msg_" + entry.RequestId;
        var created = _time.GetUtcNow().ToUnixTimeSeconds();
        var answer = new StringBuilder();
        var reasoning = new StringBuilder();
        UsageDetails? usage = null;
        var chunks = 0;
        var faultApplied = false;
        // Made here, on the handler's thread: the first token is released on the emission clock's timer thread, where every
        // stream's first token of a burst comes due together and each allocation may wait for the runtime's allocation lock.
        var deltaFrame = api == ApiKind.Chat ? ChatDeltaFrame.Create(id, created, request.Model) : null;
        writer.Prepare();

        // Applies a mid-stream fault once; true when the response must end here.
        async Task<bool> MidStreamFaultAsync()
        {
            faultApplied = true;
            switch (fault.Kind)
            {
                case FaultKind.Disconnect:
                    entry.Events.Add(new ServerEvent(NowNs(), "fault_disconnect"));
                    context.Abort();
                    return true;
                case FaultKind.EarlyEnd:
                    entry.Events.Add(new ServerEvent(NowNs(), "fault_early_end"));
                    return true;
                case FaultKind.Malformed:
                    await writer.WriteRawAsync("data: {\"id\":\"" + id + "\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"\n\n", "fault_malformed", ct);
                    return false;
                case FaultKind.Stall:
                    entry.Events.Add(new ServerEvent(NowNs(), "fault_stall"));
                    await Task.Delay(TimeSpan.FromMilliseconds(fault.DelayMs), _time, ct);
                    return false;
                default:
                    return false;
            }
        }

        if (api == ApiKind.Chat)
        {
            await writer.WriteAsync(null, "role", 0, w => ChatChunk(w, id, created, request.Model, d => d.WriteString("role", "assistant"), null), ct);
        }
        else
        {
            await writer.WriteAsync("response.created", "created", 0, w => ResponseEvent(w, "response.created", writer.Sequence, w2 =>
            {
                w2.WritePropertyName("response");
                ResponseObject(w2, id, itemId, created, request.Model, "in_progress", null, null, null);
            }), ct);
        }

        await foreach (var update in _backend.GetStreamingResponseAsync(request.Messages, BackendOptions(request, entry, fault), ct))
        {
            // By index: a foreach over the IList would box an enumerator per token on the emission clock's thread.
            var contents = update.Contents;
            for (var c = 0; c < contents.Count; c++)
            {
                var content = contents[c];
                if (content is UsageContent u)
                {
                    usage = u.Details;
                    continue;
                }

                var (kind, text) = content switch
                {
                    TextContent t when !string.IsNullOrEmpty(t.Text) => ("content", t.Text),
                    TextReasoningContent r when !string.IsNullOrEmpty(r.Text) => ("reasoning", r.Text),
                    _ => (null, null),
                };
                if (kind is null || text is null)
                {
                    continue;
                }

                if (chunks == fault.AfterChunks && !faultApplied && await MidStreamFaultAsync())
                {
                    return;
                }

                chunks++;
                if (api == ApiKind.Responses)
                {
                    // Kept for the completed response and previous_response_id; a chat stream never needs the whole text.
                    (kind == "content" ? answer : reasoning).Append(text);
                }

                if (api == ApiKind.Chat)
                {
                    // The per-chunk path: the frame around the delta is encoded once per stream, only the text per chunk.
                    await writer.WriteChatDeltaAsync(deltaFrame!, kind, text, ct);
                }
                else
                {
                    var type = kind == "content" ? "response.output_text.delta" : "response.reasoning_text.delta";
                    await writer.WriteAsync(type, kind, text.Length, w => ResponseEvent(w, type, writer.Sequence, w2 => TextPart(w2, itemId, "delta", text)), ct);
                }
            }
        }

        // What follows is not on the schedule: leave the emission clock's thread to the other streams' due chunks.
        if (EmissionClock.OnTimerThread)
        {
            await Task.Yield();
        }

        // A backend that coalesced tokens (late wake-ups) may send fewer chunks than "after": the fault still happens.
        if (!faultApplied && await MidStreamFaultAsync())
        {
            return;
        }

        if (api == ApiKind.Chat)
        {
            await writer.WriteAsync(null, "finish", 0, w => ChatChunk(w, id, created, request.Model, _ => { }, "stop"), ct);
            if (request.IncludeUsage)
            {
                await writer.WriteAsync(null, "usage", 0, w => ChatUsageChunk(w, id, created, request.Model, usage), ct);
            }

            await writer.WriteRawAsync(DoneLine, "done", ct);
        }
        else
        {
            Remember(id, request, answer.ToString());
            var text = answer.ToString();
            await writer.WriteAsync("response.output_text.done", "text_done", 0, w => ResponseEvent(w, "response.output_text.done", writer.Sequence, w2 => TextPart(w2, itemId, "text", text)), ct);
            await writer.WriteAsync("response.completed", "completed", 0, w => ResponseEvent(w, "response.completed", writer.Sequence, w2 =>
            {
                w2.WritePropertyName("response");
                ResponseObject(w2, id, itemId, created, request.Model, "completed", text, reasoning.Length > 0 ? reasoning.ToString() : null, usage);
            }), ct);
        }
    }

    private async Task CompleteAsync(HttpContext context, ServerRequestLog entry, ApiKind api, ParsedRequest request, FaultSpec fault)
    {
        var ct = context.RequestAborted;
        var answer = new StringBuilder();
        var reasoning = new StringBuilder();
        UsageDetails? usage = null;
        await foreach (var update in _backend.GetStreamingResponseAsync(request.Messages, BackendOptions(request, entry, fault), ct))
        {
            foreach (var content in update.Contents)
            {
                switch (content)
                {
                    case TextContent t:
                        answer.Append(t.Text);
                        break;
                    case TextReasoningContent r:
                        reasoning.Append(r.Text);
                        break;
                    case UsageContent u:
                        usage = u.Details;
                        break;
                    default:
                        break;
                }
            }
        }

        if (fault.Kind == FaultKind.Stall)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(fault.DelayMs), _time, ct);
        }

        if (fault.Kind == FaultKind.Disconnect)
        {
            entry.Events.Add(new ServerEvent(NowNs(), "fault_disconnect"));
            context.Abort();
            return;
        }

        var id = (api == ApiKind.Chat ? "chatcmpl-" : "resp_") + entry.RequestId;
        var created = _time.GetUtcNow().ToUnixTimeSeconds();
        var buffer = new ArrayBufferWriter<byte>(4096);
        using (var w = new Utf8JsonWriter(buffer))
        {
            if (api == ApiKind.Chat)
            {
                w.WriteStartObject();
                w.WriteString("id", id);
                w.WriteString("object", "chat.completion");
                w.WriteNumber("created", created);
                w.WriteString("model", request.Model);
                w.WriteStartArray("choices");
                w.WriteStartObject();
                w.WriteNumber("index", 0);
                w.WriteStartObject("message");
                w.WriteString("role", "assistant");
                w.WriteString("content", answer.ToString());
                if (reasoning.Length > 0)
                {
                    w.WriteString("reasoning_content", reasoning.ToString());
                }

                w.WriteEndObject();
                w.WriteNull("logprobs");
                w.WriteString("finish_reason", "stop");
                w.WriteEndObject();
                w.WriteEndArray();
                WriteChatUsage(w, usage);
                w.WriteEndObject();
            }
            else
            {
                Remember(id, request, answer.ToString());
                ResponseObject(w, id, "msg_" + entry.RequestId, created, request.Model, "completed", answer.ToString(), reasoning.Length > 0 ? reasoning.ToString() : null, usage);
            }
        }

        var bytes = buffer.WrittenMemory;
        if (fault.Kind == FaultKind.Malformed)
        {
            bytes = bytes[..(bytes.Length / 2)].ToArray().Concat("\"}"u8.ToArray()).ToArray();
        }
        else if (fault.Kind == FaultKind.EarlyEnd)
        {
            bytes = bytes[..(bytes.Length / 2)];
        }

        context.Response.StatusCode = 200;
        context.Response.ContentType = "application/json";
        await context.Response.StartAsync(ct);
        entry.HeadersNs = NowNs();
        await context.Response.Body.WriteAsync(bytes, ct);
        await context.Response.Body.FlushAsync(ct);
        entry.Events.Add(new ServerEvent(NowNs(), "body", answer.Length));
    }

    private void Remember(string id, ParsedRequest request, string answer)
    {
        // Kept for previous_response_id; bounded so a long benchmark does not grow without limit.
        if (_conversations.Count > 10_000)
        {
            _conversations.Clear();
        }

        var history = new List<ChatMessage>(request.Messages) { new(ChatRole.Assistant, answer) };
        _conversations[id] = history;
    }

    /// <summary>A chat chunk up to and including <c>"delta":{</c>; shared by the per-chunk writer and the pre-encoded frame.</summary>
    internal static void WriteChatChunkPrefix(Utf8JsonWriter w, string id, long created, string model)
    {
        w.WriteStartObject();
        w.WriteString("id", id);
        w.WriteString("object", "chat.completion.chunk");
        w.WriteNumber("created", created);
        w.WriteString("model", model);
        w.WriteStartArray("choices");
        w.WriteStartObject();
        w.WriteNumber("index", 0);
        w.WriteStartObject("delta");
    }

    private static void ChatChunk(Utf8JsonWriter w, string id, long created, string model, Action<Utf8JsonWriter> delta, string? finish)
    {
        WriteChatChunkPrefix(w, id, created, model);
        delta(w);
        w.WriteEndObject();
        w.WriteNull("logprobs");
        if (finish is null)
        {
            w.WriteNull("finish_reason");
        }
        else
        {
            w.WriteString("finish_reason", finish);
        }

        w.WriteEndObject();
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void ChatUsageChunk(Utf8JsonWriter w, string id, long created, string model, UsageDetails? usage)
    {
        w.WriteStartObject();
        w.WriteString("id", id);
        w.WriteString("object", "chat.completion.chunk");
        w.WriteNumber("created", created);
        w.WriteString("model", model);
        w.WriteStartArray("choices");
        w.WriteEndArray();
        WriteChatUsage(w, usage);
        w.WriteEndObject();
    }

    private static void WriteChatUsage(Utf8JsonWriter w, UsageDetails? usage)
    {
        w.WriteStartObject("usage");
        w.WriteNumber("prompt_tokens", usage?.InputTokenCount ?? 0);
        w.WriteNumber("completion_tokens", usage?.OutputTokenCount ?? 0);
        w.WriteNumber("total_tokens", usage?.TotalTokenCount ?? ((usage?.InputTokenCount ?? 0) + (usage?.OutputTokenCount ?? 0)));
        w.WriteEndObject();
    }

    /// <summary>The fields of a Responses output-text event: a delta while streaming, the whole text when done.</summary>
    private static void TextPart(Utf8JsonWriter w, string itemId, string textField, string text)
    {
        w.WriteString("item_id", itemId);
        w.WriteNumber("output_index", 0);
        w.WriteNumber("content_index", 0);
        w.WriteString(textField, text);
        w.WriteStartArray("logprobs");
        w.WriteEndArray();
    }

    private static void ResponseEvent(Utf8JsonWriter w, string type, int sequence, Action<Utf8JsonWriter> body)
    {
        w.WriteStartObject();
        w.WriteString("type", type);
        w.WriteNumber("sequence_number", sequence);
        body(w);
        w.WriteEndObject();
    }

    private static void ResponseObject(Utf8JsonWriter w, string id, string itemId, long created, string model, string status, string? text, string? reasoning, UsageDetails? usage)
    {
        w.WriteStartObject();
        w.WriteString("id", id);
        w.WriteString("object", "response");
        w.WriteNumber("created_at", created);
        w.WriteString("status", status);
        w.WriteString("model", model);
        w.WriteNull("error");
        w.WriteNull("incomplete_details");
        w.WriteNull("instructions");
        w.WriteBoolean("parallel_tool_calls", true);
        w.WriteString("tool_choice", "auto");
        w.WriteStartArray("tools");
        w.WriteEndArray();
        w.WriteStartObject("metadata");
        w.WriteEndObject();
        w.WriteStartArray("output");
        if (reasoning is not null)
        {
            w.WriteStartObject();
            w.WriteString("id", "rs_" + itemId);
            w.WriteString("type", "reasoning");
            w.WriteStartArray("summary");
            w.WriteEndArray();
            w.WriteStartArray("content");
            w.WriteStartObject();
            w.WriteString("type", "reasoning_text");
            w.WriteString("text", reasoning);
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteEndObject();
        }

        if (text is not null)
        {
            w.WriteStartObject();
            w.WriteString("id", itemId);
            w.WriteString("type", "message");
            w.WriteString("status", "completed");
            w.WriteString("role", "assistant");
            w.WriteStartArray("content");
            w.WriteStartObject();
            w.WriteString("type", "output_text");
            w.WriteString("text", text);
            w.WriteStartArray("annotations");
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteEndObject();
        }

        w.WriteEndArray();
        if (usage is not null)
        {
            w.WriteStartObject("usage");
            w.WriteNumber("input_tokens", usage.InputTokenCount ?? 0);
            w.WriteStartObject("input_tokens_details");
            w.WriteNumber("cached_tokens", 0);
            w.WriteEndObject();
            w.WriteNumber("output_tokens", usage.OutputTokenCount ?? 0);
            w.WriteStartObject("output_tokens_details");
            w.WriteNumber("reasoning_tokens", usage.ReasoningTokenCount ?? 0);
            w.WriteEndObject();
            w.WriteNumber("total_tokens", usage.TotalTokenCount ?? ((usage.InputTokenCount ?? 0) + (usage.OutputTokenCount ?? 0)));
            w.WriteEndObject();
        }

        w.WriteEndObject();
    }

    /// <summary>Writes one SSE event at a time to the response and logs the moment each flush returned.</summary>
    private sealed class SseEventWriter(HttpResponse response, ServerRequestLog entry, SimServer server, WebSocket? socket) : IDisposable
    {
        public void Dispose()
        {
            _writer?.Dispose();
            _textWriter?.Dispose();
        }

        private readonly ArrayBufferWriter<byte> _json = new(1024);
        private readonly ArrayBufferWriter<byte> _text = new(256);
        private Utf8JsonWriter? _writer;
        private Utf8JsonWriter? _textWriter;

        public int Sequence { get; private set; }

        /// <summary>Makes the per-stream writers before the first token, so that its release on a timer thread allocates none.</summary>
        public void Prepare()
        {
            _writer ??= new Utf8JsonWriter(_json);
            _textWriter ??= new Utf8JsonWriter(_text);
        }

        public async Task WriteAsync(string? eventName, string kind, int chars, Action<Utf8JsonWriter> body, CancellationToken ct)
        {
            _json.ResetWrittenCount();
            Prepare();
            _writer!.Reset(_json);
            body(_writer);
            _writer.Flush();
            if (socket is not null)
            {
                // WebSocket mode: one event per text message, stamped when the send completed.
                await socket.SendAsync(_json.WrittenMemory, WebSocketMessageType.Text, endOfMessage: true, ct);
                entry.Events.Add(new ServerEvent(server.NowNs(), kind, chars, server.TakeDueNs()));
                Sequence++;
                return;
            }

            var pipe = response.BodyWriter;
            if (eventName is not null)
            {
                pipe.Write(EventPrefix);
                pipe.Write(Encoding.UTF8.GetBytes(eventName));
                pipe.Write("\n"u8);
            }

            pipe.Write(DataPrefix);
            pipe.Write(_json.WrittenSpan);
            pipe.Write(EventEnd);
            await pipe.FlushAsync(ct);
            entry.Events.Add(new ServerEvent(server.NowNs(), kind, chars, server.TakeDueNs()));
            Sequence++;
        }

        /// <summary>Writes one chat content or reasoning delta: the same bytes as <see cref="ChatChunk"/>, without a JSON writer per chunk.</summary>
        public async Task WriteChatDeltaAsync(ChatDeltaFrame frame, string kind, string text, CancellationToken ct)
        {
            var value = Escaped(text);
            var field = kind == "content" ? ChatDeltaFrame.ContentField : ChatDeltaFrame.ReasoningField;
            if (socket is not null)
            {
                var message = new byte[frame.Prefix.Length + field.Length + value.Length + ChatDeltaFrame.Suffix.Length];
                frame.Prefix.CopyTo(message, 0);
                field.CopyTo(message, frame.Prefix.Length);
                value.Span.CopyTo(message.AsSpan(frame.Prefix.Length + field.Length));
                ChatDeltaFrame.Suffix.CopyTo(message, message.Length - ChatDeltaFrame.Suffix.Length);
                await socket.SendAsync(message, WebSocketMessageType.Text, endOfMessage: true, ct);
            }
            else
            {
                var pipe = response.BodyWriter;
                pipe.Write(DataPrefix);
                pipe.Write(frame.Prefix);
                pipe.Write(field);
                pipe.Write(value.Span);
                pipe.Write(ChatDeltaFrame.Suffix);
                pipe.Write(EventEnd);
                await pipe.FlushAsync(ct);
            }

            entry.Events.Add(new ServerEvent(server.NowNs(), kind, text.Length, server.TakeDueNs()));
            Sequence++;
        }

        /// <summary>
        /// <paramref name="text"/> as a JSON string's escaped content (without the quotes), valid until the next call: written by
        /// one reused Utf8JsonWriter, so the bytes are <see cref="ChatChunk"/>'s and a token allocates nothing here.
        /// </summary>
        private ReadOnlyMemory<byte> Escaped(string text)
        {
            _text.ResetWrittenCount();
            Prepare();
            _textWriter!.Reset(_text);
            _textWriter.WriteStringValue(text);
            _textWriter.Flush();
            return _text.WrittenMemory[1..^1];
        }

        public async Task WriteRawAsync(ReadOnlyMemory<byte> bytes, string kind, CancellationToken ct)
        {
            if (socket is not null)
            {
                await socket.SendAsync(bytes, WebSocketMessageType.Text, endOfMessage: true, ct);
                entry.Events.Add(new ServerEvent(server.NowNs(), kind));
                return;
            }

            await response.BodyWriter.WriteAsync(bytes, ct);
            entry.Events.Add(new ServerEvent(server.NowNs(), kind));
        }

        public Task WriteRawAsync(string text, string kind, CancellationToken ct) => WriteRawAsync(Encoding.UTF8.GetBytes(text), kind, ct);
    }
}

/// <summary>The constant bytes of one stream's chat delta chunks, around the escaped text, as <c>ChatChunk</c> writes them.</summary>
internal sealed class ChatDeltaFrame
{
    public static readonly byte[] ContentField = "\"content\":\""u8.ToArray();
    public static readonly byte[] ReasoningField = "\"reasoning_content\":\""u8.ToArray();
    public static readonly byte[] Suffix = "\"},\"logprobs\":null,\"finish_reason\":null}]}"u8.ToArray();

    private ChatDeltaFrame(byte[] prefix) => Prefix = prefix;

    /// <summary>Everything up to and including <c>"delta":{</c>.</summary>
    public byte[] Prefix { get; }

    public static ChatDeltaFrame Create(string id, long created, string model)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer))
        {
            SimServer.WriteChatChunkPrefix(w, id, created, model);
            w.Flush();
        }

        return new ChatDeltaFrame(buffer.WrittenSpan.ToArray());
    }
}

[System.Text.Json.Serialization.JsonSerializable(typeof(string))]
internal sealed partial class ServerJson : System.Text.Json.Serialization.JsonSerializerContext;
