using System.Globalization;
using Microsoft.Extensions.AI;
using Spark.Eval.Core;
using Spark.Eval.Core.Backends;
using Spark.Eval.Core.Results;

namespace Spark.Eval.Backends.Remote;

/// <summary>
/// Factory for <c>openai?url=…&amp;model=…&amp;key_env=…&amp;api=chat|responses</c>: any OpenAI-compatible server.
/// Settings are documented in docs/remote.md.
/// </summary>
public sealed class OpenAIBackendFactory : IBackendFactory
{
    private static readonly string[] Keys =
    [
        "name", "url", "model", "key_env", "api", "headers", "connect_timeout_ms", "ttft_timeout_ms", "idle_timeout_ms",
        "total_timeout_ms", "retries", "retry_base_ms", "max_concurrency", "breaker_min_throughput", "http2", "http_version", "preconnect", "tokenizer",
        "rx_timestamps", "rx_thread", "tx_thread", "headers_env", "follow_redirects", "retry_max_ms",
        .. StreamLimits.Keys,
    ];

    /// <summary>Most connections warmed by default (a closed loop of more requests opens the rest in its first attempts).</summary>
    public const int DefaultPreconnectLimit = 1024;

    public string Kind => "openai";

    public string Usage => "openai?url=http://127.0.0.1:8000/v1&model=M&key_env=OPENAI_API_KEY&api=chat|responses|responses_ws&headers=k:v|k2:v2&headers_env=api-key:VAR — any OpenAI-compatible API; more settings in docs/remote.md";

