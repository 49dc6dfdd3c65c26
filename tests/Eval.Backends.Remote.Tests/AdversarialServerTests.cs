using System.IO.Compression;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.AI;
using Spark.Eval.Core.Backends;

namespace Spark.Eval.Backends.Remote.Tests;

/// <summary>
/// A hostile server (real Kestrel on loopback, in-test) against the client's limits, redirects and secrets
/// (issue 15 items 5, 6 and 10): each attack ends as a classified failure, quickly, and no secret is stored.
/// </summary>
public sealed class AdversarialServerTests
{
    private const string Secret = "sk-hostile-SECRET-7c1d2e3f4a";

    private static OpenAIBackendOptions Options(HostileServer server) => new()
    {
        BaseUrl = server.BaseAddress,
        Model = "m",
        MaxRetries = 0,
        BreakerMinimumThroughput = 0,
        IdleTimeout = TimeSpan.FromSeconds(2),
        TimeToFirstTokenTimeout = TimeSpan.FromSeconds(10),
        TotalTimeout = TimeSpan.FromSeconds(60),
    };

    /// <summary>Runs the handler until the client goes away; a hostile server does not care how it ends.</summary>
    private static Func<HttpContext, Task> Until(Func<HttpContext, Task> handler) => async context =>
    {
        try
        {
            await handler(context);
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or InvalidOperationException)
        {
        }
    };

    [Fact]
    public async Task Stream_EndlessValidEvents_EndsAsTooManyEvents()
    {
        // Before: an endless valid stream grew the client by ~110 MB/s until the total timeout.
        await using var server = await HostileServer.StartAsync(Until(async context =>
        {
            await HostileServer.BeginStreamAsync(context);
            for (var i = 0; i < 2_000_000 && !context.RequestAborted.IsCancellationRequested; i++)
            {
                await HostileServer.WriteDeltaAsync(context, "x");
            }
        }));
        using var client = new OpenAICompatibleChatClient(Options(server), TimeProvider.System, null);

        var (recorder, error, _) = await SimServerFixture.AttemptAsync(client, maxTokens: 16);

        var failure = Assert.IsType<BackendException>(error);
        Assert.Equal("too_many_events", failure.ErrorClass);
        Assert.Contains("max_events", failure.Message, StringComparison.Ordinal);
        Assert.InRange(recorder.Answer.Length, 1, 256 + (4 * 16));
    }

    [Fact]
    public async Task Stream_FewHugeEvents_EndsAsAnswerTooLarge()
    {
        var piece = new string('y', 16 * 1024);
        await using var server = await HostileServer.StartAsync(Until(async context =>
        {
            await HostileServer.BeginStreamAsync(context);
            for (var i = 0; i < 10_000 && !context.RequestAborted.IsCancellationRequested; i++)
            {
                await HostileServer.WriteDeltaAsync(context, piece);
            }
        }));
        using var client = new OpenAICompatibleChatClient(Options(server), TimeProvider.System, null);

        var (recorder, error, _) = await SimServerFixture.AttemptAsync(client, maxTokens: 16);

        Assert.Equal("answer_too_large", Assert.IsType<BackendException>(error).ErrorClass);
        Assert.True(recorder.Answer.Length <= (64 * 1024) + (64 * 16) + piece.Length, $"kept {recorder.Answer.Length} characters");
    }

