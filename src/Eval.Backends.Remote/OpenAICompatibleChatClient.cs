using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Http.Resilience;
using Polly;
using Polly.CircuitBreaker;
using Spark.Eval.Core.Backends;
using Spark.Eval.Core.Timing;
using Spark.Eval.Core.Tokens;

namespace Spark.Eval.Backends.Remote;

/// <summary>Connection set-up times (DNS + TCP connect) of one backend's pool, cold (first) and warm (later) apart.</summary>
public sealed class ConnectionStats
{
    private readonly Lock _gate = new();
    private readonly List<double> _connectMs = [];

    /// <summary>Connect times in ms, in the order connections were opened.</summary>
    public IReadOnlyList<double> ConnectMilliseconds
    {
        get
        {
            lock (_gate)
            {
                return [.. _connectMs];
            }
        }
    }

    internal void Record(TimeSpan elapsed)
    {
        lock (_gate)
        {
            _connectMs.Add(elapsed.TotalMilliseconds);
        }
    }
}

/// <summary>
/// An <see cref="IChatClient"/> for OpenAI-compatible Chat Completions and Responses APIs with its own SSE reader on a
/// pooled keep-alive <see cref="SocketsHttpHandler"/>. It stamps transport moments (request sent, response headers,
/// first byte, retries) on the attempt's <see cref="AttemptRecorder"/>, retries only before the first byte, and ends
/// every failure as a <see cref="BackendException"/> with a classified error; the API key never appears in messages.
/// </summary>
public sealed class OpenAICompatibleChatClient : IChatClient
{
    internal static readonly ResiliencePropertyKey<AttemptRecorder?> RecorderKey = new("spark.recorder");
    /// <summary>Response header serve-sim sets when its backend is simulated (Eval.Simulator's SimServer.SimulatedHeader).</summary>
    internal const string SimulatedHeader = "x-spark-eval-simulated";
    private static readonly ResiliencePropertyKey<AttemptTimeouts?> TimeoutsKey = new("spark.timeouts");

    private readonly OpenAIBackendOptions _options;
    private readonly TimeProvider _time;
    private readonly RequestSecrets _secrets;
    private readonly HttpClient _http;
    private readonly Uri _endpoint;
    private readonly ChatClientMetadata _metadata;
    private readonly ConcurrentBag<ClientWebSocket> _webSockets = [];
    private int _webSocketsOpened;

    /// <param name="options">Where and how to call.</param>
    /// <param name="time">The clock for timestamps, timeouts and back-off.</param>
    /// <param name="apiKey">The key read from the variable named in <paramref name="options"/>; null for none.</param>
    /// <param name="secretHeaders">Headers whose values are secrets (<c>headers_env</c>); like the key, sent and redacted from every text.</param>
    public OpenAICompatibleChatClient(OpenAIBackendOptions options, TimeProvider time, string? apiKey, IReadOnlyDictionary<string, string>? secretHeaders = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _time = time;
        var secrets = new RequestSecrets(apiKey, secretHeaders, options.Headers);
        _secrets = secrets;
        var baseText = options.BaseUrl.ToString().TrimEnd('/') + "/";
        _endpoint = new Uri(new Uri(baseText), options.Api == OpenAIApi.ChatCompletions ? "chat/completions" : "responses");
        if (options.Api == OpenAIApi.ResponsesWebSocket)
        {
            _endpoint = new UriBuilder(_endpoint) { Scheme = _endpoint.Scheme == Uri.UriSchemeHttps ? "wss" : "ws" }.Uri;
        }
        _http = new HttpClient(CreateHandler(options, time, Connections, _protocol, secrets), disposeHandler: true)
        {
            Timeout = Timeout.InfiniteTimeSpan,
            // Bodies read whole (error snippets, pre-connect) stop here; streams are bounded by StreamLimits.
            MaxResponseContentBufferSize = 1024 * 1024,
            DefaultRequestVersion = options.Http2 ? HttpVersion.Version20 : HttpVersion.Version11,
            DefaultVersionPolicy = options.Http2 && options.BaseUrl.Scheme == Uri.UriSchemeHttp ? HttpVersionPolicy.RequestVersionExact : HttpVersionPolicy.RequestVersionOrLower,
        };
        _metadata = new ChatClientMetadata("openai-compatible", options.BaseUrl, options.Model);
        Tokens = options.Tokenizer is { } encoding ? ModelTokenizers.Create(encoding, exact: true) : ModelTokenizers.ForModel(options.Model);
    }

    public ConnectionStats Connections { get; } = new();

    private readonly ProtocolMismatch.Evidence _protocol = new();

    /// <summary>True when streamed events carry the kernel's receive time of their bytes (see <see cref="OpenAIBackendOptions.KernelReceiveTimestamps"/>).</summary>
    public bool KernelReceiveTimestamps => UsesKernelReceiveTimestamps(_options, _time);

    /// <summary>Whether kernel receive timestamps can apply here: HTTP/1.1 SSE, Linux, the system clock.</summary>
    public static bool KernelReceiveTimestampsApply(bool http2, TimeProvider time) =>
        !http2 && time == TimeProvider.System && KernelReceiveStream.IsSupported;

    private static bool UsesKernelReceiveTimestamps(OpenAIBackendOptions options, TimeProvider time) =>
        options.KernelReceiveTimestamps && options.Api != OpenAIApi.ResponsesWebSocket && KernelReceiveTimestampsApply(options.Http2, time);

    /// <summary>The client tokenizer for this backend's model (the runner counts answers with it beside the server's usage).</summary>
    public TokenCounter Tokens { get; }

    /// <summary>WebSocket connections opened so far (api=responses_ws); each is reused by later attempts.</summary>
    public int WebSocketsOpened => Volatile.Read(ref _webSocketsOpened);

    public OpenAIBackendOptions Options => _options;

    private static ResilienceHandler CreateHandler(OpenAIBackendOptions options, TimeProvider time, ConnectionStats stats, ProtocolMismatch.Evidence protocol, RequestSecrets secrets)
    {
        // HTTP/1.1 reads a response on the flow that asked for it, so a read's arrival reaches that attempt's sink; an
        // HTTP/2 connection reads every stream's frames on its own loop, where no attempt's sink belongs.
        var kernelStamps = UsesKernelReceiveTimestamps(options, time);
        var sockets = new SocketsHttpHandler
        {
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            MaxConnectionsPerServer = int.MaxValue,
            ConnectTimeout = options.ConnectTimeout,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            UseProxy = false,
            // RedirectHandler decides (follow_redirects): a silent redirect would send the prompt and key elsewhere.
            AllowAutoRedirect = false,
            EnableMultipleHttp2Connections = true,
            ConnectCallback = async (context, ct) =>
            {
                var start = time.GetTimestamp();
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    await socket.ConnectAsync(context.DnsEndPoint, ct);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }

                stats.Record(time.GetElapsedTime(start));
                return kernelStamps ? KernelReceiveStream.Create(socket, options.ReceiveThread) : new ConnectionUseStream(socket);
            },
        };