    public async Task<BackendHandle> CreateAsync(BackendSpec spec, BackendContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(context);
        var options = ParseOptions(spec);
        var secretHeaders = SecretHeaders(spec);
        spec.EnsureAllRead(Keys);
        string? key = null;
        if (options.KeyEnvironmentVariable is { } variable)
        {
            key = Environment.GetEnvironmentVariable(variable);
            if (string.IsNullOrEmpty(key))
            {
                throw new InputException($"--backend '{spec.Text}': key_env={variable} but the environment variable {variable} is empty or not set. Fix: export {variable}=… (the key is read from there and never written anywhere)");
            }
        }

        var client = new OpenAICompatibleChatClient(options, context.Time, key, secretHeaders);
        // Without preconnect= a run that holds N requests in flight warms N connections (docs/remote.md): a cold one would be
        // opened inside the first attempts' measured window (~300 ms of send delay for the first 64 on a loaded 2-core VM).
        var byDefault = spec.GetString("preconnect") is null && context.Concurrency > 0 && options.Api != OpenAIApi.ResponsesWebSocket;
        if (byDefault)
        {
            options = options with { Preconnect = true, PreconnectConnections = Math.Min(context.Concurrency, DefaultPreconnectLimit) };
        }

        if (options.Preconnect)
        {
            // Concurrent requests held open together: HTTP/1.1 opens one connection for each, all warm before the first attempt.
            try
            {
                await client.PreconnectAsync(options.PreconnectConnections, cancellationToken);
                context.Log($"{spec.Name}: pre-connected to {SafeUrl(options.BaseUrl)} ({client.Connections.ConnectMilliseconds.Count} connection(s) open{(byDefault ? ", one per request in flight; preconnect=0 turns it off" : "")})");
            }
            catch (BackendException ex) when (byDefault)
            {
                // Not asked for: a server that cannot be reached now fails the attempts themselves, classified, as before.
                context.Log($"{spec.Name}: warming connections failed ({ex.Message}); the attempts open their own");
            }
        }

        // What the server says it serves: responses often echo the requested name whatever model is loaded.
        var listed = options.Api == OpenAIApi.ResponsesWebSocket ? null : await client.ListModelsAsync(TimeSpan.FromSeconds(5), cancellationToken);
        var (reported, warning) = ServerModels.Reconcile(options.Model, listed);
        if (warning is not null)
        {
            context.Log($"{spec.Name}: {warning}");
        }

        var description = string.Create(CultureInfo.InvariantCulture,
            $"OpenAI-compatible {options.Api switch { OpenAIApi.ChatCompletions => "Chat Completions", OpenAIApi.Responses => "Responses", _ => "Responses (WebSocket)" }} API at {SafeUrl(options.BaseUrl)} over HTTP/{(options.Http2 ? "2" : "1.1")}, model {options.Model}, client tokenizer {client.Tokens.Name}, event stamps {(client.KernelReceiveTimestamps ? "kernel receive time" + (options.ReceiveThread ? $" (read by {ReceiveReader.Description ?? "one receive thread"})" : " (read by the HTTP layer)") : "client parse time")}, request_sent {(client.KernelReceiveTimestamps ? "kernel transmit time of the request's last byte (SO_TIMESTAMPING software stamp; when the write returned where the kernel gives none)" : "when the request's write returned")}, attempts begun (start stamp to request write) on {(client.SendsFromSendThread ? SendThread.Instance.Description + " (tx_thread=off: on the attempt's own thread)" : "the attempt's own thread" + (options.SendThread ? " (the send thread needs the system clock)" : " (tx_thread=off)"))}, {(options.Preconnect ? $"{client.Connections.ConnectMilliseconds.Count} connection(s) opened and warmed before the first attempt{(byDefault ? " (one per request in flight, by default)" : "")}, " : "")}server lists models: {(listed is null ? "(none listed)" : string.Join(", ", listed.Take(5)))}{(warning is null ? "" : "; " + warning)}");
        // max_concurrency is a layer of its own (shared backend behaviour), not code inside the client.
        var pipeline = options.MaxConcurrency > 0
            ? new ChatClientBuilder(client).UseConcurrencyLimit(options.MaxConcurrency, options.TimeToFirstTokenTimeout, context.Time).Build()
            : client;
        return new BackendHandle(new BackendInfo(spec.Name, spec.Text, Kind, description, Simulated: false, reported), pipeline);
    }

    /// <summary>
    /// <c>headers_env=name:VAR|name2:VAR2</c>: header values read from environment variables (secrets such as Azure's
    /// <c>api-key</c>), so that only the variable names are in the spec, the manifest and the results.
    /// </summary>
    public static IReadOnlyDictionary<string, string> SecretHeaders(BackendSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        if (spec.GetString("headers_env") is not { } text)
        {
            return headers;
        }

        foreach (var pair in text.Split('|', StringSplitOptions.RemoveEmptyEntries))
        {
            var colon = pair.IndexOf(':', StringComparison.Ordinal);
            var name = colon > 0 ? pair[..colon].Trim() : string.Empty;
            var variable = colon > 0 ? pair[(colon + 1)..].Trim() : string.Empty;
            if (name.Length == 0 || variable.Length == 0)
            {
                throw new InputException($"--backend '{spec.Text}': headers_env entry '{pair}' is not name:VARIABLE. Fix: write headers_env=api-key:AZURE_OPENAI_KEY|x-other:VAR2 (the header's value is read from that environment variable)");
            }

            if (name.Equals("Authorization", StringComparison.OrdinalIgnoreCase))
            {
                throw new InputException($"--backend '{spec.Text}': headers_env must not set Authorization. Fix: name the key's variable with key_env (sent as a bearer token)");
            }

            var value = Environment.GetEnvironmentVariable(variable);
            if (string.IsNullOrEmpty(value))
            {
                throw new InputException($"--backend '{spec.Text}': headers_env={name}:{variable} but the environment variable {variable} is empty or not set. Fix: export {variable}=… (the value is read from there and never written anywhere)");
            }

            headers[name] = value;
        }

        return headers;
    }

    /// <summary>Reads the spec's settings into options, validating each (InputException on bad values).</summary>
    public static OpenAIBackendOptions ParseOptions(BackendSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var urlText = spec.GetString("url") ?? throw new InputException($"--backend '{spec.Text}': url is missing. Fix: add url=http://host:port/v1");
        if (!Uri.TryCreate(urlText, UriKind.Absolute, out var url) || (url.Scheme != Uri.UriSchemeHttp && url.Scheme != Uri.UriSchemeHttps))
        {
            throw new InputException($"--backend '{spec.Text}': url={urlText} is not an absolute http(s) URL. Fix: write url=http://127.0.0.1:8000/v1");
        }

        if (urlText.Contains(SecretRedaction.Marker, StringComparison.Ordinal) || url.Query.Contains(Uri.EscapeDataString(SecretRedaction.Marker), StringComparison.OrdinalIgnoreCase))
        {
            throw new InputException($"--backend '{spec.Text}': the url carries {SecretRedaction.Marker}: a secret query parameter was redacted when the run's manifest was written, so a resumed run cannot send it. Fix: send the key with key_env= or headers_env= instead of in the url");
        }

        if (!string.IsNullOrEmpty(url.UserInfo))
        {
            throw new InputException($"--backend '{spec.Name}': url carries credentials. Fix: remove user:password@ from the url and put the key in an environment variable named by key_env");
        }

        var model = spec.GetString("model") ?? throw new InputException($"--backend '{spec.Text}': model is missing. Fix: add model=<the server's model id>");
        var api = spec.GetString("api", "chat") switch
        {
            "chat" => OpenAIApi.ChatCompletions,
            "responses" => OpenAIApi.Responses,
            "responses_ws" => OpenAIApi.ResponsesWebSocket,
            var other => throw new InputException($"--backend '{spec.Text}': api={other} is unknown. Fix: use api=chat, api=responses or api=responses_ws"),
        };
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        if (spec.GetString("headers") is { } headerText)
        {
            foreach (var pair in headerText.Split('|', StringSplitOptions.RemoveEmptyEntries))
            {
                var colon = pair.IndexOf(':', StringComparison.Ordinal);
                if (colon <= 0)
                {
                    throw new InputException($"--backend '{spec.Text}': header '{pair}' is not name:value. Fix: write headers=name:value|name2:value2 (URL-encode & as %26)");
                }

                var name = pair[..colon].Trim();
                var value = pair[(colon + 1)..].Trim();
                if (value == SecretRedaction.Marker)
                {
                    throw new InputException($"--backend '{spec.Text}': the value of header {name} is {SecretRedaction.Marker}: it is a secret, and secrets are not written to a run's manifest, so a resumed run cannot send it. Fix: send it with headers_env={name}:VARIABLE (read from the environment, also on --resume) instead of headers=");
                }

                headers[name] = value;
            }
        }

        if (headers.ContainsKey("Authorization"))
        {
            throw new InputException($"--backend '{spec.Name}': headers must not carry Authorization. Fix: put the key in an environment variable and name it with key_env");
        }

        return new OpenAIBackendOptions
        {
            BaseUrl = url,
            Model = model,
            Api = api,
            KeyEnvironmentVariable = spec.GetString("key_env"),
            Headers = headers,
            ConnectTimeout = Ms(spec, "connect_timeout_ms", 10_000),
            TimeToFirstTokenTimeout = Ms(spec, "ttft_timeout_ms", 60_000),
            IdleTimeout = Ms(spec, "idle_timeout_ms", 30_000),
            TotalTimeout = Ms(spec, "total_timeout_ms", 300_000),
            MaxRetries = spec.GetInt("retries", 3, 0, 20),
            RetryBaseDelay = Ms(spec, "retry_base_ms", 500),
            MaxConcurrency = spec.GetInt("max_concurrency", 0, 0, 100_000),
            BreakerMinimumThroughput = spec.GetInt("breaker_min_throughput", 20, 0, 1_000_000),
            Http2 = HttpVersionSetting(spec),
            Tokenizer = spec.GetString("tokenizer") is { } t && t != "auto" ? ModelTokenizers.Encoding(t, spec.Text) : null,
            RetryMaxDelay = Ms(spec, "retry_max_ms", 30_000),
            FollowRedirects = spec.GetString("follow_redirects") switch
            {
                null or "false" or "0" => false,
                "true" or "1" => true,
                var v => throw new InputException($"--backend '{spec.Text}': follow_redirects={v} is not true or false. Fix: write follow_redirects=true to follow 307/308 redirects (credentials are dropped across origins), or leave it out"),
            },
            Limits = StreamLimits.Parse(spec),
            Preconnect = spec.GetInt("preconnect", 0, 0, 4096) > 0,
            PreconnectConnections = Math.Max(1, spec.GetInt("preconnect", 0, 0, 4096)),
            KernelReceiveTimestamps = spec.GetString("rx_timestamps") switch
            {
                null or "kernel" => true,
                "off" => false,
                var v => throw new InputException($"--backend '{spec.Text}': rx_timestamps={v} is not a stamping mode. Fix: write rx_timestamps=kernel (the default: the kernel's receive time of each event's bytes) or rx_timestamps=off (the moment the client parsed it)"),
            },
            SendThread = spec.GetString("tx_thread") switch
            {
                null or "on" or "1" or "true" => true,
                "off" or "0" or "false" => false,
                var v => throw new InputException($"--backend '{spec.Text}': tx_thread={v} is not on or off. Fix: write tx_thread=on (the default: one send thread, real-time priority where permitted, writes every request right after its attempt's start stamp) or tx_thread=off (the attempt's own thread sends it)"),
            },
            ReceiveThread = spec.GetString("rx_thread") switch
            {
                null or "on" or "1" or "true" => true,
                "off" or "0" or "false" => false,
                var v => throw new InputException($"--backend '{spec.Text}': rx_thread={v} is not on or off. Fix: write rx_thread=on (the default: one receive thread takes every connection's bytes as they arrive, each read stamped) or rx_thread=off (the HTTP layer's reads take them)"),
            },
        };
    }

    /// <summary><c>http_version=1.1|2</c> (or the older <c>http2=0|1</c>): true for HTTP/2.</summary>
    private static bool HttpVersionSetting(BackendSpec spec)
    {
        var legacy = spec.GetInt("http2", 0, 0, 1) == 1;
        return spec.GetString("http_version") switch
        {
            null => legacy,
            "1.1" or "1" => false,
            "2" or "2.0" => true,
            var v => throw new InputException($"--backend '{spec.Text}': http_version={v} is not a supported HTTP version. Fix: write http_version=1.1 or http_version=2 (h2c with prior knowledge on http://)"),
        };
    }

    private static TimeSpan Ms(BackendSpec spec, string key, double fallback) =>
        TimeSpan.FromMilliseconds(spec.GetDouble(key, fallback, 1, 86_400_000));

    private static string SafeUrl(Uri url) => url.GetLeftPart(UriPartial.Path);
}