    [Fact]
    public async Task Stream_LineWithoutNewline_EndsAsLineTooLongBeforeGrowingPastTheLimit()
    {
        // Before: the reader doubled its buffer for ever (a 1.3 GB line overflowed an int in SseReader.Grow).
        var block = Encoding.ASCII.GetBytes(new string('z', 64 * 1024));
        await using var server = await HostileServer.StartAsync(Until(async context =>
        {
            await HostileServer.BeginStreamAsync(context);
            await HostileServer.WriteRawAsync(context, "data: ");
            for (var i = 0; i < 100_000 && !context.RequestAborted.IsCancellationRequested; i++)
            {
                await context.Response.Body.WriteAsync(block, context.RequestAborted);
            }
        }));
        using var client = new OpenAICompatibleChatClient(Options(server) with { Limits = new StreamLimits { MaxLineBytes = 4 * 1024 * 1024 } }, TimeProvider.System, null);

        var (_, error, _) = await SimServerFixture.AttemptAsync(client, maxTokens: 16);

        var failure = Assert.IsType<BackendException>(error);
        Assert.Equal("sse_line_too_long", failure.ErrorClass);
        Assert.Contains("4194304", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stream_KeepAliveCommentsOnly_EndsAsResponseTooLarge()
    {
        await using var server = await HostileServer.StartAsync(Until(async context =>
        {
            await HostileServer.BeginStreamAsync(context);
            for (var i = 0; i < 10_000_000 && !context.RequestAborted.IsCancellationRequested; i++)
            {
                await HostileServer.WriteRawAsync(context, ": keep-alive " + new string('.', 1000) + "\n");
            }
        }));
        using var client = new OpenAICompatibleChatClient(Options(server) with { Limits = new StreamLimits { MaxResponseBytes = 2 * 1024 * 1024 } }, TimeProvider.System, null);

        var (_, error, _) = await SimServerFixture.AttemptAsync(client, maxTokens: 16);

        Assert.Equal("response_too_large", Assert.IsType<BackendException>(error).ErrorClass);
    }

    [Fact]
    public async Task Stream_KeepAliveCommentsBetweenTokens_DoNotCountAsAStall()
    {
        // Before: comments were read inside the SSE reader without renewing the idle timer: stream_stalled at 1 s.
        await using var server = await HostileServer.StartAsync(Until(async context =>
        {
            await HostileServer.BeginStreamAsync(context);
            await HostileServer.WriteDeltaAsync(context, "first ");
            for (var i = 0; i < 10; i++)
            {
                await Task.Delay(250, context.RequestAborted);
                await HostileServer.WriteRawAsync(context, ": keep-alive\n");
            }

            await HostileServer.WriteDeltaAsync(context, "second");
            await HostileServer.EndStreamAsync(context);
        }));
        using var client = new OpenAICompatibleChatClient(Options(server) with { IdleTimeout = TimeSpan.FromSeconds(1) }, TimeProvider.System, null);

        var (recorder, error, _) = await SimServerFixture.AttemptAsync(client, maxTokens: 16);

        Assert.Null(error);
        Assert.Equal("first second", recorder.Answer);
    }

    [Theory]
    [InlineData(new byte[] { 0xFF, 0xFE, 0x41 })]
    [InlineData(new byte[] { 0x5C, 0x75, 0x64, 0x38, 0x30, 0x30 })] // the JSON escape \ud800: a lone surrogate
    public async Task Stream_InvalidUtf8OrLoneSurrogate_EndsAsMalformedChunk(byte[] content)
    {
        await using var server = await HostileServer.StartAsync(Until(async context =>
        {
            await HostileServer.BeginStreamAsync(context);
            await HostileServer.WriteDeltaAsync(context, "ok ");
            var chunk = new List<byte>(Encoding.UTF8.GetBytes("data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\""));
            chunk.AddRange(content);
            chunk.AddRange(Encoding.UTF8.GetBytes("\"},\"finish_reason\":null}]}\n\n"));
            await context.Response.Body.WriteAsync(chunk.ToArray(), context.RequestAborted);
            await HostileServer.EndStreamAsync(context);
        }));
        using var client = new OpenAICompatibleChatClient(Options(server), TimeProvider.System, null);

        var (_, error, _) = await SimServerFixture.AttemptAsync(client, maxTokens: 16);

        Assert.Equal("malformed_chunk", Assert.IsType<BackendException>(error).ErrorClass);
    }

    [Fact]
    public async Task Stream_GzipBodyNobodyAskedFor_EndsAsUnsupportedEncoding()
    {
        await using var server = await HostileServer.StartAsync(Until(async context =>
        {
            context.Response.StatusCode = 200;
            context.Response.ContentType = "text/event-stream";
            context.Response.Headers.ContentEncoding = "gzip";
            using var memory = new MemoryStream();
            await using (var gzip = new GZipStream(memory, CompressionLevel.Fastest, leaveOpen: true))
            {
                await gzip.WriteAsync(Encoding.UTF8.GetBytes("data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\ndata: [DONE]\n\n"));
            }

            await context.Response.Body.WriteAsync(memory.ToArray(), context.RequestAborted);
        }));
        using var client = new OpenAICompatibleChatClient(Options(server), TimeProvider.System, null);

        var (_, error, _) = await SimServerFixture.AttemptAsync(client, maxTokens: 16);

        var failure = Assert.IsType<BackendException>(error);
        Assert.Equal("unsupported_encoding", failure.ErrorClass);
        Assert.Contains("gzip", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Retry_RetryAfterBeyondTheCap_ReportsThe429WithoutWaiting()
    {
        // Before: Polly waited the server's 100,000 s; the TTFT timeout ended the attempt with 0 retries and no 429.
        await using var server = await HostileServer.StartAsync(Until(async context =>
        {
            context.Response.StatusCode = 429;
            context.Response.Headers.RetryAfter = "100000";
            await context.Response.WriteAsync("{\"error\":{\"message\":\"slow down\"}}", context.RequestAborted);
        }));
        using var client = new OpenAICompatibleChatClient(Options(server) with { MaxRetries = 3, TimeToFirstTokenTimeout = TimeSpan.FromSeconds(3) }, TimeProvider.System, null);

        var (recorder, error, _) = await SimServerFixture.AttemptAsync(client, maxTokens: 16);

        var failure = Assert.IsType<BackendException>(error);
        Assert.Equal("http_429", failure.ErrorClass);
        Assert.Contains("Retry-After 100000 s", failure.Message, StringComparison.Ordinal);
        Assert.Equal(0, recorder.Retries);
        Assert.Single(server.Requests);
    }

    [Fact]
    public async Task Retry_RetryAfterWithinTheCap_IsWaitedAndRetried()
    {
        var calls = 0;
        await using var server = await HostileServer.StartAsync(Until(async context =>
        {
            if (Interlocked.Increment(ref calls) == 1)
            {
                context.Response.StatusCode = 429;
                context.Response.Headers.RetryAfter = "1";
                return;
            }

            await HostileServer.BeginStreamAsync(context);
            await HostileServer.WriteDeltaAsync(context, "fine");
            await HostileServer.EndStreamAsync(context);
        }));
        using var client = new OpenAICompatibleChatClient(Options(server) with { MaxRetries = 2 }, TimeProvider.System, null);

        var (recorder, error, _) = await SimServerFixture.AttemptAsync(client, maxTokens: 16);

        Assert.Null(error);
        Assert.Equal(1, recorder.Retries);
        Assert.Equal("fine", recorder.Answer);
    }

    [Fact]
    public async Task Redirect_NotAllowed_IsClassifiedAndTheOtherServerGetsNothing()
    {
        // Before: the 307 was followed silently, the prompt and the api-key header went to the other host.
        await using var other = await HostileServer.StartAsync(Until(HostileServer.BeginStreamAsync));
        await using var server = await HostileServer.StartAsync(Until(context =>
        {
            context.Response.StatusCode = 307;
            context.Response.Headers.Location = new Uri(other.BaseAddress, "chat/completions").ToString();
            return Task.CompletedTask;
        }));
        using var client = new OpenAICompatibleChatClient(Options(server), TimeProvider.System, Secret, new Dictionary<string, string> { ["api-key"] = Secret });

        var (_, error, _) = await SimServerFixture.AttemptAsync(client, maxTokens: 16);

        var failure = Assert.IsType<BackendException>(error);
        Assert.Equal("redirect", failure.ErrorClass);
        Assert.Contains("follow_redirects=true", failure.Message, StringComparison.Ordinal);
        Assert.Empty(other.Requests);
    }

    [Fact]
    public async Task Redirect_AllowedAcrossOrigins_FollowsWithoutCredentials()
    {
        await using var other = await HostileServer.StartAsync(Until(async context =>
        {
            await HostileServer.BeginStreamAsync(context);
            await HostileServer.WriteDeltaAsync(context, "moved");
            await HostileServer.EndStreamAsync(context);
        }));
        await using var server = await HostileServer.StartAsync(Until(context =>
        {
            context.Response.StatusCode = 308;
            context.Response.Headers.Location = new Uri(other.BaseAddress, "chat/completions").ToString();
            return Task.CompletedTask;
        }));
        var options = Options(server) with { FollowRedirects = true, Headers = new Dictionary<string, string> { ["x-api-key"] = "plain-key-1234", ["x-trace"] = "t1" } };
        using var client = new OpenAICompatibleChatClient(options, TimeProvider.System, Secret, new Dictionary<string, string> { ["api-key"] = Secret });

        var (recorder, error, _) = await SimServerFixture.AttemptAsync(client, maxTokens: 16);

        Assert.Null(error);
        Assert.Equal("moved", recorder.Answer);
        Assert.Equal(Secret, server.Requests.Single()["api-key"].ToString());
        var followed = Assert.Single(other.Requests);
        Assert.False(followed.ContainsKey("Authorization"));
        Assert.False(followed.ContainsKey("api-key"));
        Assert.False(followed.ContainsKey("x-api-key"));
        Assert.Equal("t1", followed["x-trace"].ToString());
    }

    [Fact]
    public async Task Secrets_EchoedIntoTheAnswerWholeOrSplitAcrossChunks_AreRedactedFromTheRecord()
    {
        // Before: a key echoed by the server was stored in attempts.jsonl as the answer.
        await using var server = await HostileServer.StartAsync(Until(async context =>
        {
            var key = context.Request.Headers["api-key"].ToString();
            var bearer = context.Request.Headers.Authorization.ToString()["Bearer ".Length..];
            await HostileServer.BeginStreamAsync(context);
            await HostileServer.WriteDeltaAsync(context, "header " + key + " and bearer ");
            await HostileServer.WriteDeltaAsync(context, bearer[..7]);
            await HostileServer.WriteDeltaAsync(context, bearer[7..] + " done");
            await HostileServer.EndStreamAsync(context);
        }));
        const string headerSecret = "azure-SECRET-0a1b2c3d4e";
        using var client = new OpenAICompatibleChatClient(Options(server), TimeProvider.System, Secret, new Dictionary<string, string> { ["api-key"] = headerSecret });

        var (recorder, error, updates) = await SimServerFixture.AttemptAsync(client, maxTokens: 64);

        Assert.Null(error);
        Assert.Equal("header [redacted] and bearer [redacted] done", recorder.Answer);
        Assert.DoesNotContain(headerSecret, string.Concat(updates.Select(u => u.Text)), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Secrets_EchoedInAnErrorBody_AreRedactedFromTheMessage()
    {
        await using var server = await HostileServer.StartAsync(Until(async context =>
        {
            context.Response.StatusCode = 400;
            await context.Response.WriteAsync("bad key " + context.Request.Headers["x-api-key"], context.RequestAborted);
        }));
        const string headerSecret = "xk-SECRET-99887766";
        using var client = new OpenAICompatibleChatClient(Options(server), TimeProvider.System, null, new Dictionary<string, string> { ["x-api-key"] = headerSecret });

        var (_, error, _) = await SimServerFixture.AttemptAsync(client, maxTokens: 16);

        var failure = Assert.IsType<BackendException>(error);
        Assert.Equal("http_400", failure.ErrorClass);
        Assert.Contains("bad key [redacted]", failure.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(headerSecret, failure.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task NonStreaming_EndlessBody_EndsAsResponseTooLarge()
    {
        var block = Encoding.ASCII.GetBytes(new string(' ', 64 * 1024));
        await using var server = await HostileServer.StartAsync(Until(async context =>
        {
            context.Response.StatusCode = 200;
            context.Response.ContentType = "application/json";
            await context.Response.Body.WriteAsync("{\"choices\":[{\"message\":{\"content\":\"a\"}}]"u8.ToArray(), context.RequestAborted);
            for (var i = 0; i < 100_000 && !context.RequestAborted.IsCancellationRequested; i++)
            {
                await context.Response.Body.WriteAsync(block, context.RequestAborted);
            }
        }));
        using var client = new OpenAICompatibleChatClient(Options(server), TimeProvider.System, null);

        var error = await Assert.ThrowsAsync<BackendException>(() => client.GetResponseAsync(
            [new ChatMessage(ChatRole.User, "hi")], new ChatOptions { MaxOutputTokens = 16 }, TestContext.Current.CancellationToken));

        Assert.Equal("response_too_large", error.ErrorClass);
    }
}