        var builder = new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = time };
        if (options.MaxRetries > 0)
        {
            builder.AddRetry(RetryPolicy.Create(options, time, protocol));
        }

        if (options.BreakerMinimumThroughput > 0)
        {
            builder.AddCircuitBreaker(new HttpCircuitBreakerStrategyOptions
            {
                FailureRatio = options.BreakerFailureRatio,
                MinimumThroughput = options.BreakerMinimumThroughput,
                SamplingDuration = options.BreakerSamplingDuration,
                BreakDuration = options.BreakerBreakDuration,
            });
        }

        // HTTP/1.1: a request that meets a pooled connection the server already closed is resent at once on a fresh one.
        HttpMessageHandler transport = options.Http2 ? sockets
            : new StaleConnectionRetryHandler(sockets, new HttpMessageInvoker(StaleConnectionRetryHandler.FreshConnections(sockets), disposeHandler: true));
        return new ResilienceHandler(builder.Build())
        {
            InnerHandler = new TryMarkingHandler(new RedirectHandler(transport, options.FollowRedirects, secrets, options.Headers.Keys)),
        };
    }

    /// <summary>
    /// Runs inside the resilience pipeline, once per try: stamps <see cref="StreamEventKind.Retry"/> when a retry actually
    /// starts (after its back-off), so the serving try's latency starts there, and gives that try a fresh TTFT budget.
    /// </summary>
    private sealed class TryMarkingHandler(HttpMessageHandler inner) : DelegatingHandler(inner)
    {
        private static readonly ResiliencePropertyKey<int> TriesKey = new("spark.tries");

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (request.GetResilienceContext() is { } context)
            {
                var tries = context.Properties.GetValue(TriesKey, 0);
                context.Properties.Set(TriesKey, tries + 1);
                if (tries > 0)
                {
                    if (context.Properties.TryGetValue(RecorderKey, out var recorder))
                    {
                        recorder?.Mark(StreamEventKind.Retry);
                    }

                    if (context.Properties.TryGetValue(TimeoutsKey, out var timeouts))
                    {
                        timeouts?.RestartTimeToFirstToken();
                    }
                }
            }

            return base.SendAsync(request, cancellationToken);
        }
    }

    /// <summary>
    /// Opens <paramref name="connections"/> pooled connections (GET {base}/models each) so that the first attempts do not pay for
    /// them. Every response is held (headers read, body not) until all are in: a connection whose request finished early would
    /// otherwise be reused by the next one, leaving fewer connections open than asked.
    /// </summary>
    public async Task PreconnectAsync(int connections, CancellationToken cancellationToken)
    {
        var responses = new HttpResponseMessage?[connections];
        try
        {
            await Task.WhenAll(Enumerable.Range(0, connections).Select(async i =>
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(new Uri(_options.BaseUrl.ToString().TrimEnd('/') + "/"), "models"));
                AddHeaders(request);
                responses[i] = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
                _protocol.Saw(responses[i]);
            }));

            // Drained, so each connection goes back to the pool reusable.
            foreach (var response in responses)
            {
                await response!.Content.CopyToAsync(Stream.Null, cancellationToken);
            }
        }
        catch (HttpRequestException ex)
        {
            throw new BackendException("connection", Redact($"pre-connect to {_options.BaseUrl} failed: {ex.Message}"));
        }
        finally
        {
            foreach (var response in responses)
            {
                response?.Dispose();
            }
        }
    }

    /// <summary>
    /// The model ids the server lists at GET {base}/models (OpenAI's <c>{"data": [{"id": …}]}</c>); null when it lists none or
    /// cannot be asked (no such route, an error, more than 1 MB, or no answer within <paramref name="timeout"/>).
    /// </summary>
    public async Task<IReadOnlyList<string>?> ListModelsAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(new Uri(_options.BaseUrl.ToString().TrimEnd('/') + "/"), "models"));
        AddHeaders(request);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, deadline.Token);
            _protocol.Saw(response);
            if (!response.IsSuccessStatusCode || response.Content.Headers.ContentLength > 1 << 20)
            {
                return null;
            }

            await using var body = await response.Content.ReadAsStreamAsync(deadline.Token);
            var buffer = new MemoryStream();
            var chunk = new byte[16 * 1024];
            int read;
            while ((read = await body.ReadAsync(chunk, deadline.Token)) > 0 && buffer.Length <= 1 << 20)
            {
                buffer.Write(chunk, 0, read);
            }

            return buffer.Length > 1 << 20 ? null : ServerModels.Parse(buffer.GetBuffer().AsSpan(0, (int)buffer.Length));
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return null;
        }
    }

    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        if (_options.Api == OpenAIApi.ResponsesWebSocket)
        {
            // WebSocket mode always streams; a whole response is the streamed one, collected.
            return await GetStreamingResponseAsync(messages, options, cancellationToken).ToChatResponseAsync(cancellationToken);
        }

        var recorder = AttemptRecorder.From(options);
        using var timeouts = new AttemptTimeouts(_time, _options, cancellationToken);
        {
            using var response = await SendAsync(messages, options, stream: false, recorder, timeouts);
            await EnsureSuccessAsync(response, timeouts, "application/json");
            var body = new MemoryStream();
            try
            {
                await using var stream = await response.Content.ReadAsStreamAsync(timeouts.Token);
                var chunk = new byte[16 * 1024];
                var limits = _options.Limits.Resolve(options?.MaxOutputTokens);
                int read;
                while ((read = await stream.ReadAsync(chunk, timeouts.Token)) > 0)
                {
                    StreamBudget.CheckBody(body.Length + read, limits);
                    if (body.Length == 0)
                    {
                        recorder?.Mark(StreamEventKind.FirstByte);
                    }

                    body.Write(chunk, 0, read);
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException or HttpRequestException)
            {
                throw Translate(ex, timeouts, "reading the response body");
            }

            try
            {
                using var document = JsonDocument.Parse(body.GetBuffer().AsMemory(0, (int)body.Length));
                if (StreamErrors.FromJson(document.RootElement, Redact) is { } error)
                {
                    throw error;
                }

                var whole = _options.Api == OpenAIApi.ChatCompletions ? ParseChatCompletion(document.RootElement) : ParseResponse(document.RootElement);
                foreach (var message in whole.Messages)
                {
                    RedactContents(message.Contents);
                }

                return whole;
            }
            catch (Exception ex) when (ex is JsonException or InvalidOperationException or KeyNotFoundException)
            {
                throw new BackendException("malformed_response", Redact($"response body from {_endpoint} is not the expected JSON: {ex.Message}"));
            }
        }
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var recorder = AttemptRecorder.From(options);
        using var timeouts = new AttemptTimeouts(_time, _options, cancellationToken);
        try
        {
            if (_options.Api == OpenAIApi.ResponsesWebSocket)
            {
                await foreach (var update in StreamWebSocketAsync(messages, options, recorder, timeouts))
                {
                    yield return update;
                }

                yield break;
            }

            var arrivals = KernelReceiveTimestamps && recorder is not null ? new ArrivalSink() : null;
            using var response = await SendAsync(messages, options, stream: true, recorder, timeouts, arrivals);
            await EnsureSuccessAsync(response, timeouts, "text/event-stream");
            var body = await ReadBodyStreamAsync(response, timeouts);
            // The connection's stream keeps the sink SendAsync set for this request's reads (KernelReceiveStream.ReadAsync).
            var budget = new StreamBudget(_options.Limits.Resolve(options?.MaxOutputTokens));
            using var reader = new SseReader(body, _time)
            {
                Arrivals = arrivals,
                MaxLineBytes = budget.Limits.MaxLineBytes,
                MaxEventBytes = budget.Limits.MaxEventBytes,
                MaxBodyBytes = budget.Limits.MaxResponseBytes,
                // A stall is no bytes at all: keep-alive comments count as life, as docs/remote.md says.
                BytesReceived = timeouts.BeforeRead,
            };
            var state = new StreamState(_options.Api);
            var firstByteMarked = false;
            var seenReads = 0;
            while (!state.Done)
            {
                // Inlined rather than a helper method: one async layer less per event (the stream's per-chunk cost).
                timeouts.BeforeRead();
                bool more;
                try
                {
                    more = await reader.ReadAsync(timeouts.Token);
                }
                catch (Exception ex) when (ex is OperationCanceledException or IOException or HttpRequestException)
                {
                    throw Translate(ex, timeouts, "reading the stream");
                }

                if (!firstByteMarked && reader.FirstByteTimestamp != 0)
                {
                    recorder?.MarkAt(reader.FirstByteTimestamp, StreamEventKind.FirstByte);
                    firstByteMarked = true;
                }

                if (!more)
                {
                    break;
                }

                budget.OnEvent();
                var update = ParseEvent(reader, state);
                if (update is null)
                {
                    continue;
                }

                budget.OnUpdate(update);
                RedactContents(update.Contents);

                if (CarriesToken(update))
                {
                    timeouts.FirstTokenSeen();
                }

                // The read that completed this event is the latest one: the arrival of the segment the event ended in.
                if (arrivals is { Timestamp: > 0 })
                {
                    recorder!.OfferArrival(arrivals.NextEventArrival(ref seenReads));
                }

                yield return update;
            }

            if (!state.Done)
            {
                // The stream closed cleanly but before [DONE] (chat) or response.completed (responses): a partial answer.
                throw new BackendException("early_end", $"the stream from {_endpoint} ended after {state.Events} events without its end marker");
            }

            await ReadToBodyEndAsync(body, timeouts);
        }
        finally
        {
            // A key echoed across several chunks is whole only in the collected text.
            _secrets.RedactRecorded(recorder);
        }
    }

    /// <summary>At most this many bytes are read after the stream's end marker (a server that keeps talking is left to the HTTP layer).</summary>
    internal const int BodyEndReadLimitBytes = 16 * 1024;

    /// <summary>How long the body's own end may take after the end marker before the connection is left to the HTTP layer.</summary>
    internal static readonly TimeSpan BodyEndWait = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// After the end marker (<c>[DONE]</c>, <c>response.completed</c>): reads the HTTP body to its own end (HTTP/1.1's last
    /// chunk, HTTP/2's end of stream), so the attempt ends with its response and its HTTP/1.1 connection goes back to the pool
    /// here, on the thread that read it. Left to disposal, a body whose last chunk was not yet in was drained in the background,
    /// on a thread-pool thread, and its connection came back only then: a closed loop's next attempt, begun at once, found no
    /// idle connection and opened a new one inside its send (send_delay_ms), or waited on the pool's lock behind that thread
    /// (docs/remote.md, "Send path"). vLLM's benchmark also reads the body to its end before it stamps a request's latency.
    /// A body that does not end within <see cref="BodyEndWait"/> (in all) or <see cref="BodyEndReadLimitBytes"/>, or breaks, does
    /// not fail the answer, which is complete: its connection is left to the HTTP layer, as before.
    /// </summary>
    private async ValueTask ReadToBodyEndAsync(Stream body, AttemptTimeouts timeouts)
    {
        // Not pooled: a read still pending after the wait may yet write into it.
        var buffer = new byte[512];
        var started = _time.GetTimestamp();
        var total = 0;
        Task<int>? pending = null;
        try
        {
            // One budget for the whole tail (a server trickling bytes after the end marker gets 50 ms in all, not per read).
            while (total <= BodyEndReadLimitBytes)
            {
                var left = BodyEndWait - _time.GetElapsedTime(started);
                if (left <= TimeSpan.Zero)
                {
                    return;
                }

                var read = body.ReadAsync(buffer, timeouts.Token);
                int count;
                if (read.IsCompletedSuccessfully)
                {
                    count = read.Result;
                }
                else
                {
                    pending = read.AsTask();
                    count = await pending.WaitAsync(left, _time, timeouts.Token);
                    pending = null;
                }

                if (count == 0)
                {
                    return;
                }

                total += count;
            }
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException or IOException or HttpRequestException or ObjectDisposedException)
        {
            // The answer is complete: a tail that does not come in time or breaks is left to the HTTP layer. A read still
            // pending (disposal breaks it) is observed so that it is not reported as unobserved.
            _ = pending?.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    /// <summary>Replaces configured secrets in answer text before anyone sees it (a key echoed within one chunk).</summary>
    private void RedactContents(IList<AIContent> contents)
    {
        if (_secrets.Values.Count == 0)
        {
            return;
        }

        foreach (var content in contents)
        {
            if (content is TextContent text)
            {
                text.Text = Redact(text.Text);
            }
            else if (content is TextReasoningContent reasoning)
            {
                reasoning.Text = Redact(reasoning.Text);
            }
        }
    }

    /// <summary>Responses WebSocket mode: one request per message on a pooled persistent connection, events as messages.</summary>
    private async IAsyncEnumerable<ChatResponseUpdate> StreamWebSocketAsync(IEnumerable<ChatMessage> messages, ChatOptions? options, AttemptRecorder? recorder, AttemptTimeouts timeouts)
    {
        var socket = await RentWebSocketAsync(timeouts);
        var reusable = false;
        try
        {
            try
            {
                await socket.SendAsync(BuildBody(messages, options, stream: false), WebSocketMessageType.Text, endOfMessage: true, timeouts.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or WebSocketException or IOException)
            {
                throw Translate(ex, timeouts, "sending on the WebSocket");
            }

            recorder?.Mark(StreamEventKind.RequestSent);
            var buffer = new ArrayBufferWriter<byte>(8192);
            var budget = new StreamBudget(_options.Limits.Resolve(options?.MaxOutputTokens));
            var state = new StreamState(OpenAIApi.Responses);
            var first = true;
            while (!state.Done)
            {
                buffer.ResetWrittenCount();
                timeouts.BeforeRead();
                bool open;
                try
                {
                    ValueWebSocketReceiveResult received;
                    do
                    {
                        received = await socket.ReceiveAsync(buffer.GetMemory(8192), timeouts.Token);
                        if (first)
                        {
                            recorder?.Mark(StreamEventKind.FirstByte);
                            first = false;
                        }

                        buffer.Advance(received.Count);
                        budget.OnMessageBytes(buffer.WrittenCount, received.Count);
                    }
                    while (!received.EndOfMessage && received.MessageType != WebSocketMessageType.Close);
                    open = received.MessageType != WebSocketMessageType.Close;
                }
                catch (Exception ex) when (ex is OperationCanceledException or WebSocketException or IOException)
                {
                    throw Translate(ex, timeouts, "reading the WebSocket");
                }

                if (!open)
                {
                    throw new BackendException("early_end", $"the WebSocket to {_endpoint} closed after {state.Events} events without response.completed");
                }

                budget.OnEvent();
                var update = ParseData(buffer.WrittenMemory, state);
                if (update is null)
                {
                    continue;
                }

                budget.OnUpdate(update);
                RedactContents(update.Contents);

                if (CarriesToken(update))
                {
                    timeouts.FirstTokenSeen();
                }

                yield return update;
            }

            reusable = true;
        }
        finally
        {
            if (reusable && socket.State == WebSocketState.Open)
            {
                _webSockets.Add(socket);
            }
            else
            {
                socket.Dispose();
            }
        }
    }

    private async Task<ClientWebSocket> RentWebSocketAsync(AttemptTimeouts timeouts)
    {
        while (_webSockets.TryTake(out var pooled))
        {
            if (pooled.State == WebSocketState.Open)
            {
                return pooled;
            }

            pooled.Dispose();
        }

        var socket = new ClientWebSocket();
        foreach (var (name, value) in _options.Headers)
        {
            socket.Options.SetRequestHeader(name, value);
        }

        _secrets.Apply(socket.Options);

        var start = _time.GetTimestamp();
        try
        {
            await socket.ConnectAsync(_endpoint, timeouts.Token);
        }
        catch (Exception ex) when (ex is OperationCanceledException or WebSocketException or HttpRequestException or IOException)
        {
            socket.Dispose();
            if (ex is OperationCanceledException && timeouts.CallerCancelled)
            {
                throw;
            }

            throw ex is OperationCanceledException
                ? Translate(ex, timeouts, "opening the WebSocket")
                : new BackendException("connect_error", Redact($"could not open a WebSocket to {_endpoint}: {ex.Message}"));
        }

        // Connection set-up for WebSocket mode includes the HTTP upgrade.
        Connections.Record(_time.GetElapsedTime(start));
        Interlocked.Increment(ref _webSocketsOpened);
        return socket;
    }

    private async Task<HttpResponseMessage> SendAsync(IEnumerable<ChatMessage> messages, ChatOptions? options, bool stream, AttemptRecorder? recorder, AttemptTimeouts timeouts, ArrivalSink? arrivals = null)
    {
        ArrivalSink.Current = arrivals;
        using var request = new HttpRequestMessage(HttpMethod.Post, _endpoint)
        {
            Content = new TimedJsonContent(RentBody(messages, options, stream), recorder, arrivals),
        };
        AddHeaders(request);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(stream ? "text/event-stream" : "application/json"));
        var context = ResilienceContextPool.Shared.Get(timeouts.Token);
        context.Properties.Set(RecorderKey, recorder);
        context.Properties.Set(TimeoutsKey, timeouts);
        request.SetResilienceContext(context);
        try
        {
            var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeouts.Token);
            _protocol.Saw(response);
            if (recorder is not null && response.Headers.TryGetValues(SimulatedHeader, out var simulated) && simulated.Contains("true", StringComparer.OrdinalIgnoreCase))
            {
                // serve-sim hosting a simulated backend says so: the attempt's timings are modelled, not measured.
                recorder.ServerSimulated = true;
            }

            if (arrivals is { FirstTimestamp: > 0 })
            {
                // The headers begin the response: the first segment of the read that brought them.
                recorder?.MarkAt(arrivals.FirstTimestamp, StreamEventKind.ResponseHeaders);
            }
            else
            {
                recorder?.Mark(StreamEventKind.ResponseHeaders);
            }
            return response;
        }
        catch (Exception ex) when (ex is OperationCanceledException or HttpRequestException or IOException or BrokenCircuitException)
        {
            throw Translate(ex, timeouts, "sending the request");
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    /// <summary>Whether attempts begin on <see cref="SendThread"/>: <c>tx_thread=on</c> (the default) with the system clock (a test's virtual clock keeps them on the caller's flow).</summary>
    private static bool UsesSendThread(OpenAIBackendOptions options, TimeProvider time) => options.SendThread && time == TimeProvider.System;

    /// <summary>True when the timing layer begins this client's attempts on <see cref="SendThread"/> (<see cref="OpenAIBackendOptions.SendThread"/>).</summary>
    public bool SendsFromSendThread => UsesSendThread(_options, _time);

    private void AddHeaders(HttpRequestMessage request)
    {
        // A request built by hand carries HTTP/1.1 unless told otherwise: HttpClient's defaults apply only to its helpers.
        request.Version = _http.DefaultRequestVersion;
        request.VersionPolicy = _http.DefaultVersionPolicy;
        foreach (var (name, value) in _options.Headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        _secrets.Apply(request);
    }

    private async Task EnsureSuccessAsync(HttpResponseMessage response, AttemptTimeouts timeouts, string expectedMediaType)
    {
        if (ResponseChecks.Classify(response, _endpoint, _secrets, _options.FollowRedirects) is { } unreadable)
        {
            throw unreadable;
        }

        if (!response.IsSuccessStatusCode)
        {
            var snippet = string.Empty;
            try
            {
                var text = await response.Content.ReadAsStringAsync(timeouts.Token);
                snippet = text.Length > 300 ? text[..300] + "…" : text;
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException or HttpRequestException)
            {
                snippet = "(body unreadable)";
            }

            var code = (int)response.StatusCode;
            throw new BackendException($"http_{code}", Redact($"HTTP {code} from {_endpoint}: {snippet}" + (timeouts.RetryDeclined is { } declined ? $" ({declined})" : "")));
        }

        var mediaType = response.Content.Headers.ContentType?.MediaType;
        if (!string.Equals(mediaType, expectedMediaType, StringComparison.OrdinalIgnoreCase))
        {
            throw new BackendException("wrong_content_type", Redact($"{_endpoint} answered with content type '{mediaType ?? "(none)"}', expected '{expectedMediaType}'"));
        }
    }

    private async Task<Stream> ReadBodyStreamAsync(HttpResponseMessage response, AttemptTimeouts timeouts)
    {
        try
        {
            return await response.Content.ReadAsStreamAsync(timeouts.Token);
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or HttpRequestException)
        {
            throw Translate(ex, timeouts, "opening the response body");
        }
    }

    /// <summary>Maps a transport exception to a classified one; caller cancellation passes through unchanged.</summary>
    private Exception Translate(Exception ex, AttemptTimeouts timeouts, string during)
    {
        if (ex is OperationCanceledException && timeouts.CallerCancelled)
        {
            return ex;
        }

        var (errorClass, what) = ex switch
        {
            OperationCanceledException when timeouts.TotalExpired => ("total_timeout", $"no end of stream within {timeouts.Total.TotalMilliseconds:0} ms"),
            OperationCanceledException when timeouts.PhaseExpired && !timeouts.FirstToken => ("ttft_timeout", $"no first token within {_options.TimeToFirstTokenTimeout.TotalMilliseconds:0} ms"),
            OperationCanceledException when timeouts.PhaseExpired => ("stream_stalled", $"no data for {_options.IdleTimeout.TotalMilliseconds:0} ms between chunks"),
            // Cancelled with none of this attempt's budgets spent: the transport abandoned the request (an HTTP/2 connection
            // that ended while the body was being sent cancels the body's write), not a timeout.
            OperationCanceledException when !timeouts.Token.IsCancellationRequested && _options.Http2 && !_protocol.Http2Answered =>
                (ProtocolMismatch.ErrorClass, ProtocolMismatch.Describe(ex)),
            OperationCanceledException when !timeouts.Token.IsCancellationRequested => ("connection_reset", $"the connection ended while the request was in flight ({ex.Message})"),
            OperationCanceledException => ("timeout", "timed out"),
            BrokenCircuitException => ("circuit_open", "the circuit breaker is open after repeated failures"),
            HttpRequestException when ProtocolMismatch.Is(ex, _options.Http2, _protocol.Http2Answered) => (ProtocolMismatch.ErrorClass, ProtocolMismatch.Describe(ex)),
            HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError } => ("connect_error", ex.Message),
            HttpRequestException { HttpRequestError: HttpRequestError.ResponseEnded } or HttpIOException { HttpRequestError: HttpRequestError.ResponseEnded } => ("connection_reset", ex.Message),
            HttpRequestException or HttpIOException or IOException => ("connection_reset", ex.Message),
            _ => ("error", ex.Message),
        };
        return new BackendException(errorClass, Redact($"{what} while {during} ({_endpoint})"), ex is OperationCanceledException ? null : new InvalidOperationException(Redact(ex.Message)));
    }

    /// <summary>Removes the API key from any text that could reach a log, a result or an exception.</summary>
    internal string Redact(string text) => _secrets.Redact(text);

    /// <summary>The conversation as both APIs take it: an array of {role, content} (chat "messages", responses "input").</summary>
    private static void WriteMessages(Utf8JsonWriter w, string property, IEnumerable<ChatMessage> messages)
    {
        w.WriteStartArray(property);
        foreach (var message in messages)
        {
            w.WriteStartObject();
            w.WriteString("role", message.Role.Value);
            w.WriteString("content", message.Text);
            w.WriteEndObject();
        }

        w.WriteEndArray();
    }

    /// <summary>The request body as its own array (the WebSocket API's message).</summary>
    private byte[] BuildBody(IEnumerable<ChatMessage> messages, ChatOptions? options, bool stream) =>
        WriteBody(messages, options, stream).WrittenSpan.ToArray();

    /// <summary>
    /// The request body in an array rented from the shared pool (<see cref="TimedJsonContent"/> returns it once written):
    /// building it allocated ~10 KB per attempt (a growing buffer and its copy) between the attempt's start stamp and the
    /// request's write, on the send thread, and every ~8 KB a thread allocates it takes the runtime's allocation lock, where
    /// a real-time thread that finds it held by a preempted thread sleeps 5 ms (docs/remote.md, "Send path").
    /// </summary>
    private (byte[] Array, int Length) RentBody(IEnumerable<ChatMessage> messages, ChatOptions? options, bool stream)
    {
        var written = WriteBody(messages, options, stream).WrittenSpan;
        var array = ArrayPool<byte>.Shared.Rent(written.Length);
        written.CopyTo(array);
        return (array, written.Length);
    }

    // One buffer and writer per thread, kept across attempts (each attempt's body is copied out before the next is written).
    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_body;

    [ThreadStatic]
    private static Utf8JsonWriter? t_bodyWriter;

    private ArrayBufferWriter<byte> WriteBody(IEnumerable<ChatMessage> messages, ChatOptions? options, bool stream)
    {
        var buffer = t_body ??= new ArrayBufferWriter<byte>(4096);
        buffer.ResetWrittenCount();
        var w = t_bodyWriter ??= new Utf8JsonWriter(buffer);
        w.Reset(buffer);
        try
        {
            w.WriteStartObject();
            w.WriteString("model", options?.ModelId ?? _options.Model);
            if (_options.Api == OpenAIApi.ChatCompletions)
            {
                WriteMessages(w, "messages", messages);
                if (stream)
                {
                    w.WriteBoolean("stream", true);
                    w.WriteStartObject("stream_options");
                    w.WriteBoolean("include_usage", true);
                    w.WriteEndObject();
                }

                if (options?.MaxOutputTokens is { } max)
                {
                    w.WriteNumber("max_tokens", max);
                }
            }
            else
            {
                if (_options.Api == OpenAIApi.ResponsesWebSocket)
                {
                    w.WriteString("type", "response.create");
                }

                if (options?.ConversationId is { } previous)
                {
                    w.WriteString("previous_response_id", previous);
                }

                WriteMessages(w, "input", messages);
                if (stream)
                {
                    w.WriteBoolean("stream", true);
                }

                if (options?.MaxOutputTokens is { } max)
                {
                    w.WriteNumber("max_output_tokens", max);
                }
            }

            if (options?.Temperature is { } temperature)
            {
                w.WriteNumber("temperature", temperature);
            }

            w.WriteEndObject();
            w.Flush();
        }
        catch
        {
            // A writer left mid-object must not carry its state into the next body.
            t_bodyWriter = null;
            throw;
        }

        return buffer;
    }

    /// <summary>What one stream has seen so far: ids, partial tool calls, whether its end marker came.</summary>
    private sealed class StreamState(OpenAIApi api)
    {
        public OpenAIApi Api { get; } = api;
        public bool Done { get; set; }
        public int Events { get; set; }
        public string? ResponseId { get; set; }
        public string? Model { get; set; }
        public Dictionary<int, (string? Id, string? Name, StringBuilder Arguments)> ToolCalls { get; } = [];
    }

    private ChatResponseUpdate? ParseEvent(SseReader reader, StreamState state)
    {
        state.Events++;
        if (StreamErrors.FromEvent(reader.EventName, reader.DataMemory, Redact) is { } error)
        {
            throw error;
        }

        return ParseData(reader.DataMemory, state, counted: true);
    }

    private ChatResponseUpdate? ParseData(ReadOnlyMemory<byte> data, StreamState state, bool counted = false)
    {
        if (!counted)
        {
            state.Events++;
        }

        if (state.Api == OpenAIApi.ChatCompletions && data.Span.SequenceEqual("[DONE]"u8))
        {
            state.Done = true;
            return null;
        }

        if (state.Api == OpenAIApi.ChatCompletions && TryParsePlainChatDelta(data.Span, state) is { } plain)
        {
            return plain;
        }

        try
        {
            using var document = JsonDocument.Parse(data);
            return state.Api == OpenAIApi.ChatCompletions ? ParseChatChunk(document.RootElement, state) : ParseResponsesEvent(document.RootElement, state);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or KeyNotFoundException or FormatException)
        {
            throw new BackendException("malformed_chunk", Redact($"event {state.Events} from {_endpoint} is not valid JSON of the expected shape: {ex.Message}"));
        }
    }

    private static bool CarriesToken(ChatResponseUpdate update)
    {
        foreach (var content in update.Contents)
        {
            if (content is TextContent or TextReasoningContent or FunctionCallContent)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// The common chat chunk (role, content or reasoning delta; no finish, tool calls, usage or error) read with one
    /// forward pass instead of a document; null for anything else, which <see cref="ParseChatChunk"/> then reads.
    /// </summary>
    private static ChatResponseUpdate? TryParsePlainChatDelta(ReadOnlySpan<byte> data, StreamState state)
    {
        string? id = null, model = null, content = null, reasoning = null;
        bool seenId = false, seenModel = false, seenChoices = false, seenContent = false, seenReasoning = false;
        try
        {
            var reader = new Utf8JsonReader(data);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return null;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("id"u8) || reader.ValueTextEquals("model"u8))
                {
                    var isId = reader.ValueTextEquals("id"u8);
                    reader.Read();
                    if ((isId ? seenId : seenModel) || reader.TokenType is not (JsonTokenType.String or JsonTokenType.Null))
                    {
                        return null;
                    }

                    if (isId)
                    {
                        seenId = true;
                        id = state.ResponseId is null ? reader.GetString() : null;
                    }
                    else
                    {
                        seenModel = true;
                        model = state.Model is null ? reader.GetString() : null;
                    }
                }
                else if (reader.ValueTextEquals("choices"u8))
                {
                    reader.Read();
                    if (seenChoices || reader.TokenType != JsonTokenType.StartArray || !reader.Read() || reader.TokenType != JsonTokenType.StartObject)
                    {
                        return null;
                    }

                    seenChoices = true;
                    bool seenDelta = false, seenFinish = false;
                    while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                    {
                        if (reader.ValueTextEquals("delta"u8))
                        {
                            reader.Read();
                            if (seenDelta || reader.TokenType != JsonTokenType.StartObject)
                            {
                                return null;
                            }

                            seenDelta = true;
                            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                            {
                                if (reader.ValueTextEquals("content"u8))
                                {
                                    reader.Read();
                                    if (seenContent || reader.TokenType is not (JsonTokenType.String or JsonTokenType.Null))
                                    {
                                        return null;
                                    }

                                    seenContent = true;
                                    content = reader.GetString();
                                }
                                else if (reader.ValueTextEquals("reasoning_content"u8) || reader.ValueTextEquals("reasoning"u8))
                                {
                                    reader.Read();
                                    if (seenReasoning || reader.TokenType is not (JsonTokenType.String or JsonTokenType.Null))
                                    {
                                        return null;
                                    }

                                    seenReasoning = true;
                                    reasoning = reader.GetString();
                                }
                                else if (reader.ValueTextEquals("tool_calls"u8))
                                {
                                    return null;
                                }
                                else
                                {
                                    reader.Skip();
                                }
                            }
                        }
                        else if (reader.ValueTextEquals("finish_reason"u8))
                        {
                            reader.Read();
                            if (seenFinish || reader.TokenType != JsonTokenType.Null)
                            {
                                return null;
                            }

                            seenFinish = true;
                        }
                        else
                        {
                            reader.Read();
                            reader.Skip();
                        }
                    }

                    // Only the first choice counts, as in the document path; a second one sends the chunk there.
                    if (!reader.Read() || reader.TokenType != JsonTokenType.EndArray)
                    {
                        return null;
                    }
                }
                else if (reader.ValueTextEquals("object"u8))
                {
                    // vLLM's older in-stream error is {"object": "error", "message": …}: the document path reports it.
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.String && reader.ValueTextEquals("error"u8))
                    {
                        return null;
                    }

                    reader.Skip();
                }
                else if (reader.ValueTextEquals("usage"u8) || reader.ValueTextEquals("error"u8))
                {
                    reader.Read();
                    if (reader.TokenType != JsonTokenType.Null)
                    {
                        return null;
                    }
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }

            if (reader.TokenType != JsonTokenType.EndObject || reader.Read())
            {
                return null;
            }
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            // Malformed (invalid UTF-8 or a lone surrogate included): the document path reports it with its classification.
            return null;
        }

        state.ResponseId ??= id;
        state.Model ??= model;
        var contents = new List<AIContent>(1);
        if (content is { Length: > 0 })
        {
            contents.Add(new TextContent(content));
        }

        if (reasoning is { Length: > 0 })
        {
            contents.Add(new TextReasoningContent(reasoning));
        }

        return new ChatResponseUpdate(ChatRole.Assistant, contents)
        {
            ResponseId = state.ResponseId,
            ModelId = state.Model,
        };
    }

    private ChatResponseUpdate? ParseChatChunk(JsonElement root, StreamState state)
    {
        if (StreamErrors.FromJson(root, Redact) is { } error)
        {
            throw error;
        }

        state.ResponseId ??= root.TryGetProperty("id", out var id) ? id.GetString() : null;
        state.Model ??= root.TryGetProperty("model", out var model) ? model.GetString() : null;
        var contents = new List<AIContent>(1);
        ChatFinishReason? finish = null;
        if (root.TryGetProperty("choices", out var choices) && choices.ValueKind == JsonValueKind.Array && choices.GetArrayLength() > 0)
        {
            var choice = choices[0];
            if (choice.TryGetProperty("delta", out var delta) && delta.ValueKind == JsonValueKind.Object)
            {
                if (delta.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.String && content.GetString() is { Length: > 0 } text)
                {
                    contents.Add(new TextContent(text));
                }

                if ((delta.TryGetProperty("reasoning_content", out var reasoning) || delta.TryGetProperty("reasoning", out reasoning))
                    && reasoning.ValueKind == JsonValueKind.String && reasoning.GetString() is { Length: > 0 } thought)
                {
                    contents.Add(new TextReasoningContent(thought));
                }

                if (delta.TryGetProperty("tool_calls", out var calls) && calls.ValueKind == JsonValueKind.Array)
                {
                    foreach (var call in calls.EnumerateArray())
                    {
                        var index = call.TryGetProperty("index", out var ix) ? ix.GetInt32() : 0;
                        if (!state.ToolCalls.TryGetValue(index, out var partial))
                        {
                            partial = (null, null, new StringBuilder());
                        }

                        if (call.TryGetProperty("id", out var callId) && callId.ValueKind == JsonValueKind.String)
                        {
                            partial.Id = callId.GetString();
                        }

                        if (call.TryGetProperty("function", out var function))
                        {
                            if (function.TryGetProperty("name", out var name) && name.ValueKind == JsonValueKind.String)
                            {
                                partial.Name = name.GetString();
                            }

                            if (function.TryGetProperty("arguments", out var args) && args.ValueKind == JsonValueKind.String)
                            {
                                partial.Arguments.Append(args.GetString());
                            }
                        }

                        state.ToolCalls[index] = partial;
                    }
                }
            }

            if (choice.TryGetProperty("finish_reason", out var reason) && reason.ValueKind == JsonValueKind.String)
            {
                finish = new ChatFinishReason(reason.GetString()!);
                // Tool calls arrive in fragments; they are complete when the choice finishes.
                foreach (var (_, call) in state.ToolCalls.OrderBy(kv => kv.Key))
                {
                    contents.Add(new FunctionCallContent(call.Id ?? string.Empty, call.Name ?? string.Empty, ParseArguments(call.Arguments.ToString())));
                }

                state.ToolCalls.Clear();
            }
        }

        if (root.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object)
        {
            contents.Add(new UsageContent(ChatUsage(usage)));
        }

        return new ChatResponseUpdate(ChatRole.Assistant, contents)
        {
            ResponseId = state.ResponseId,
            ModelId = state.Model,
            FinishReason = finish,
        };
    }

    private ChatResponseUpdate? ParseResponsesEvent(JsonElement root, StreamState state)
    {
        if (!root.TryGetProperty("type", out _) && StreamErrors.FromJson(root, Redact) is { } error)
        {
            throw error;
        }

        var type = root.GetProperty("type").GetString();
        switch (type)
        {
            case "response.created" or "response.in_progress":
                state.ResponseId ??= root.GetProperty("response").GetProperty("id").GetString();
                state.Model ??= root.GetProperty("response").TryGetProperty("model", out var m) ? m.GetString() : null;
                return new ChatResponseUpdate(ChatRole.Assistant, []) { ResponseId = state.ResponseId, ModelId = state.Model };
            case "response.output_text.delta":
                return Update(new TextContent(root.GetProperty("delta").GetString()));
            case "response.reasoning_text.delta" or "response.reasoning_summary_text.delta":
                return Update(new TextReasoningContent(root.GetProperty("delta").GetString()));
            case "response.output_item.done" when root.GetProperty("item").GetProperty("type").GetString() == "function_call":
                var item = root.GetProperty("item");
                return Update(new FunctionCallContent(item.GetProperty("call_id").GetString() ?? string.Empty, item.GetProperty("name").GetString() ?? string.Empty,
                    ParseArguments(item.GetProperty("arguments").GetString() ?? string.Empty)));
            case "response.completed":
                state.Done = true;
                var response = root.GetProperty("response");
                var update = Update(response.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object
                    ? new UsageContent(ResponsesUsage(usage)) : null);
                update.FinishReason = ChatFinishReason.Stop;
                return update;
            case "response.failed" or "error":
                throw new BackendException("server_error_event", Redact($"the stream carried {type}: {root.GetRawText()}"));
            case "response.incomplete":
                throw new BackendException("incomplete", Redact($"the response ended incomplete: {root.GetProperty("response").GetProperty("incomplete_details").GetRawText()}"));
            default:
                return null;
        }

        ChatResponseUpdate Update(AIContent? content) =>
            new(ChatRole.Assistant, content is null ? [] : [content]) { ResponseId = state.ResponseId, ModelId = state.Model };
    }

    private static Dictionary<string, object?>? ParseArguments(string json)
    {
        if (string.IsNullOrWhiteSpace(json))
        {
            return null;
        }

        using var document = JsonDocument.Parse(json);
        var result = new Dictionary<string, object?>(StringComparer.Ordinal);
        if (document.RootElement.ValueKind == JsonValueKind.Object)
        {
            foreach (var property in document.RootElement.EnumerateObject())
            {
                result[property.Name] = property.Value.Clone();
            }
        }

        return result;
    }

    private static UsageDetails ChatUsage(JsonElement usage) => Usage(usage, "prompt_tokens", "completion_tokens", "completion_tokens_details");

    private static UsageDetails ResponsesUsage(JsonElement usage) => Usage(usage, "input_tokens", "output_tokens", "output_tokens_details");

    /// <summary>Reads a usage object; Chat Completions and Responses name the same counts differently.</summary>
    private static UsageDetails Usage(JsonElement usage, string input, string output, string outputDetails)
    {
        static long? Number(JsonElement e, string name) =>
            e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt64() : null;

        return new UsageDetails
        {
            InputTokenCount = Number(usage, input),
            OutputTokenCount = Number(usage, output),
            TotalTokenCount = Number(usage, "total_tokens"),
            ReasoningTokenCount = usage.TryGetProperty(outputDetails, out var d) && d.ValueKind == JsonValueKind.Object ? Number(d, "reasoning_tokens") : null,
        };
    }

    private ChatResponse ParseChatCompletion(JsonElement root)
    {
        var choice = root.GetProperty("choices")[0];
        var message = choice.GetProperty("message");
        var contents = new List<AIContent>();
        if ((message.TryGetProperty("reasoning_content", out var reasoning) || message.TryGetProperty("reasoning", out reasoning)) && reasoning.ValueKind == JsonValueKind.String)
        {
            contents.Add(new TextReasoningContent(reasoning.GetString()));
        }

        if (message.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.String)
        {
            contents.Add(new TextContent(content.GetString()));
        }

        return new ChatResponse(new ChatMessage(ChatRole.Assistant, contents))
        {
            ResponseId = root.TryGetProperty("id", out var id) ? id.GetString() : null,
            ModelId = root.TryGetProperty("model", out var model) ? model.GetString() : _options.Model,
            FinishReason = choice.TryGetProperty("finish_reason", out var f) && f.ValueKind == JsonValueKind.String ? new ChatFinishReason(f.GetString()!) : null,
            Usage = root.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object ? ChatUsage(usage) : null,
        };
    }

    private ChatResponse ParseResponse(JsonElement root)
    {
        var contents = new List<AIContent>();
        foreach (var item in root.GetProperty("output").EnumerateArray())
        {
            var type = item.GetProperty("type").GetString();
            if (type is "message" or "reasoning" && item.TryGetProperty("content", out var parts) && parts.ValueKind == JsonValueKind.Array)
            {
                foreach (var part in parts.EnumerateArray())
                {
                    var text = part.TryGetProperty("text", out var t) ? t.GetString() : null;
                    contents.Add(type == "message" ? new TextContent(text) : new TextReasoningContent(text));
                }
            }
        }

        return new ChatResponse(new ChatMessage(ChatRole.Assistant, contents))
        {
            ResponseId = root.TryGetProperty("id", out var id) ? id.GetString() : null,
            ModelId = root.TryGetProperty("model", out var model) ? model.GetString() : _options.Model,
            Usage = root.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object ? ResponsesUsage(usage) : null,
        };
    }

    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is not null ? null
        : serviceType == typeof(ChatClientMetadata) ? _metadata
        : serviceType == typeof(ConnectionStats) ? Connections
        : serviceType == typeof(TokenCounter) ? Tokens
        // tx_thread=on: the timing layer begins each attempt on the send thread (docs/remote.md, "Send path").
        : serviceType == typeof(IAttemptStartThread) ? (SendsFromSendThread ? SendThread.Instance : null)
        : serviceType.IsInstanceOfType(this) ? this
        : null;

    public void Dispose()
    {
        while (_webSockets.TryTake(out var socket))
        {
            socket.Dispose();
        }

        _http.Dispose();
    }

    /// <summary>
    /// JSON request content that stamps <see cref="StreamEventKind.RequestSent"/> once its bytes are written: at the kernel's
    /// transmit time of its last byte where the connection has one (<see cref="ArrivalSink.TransmitTimestamp"/>), else when
    /// the write returned.
    /// </summary>
    private sealed class TimedJsonContent : HttpContent
    {
        private readonly byte[] _body;
        private readonly int _length;
        private readonly AttemptRecorder? _recorder;
        private readonly ArrivalSink? _sink;
        private bool _written;
        private bool _returned;

        /// <summary>A body in an array rented from the shared pool: returned on disposal if it was written whole (a write cut short may still be reading it).</summary>
        public TimedJsonContent((byte[] Array, int Length) body, AttemptRecorder? recorder, ArrivalSink? sink)
        {
            (_body, _length) = body;
            _recorder = recorder;
            _sink = sink;
            Headers.ContentType = new MediaTypeHeaderValue("application/json");
        }

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
            await SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        {
            if (_sink is not null)
            {
                // A retry's try must not take the previous try's stamp.
                _sink.TransmitTimestamp = 0;
            }

            _written = false;
            await stream.WriteAsync(_body.AsMemory(0, _length), cancellationToken);
            await stream.FlushAsync(cancellationToken);
            _written = true;
            if (_sink is { TransmitTimestamp: > 0 } sink)
            {
                _recorder?.MarkAt(sink.TransmitTimestamp, StreamEventKind.RequestSent);
            }
            else
            {
                _recorder?.Mark(StreamEventKind.RequestSent);
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = _length;
            return true;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing && _written && !_returned)
            {
                _returned = true;
                ArrayPool<byte>.Shared.Return(_body);
            }

            base.Dispose(disposing);
        }
    }
}

/// <summary>The timeouts of one attempt: caller cancellation, a total deadline, and a phase deadline (first token, then idle).</summary>
internal sealed class AttemptTimeouts : IDisposable
{
    private readonly CancellationToken _caller;
    private readonly CancellationTokenSource _total;
    private readonly CancellationTokenSource _phase;
    private readonly CancellationTokenSource _linked;
    private readonly OpenAIBackendOptions _options;
    private readonly TimeProvider _time;
    private readonly long _started;
    private long _phaseStarted;

    public AttemptTimeouts(TimeProvider time, OpenAIBackendOptions options, CancellationToken caller)
    {
        _caller = caller;
        _options = options;
        _time = time;
        _started = _phaseStarted = time.GetTimestamp();
        Total = options.TotalTimeout;
        _total = new CancellationTokenSource(options.TotalTimeout, time);
        _phase = new CancellationTokenSource(options.TimeToFirstTokenTimeout, time);
        _linked = CancellationTokenSource.CreateLinkedTokenSource(caller, _total.Token, _phase.Token);
    }

    public TimeSpan Total { get; }

    public CancellationToken Token => _linked.Token;

    public bool FirstToken { get; private set; }

    public bool CallerCancelled => _caller.IsCancellationRequested;

    public bool TotalExpired => _total.IsCancellationRequested;

    public bool PhaseExpired => _phase.IsCancellationRequested;

    /// <summary>When a retry starts (after its back-off), it gets the full TTFT budget again.</summary>
    public void RestartTimeToFirstToken()
    {
        if (!FirstToken && !_phase.IsCancellationRequested)
        {
            _phase.CancelAfter(_options.TimeToFirstTokenTimeout);
            _phaseStarted = _time.GetTimestamp();
        }
    }

    public void FirstTokenSeen() => FirstToken = true;

    /// <summary>Before the first token: the time left until the TTFT or the total deadline, whichever comes first.</summary>
    public TimeSpan Remaining
    {
        get
        {
            var total = Total - _time.GetElapsedTime(_started);
            var phase = _options.TimeToFirstTokenTimeout - _time.GetElapsedTime(_phaseStarted);
            return total < phase ? total : phase;
        }
    }

    /// <summary>Why the retry strategy did not retry the last failed try (a Retry-After too long), for the reported error.</summary>
    public string? RetryDeclined { get; set; }

    /// <summary>After the first token, each read gets the idle budget.</summary>
    public void BeforeRead()
    {
        if (FirstToken && !_phase.IsCancellationRequested)
        {
            _phase.CancelAfter(_options.IdleTimeout);
        }
    }

    public void Dispose()
    {
        _linked.Dispose();
        _phase.Dispose();
        _total.Dispose();
    }
}
