namespace Spark.Eval.Backends.Remote;

/// <summary>Which OpenAI-compatible API a remote backend speaks.</summary>
public enum OpenAIApi
{
    /// <summary>POST {base}/chat/completions.</summary>
    ChatCompletions,
    /// <summary>POST {base}/responses.</summary>
    Responses,
    /// <summary>Responses over one persistent WebSocket per concurrent request (ws(s)://{base}/responses), reused across attempts.</summary>
    ResponsesWebSocket,
}

/// <summary>Settings of one OpenAI-compatible remote backend; the key itself is not here, only the name of its variable.</summary>
public sealed record OpenAIBackendOptions
{
    /// <summary>Base URL ending in the API version, e.g. http://127.0.0.1:8000/v1.</summary>
    public required Uri BaseUrl { get; init; }

    public required string Model { get; init; }

    public OpenAIApi Api { get; init; } = OpenAIApi.ChatCompletions;

    /// <summary>Name of the environment variable holding the API key (never the key).</summary>
    public string? KeyEnvironmentVariable { get; init; }

    /// <summary>Headers sent with every request (for example x-spark-fault against serve-sim).</summary>
    public IReadOnlyDictionary<string, string> Headers { get; init; } = new Dictionary<string, string>();

    /// <summary>TCP (and DNS) connect timeout.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>From the start of the try that serves the answer to its first content, reasoning or tool-call event.</summary>
    public TimeSpan TimeToFirstTokenTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Longest silence between two stream reads after the first token.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The whole attempt, retries included.</summary>
    public TimeSpan TotalTimeout { get; init; } = TimeSpan.FromSeconds(300);

    /// <summary>Retries before the first byte (429, 5xx, 408, connection failures); 0 disables.</summary>
    public int MaxRetries { get; init; } = 3;

    /// <summary>Base of the exponential back-off when the server gives no Retry-After; jitter is added.</summary>
    public TimeSpan RetryBaseDelay { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Longest wait before one retry, Retry-After included.</summary>
    public TimeSpan RetryMaxDelay { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Requests in flight at once to this backend (a rate-limit guard); 0 = unlimited. Applied by <see cref="OpenAIBackendFactory"/> as a ConcurrencyLimitingChatClient layer (UseConcurrencyLimit), not inside the client.</summary>
    public int MaxConcurrency { get; init; }

    /// <summary>The circuit opens when at least this share of tries failed in the sampling window …</summary>
    public double BreakerFailureRatio { get; init; } = 0.5;

    /// <summary>… and at least this many tries were made in it; 0 disables the breaker.</summary>
    public int BreakerMinimumThroughput { get; init; } = 20;

    public TimeSpan BreakerSamplingDuration { get; init; } = TimeSpan.FromSeconds(30);

    public TimeSpan BreakerBreakDuration { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Use HTTP/2 (prior knowledge on http://, negotiated on https://) instead of HTTP/1.1.</summary>
    public bool Http2 { get; init; }

    /// <summary>
    /// Client tokenizer encoding (o200k_base, cl100k_base, gpt2, r50k_base); null = chosen from the model id by
    /// <see cref="ModelTokenizers.ForModel"/>, labelled approximate when the model's vocabulary is none of those.
    /// </summary>
    public string? Tokenizer { get; init; }

    /// <summary>
    /// Stamp each streamed event with the kernel's receive time of its bytes (SO_TIMESTAMPNS) instead of the moment the
    /// client parsed it; HTTP/1.1 on Linux with the system clock only (elsewhere the timing layer's stamp is used).
    /// </summary>
    public bool KernelReceiveTimestamps { get; init; } = true;

    /// <summary>
    /// With <see cref="KernelReceiveTimestamps"/>: one thread of the process (<see cref="ReceiveReader"/>, real-time priority
    /// where permitted) takes each connection's bytes as they arrive, so a first token is never merged in the kernel with the
    /// tokens after it while the HTTP layer's thread waits for a core (<c>rx_thread=on</c>, the default); off: the HTTP
    /// layer's own reads take them (<c>rx_thread=off</c>).
    /// </summary>
    public bool ReceiveThread { get; init; } = true;

    /// <summary>
    /// Send each request from one thread of the process (<see cref="SendThread"/>, real-time priority where permitted), handed
    /// over right after the attempt's start stamp, so that nothing at normal priority waits between the stamp and the socket
    /// write (<c>tx_thread=on</c>, the default; with the system clock only); off: the attempt's own thread sends it (<c>tx_thread=off</c>).
    /// </summary>
    public bool SendThread { get; init; } = true;

    /// <summary>Open a connection at creation (GET /models) so that connect time stays out of the first attempt.</summary>
    public bool Preconnect { get; init; }

    /// <summary>Follow 307/308 redirects (credentials dropped across origins); false: a redirect fails the attempt as <c>redirect</c>.</summary>
    public bool FollowRedirects { get; init; }

    /// <summary>What one attempt may receive before it fails as a classified error (docs/remote.md, Limits).</summary>
    public StreamLimits Limits { get; init; } = new();
    /// <summary>How many connections <see cref="Preconnect"/> opens (concurrent GET /models); set it to the run's concurrency to warm them all.</summary>
    public int PreconnectConnections { get; init; } = 1;
}
