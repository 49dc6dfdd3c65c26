using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;

namespace Spark.Eval.Backends.Remote.Tests;

/// <summary>A recorded response: status, content type and the body's bytes as the server sent them.</summary>
public sealed record Transcript(string Name, int Status, string ContentType, byte[] Body)
{
    public static string Folder => Path.Combine(AppContext.BaseDirectory, "Fixtures", "servers");

    /// <summary>Loads a fixture from Fixtures/servers (200, text/event-stream unless told).</summary>
    public static Transcript Load(string file, int status = 200, string contentType = "text/event-stream") =>
        new(file, status, contentType, File.ReadAllBytes(Path.Combine(Folder, file)));
}

/// <summary>How a <see cref="ReplayServer"/> behaves beyond replaying bytes.</summary>
public sealed record ReplayOptions
{
    /// <summary>Close the connection this long after each response (keep-alive still implied, as llama-server does); null: keep it.</summary>
    public TimeSpan? CloseAfterResponse { get; init; }

    /// <summary>
    /// Wait this long after the last event before ending the response (HTTP/1.1's last chunk); null: end it at once;
    /// <see cref="Timeout.InfiniteTimeSpan"/>: never, until the client goes away.
    /// </summary>
    public TimeSpan? EndAfterLastEvent { get; init; }

    /// <summary>While waiting to end (<see cref="EndAfterLastEvent"/>), write an SSE comment line this often: a body that trickles on.</summary>
    public TimeSpan? TrickleEvery { get; init; }

    /// <summary>JSON served at GET /v1/models.</summary>
    public string ModelsJson { get; init; } = """{"object":"list","data":[]}""";
}

/// <summary>
/// A real Kestrel server on loopback that replays a transcript's bytes for every POST to /v1/chat/completions or
/// /v1/responses, one SSE event per write and flush (as the servers send them), and counts requests and connections.
/// </summary>
public sealed class ReplayServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, byte> _connections = new();
    private int _requests;

    private ReplayServer(WebApplication app)
    {
        _app = app;
    }

    public Uri BaseAddress { get; private set; } = null!;

    public int Requests => Volatile.Read(ref _requests);

    public int Connections => _connections.Count;

    public static async Task<ReplayServer> StartAsync(Func<HttpContext, Transcript> choose, ReplayOptions? options = null, HttpProtocols protocols = HttpProtocols.Http1)
    {
        options ??= new ReplayOptions();
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = "replay" });
        builder.WebHost.UseKestrelCore().ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = protocols);
        });
        builder.Services.AddRoutingCore();
        var app = builder.Build();
        var server = new ReplayServer(app);
        app.MapGet("/v1/models", async ctx =>
        {
            ctx.Response.ContentType = "application/json";
            await ctx.Response.WriteAsync(options.ModelsJson);
        });
        RequestDelegate replay = async ctx =>
        {
            Interlocked.Increment(ref server._requests);
            server._connections.TryAdd(ctx.Connection.Id, 0);
            var transcript = choose(ctx);
            await ctx.Request.Body.CopyToAsync(Stream.Null);
            ctx.Response.StatusCode = transcript.Status;
            ctx.Response.ContentType = transcript.ContentType;
            foreach (var part in Events(transcript.Body))
            {
                await ctx.Response.Body.WriteAsync(part);
                await ctx.Response.Body.FlushAsync();
            }

            if (options.EndAfterLastEvent is { } end)
            {
                try
                {
                    var until = TimeProvider.System.GetUtcNow() + (end == Timeout.InfiniteTimeSpan ? TimeSpan.FromSeconds(30) : end);
                    while (options.TrickleEvery is { } every && TimeProvider.System.GetUtcNow() < until)
                    {
                        await ctx.Response.Body.WriteAsync(":\n"u8.ToArray(), ctx.RequestAborted);
                        await ctx.Response.Body.FlushAsync(ctx.RequestAborted);
                        await Task.Delay(every, ctx.RequestAborted);
                    }

                    var rest = until - TimeProvider.System.GetUtcNow();
                    if (rest > TimeSpan.Zero)
                    {
                        await Task.Delay(rest, ctx.RequestAborted);
                    }
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }

            if (options.CloseAfterResponse is { } after)
            {
                await ctx.Response.CompleteAsync();
                await Task.Delay(after);
                ctx.Abort();
            }
        };
        app.MapPost("/v1/chat/completions", replay);
        app.MapPost("/v1/responses", replay);
        await app.StartAsync();
        var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        server.BaseAddress = new Uri(bound.TrimEnd('/') + "/v1/");
        return server;
    }

    /// <summary>The body cut after each blank line (an SSE event's end), so that each event is its own write.</summary>
    private static IEnumerable<ReadOnlyMemory<byte>> Events(byte[] body)
    {
        var start = 0;
        for (var i = 1; i < body.Length; i++)
        {
            if (body[i] == (byte)'\n' && body[i - 1] == (byte)'\n')
            {
                yield return body.AsMemory(start, i + 1 - start);
                start = i + 1;
            }
        }

        if (start < body.Length)
        {
            yield return body.AsMemory(start);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
