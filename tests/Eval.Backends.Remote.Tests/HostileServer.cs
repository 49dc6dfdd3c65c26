using System.Net;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Spark.Eval.Backends.Remote.Tests;

/// <summary>A real Kestrel server on a free loopback port whose every request is answered by the test's handler: an adversary.</summary>
public sealed class HostileServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private HostileServer(WebApplication app, Uri baseAddress)
    {
        _app = app;
        BaseAddress = baseAddress;
    }

    /// <summary>The base URL, ending in <c>/v1/</c>.</summary>
    public Uri BaseAddress { get; }

    /// <summary>Requests received, with the headers each carried.</summary>
    public List<IHeaderDictionary> Requests { get; } = [];

    public static async Task<HostileServer> StartAsync(Func<HttpContext, Task> handler)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = "hostile" });
        builder.WebHost.UseKestrelCore().ConfigureKestrel(k =>
        {
            k.Limits.MinResponseDataRate = null;
            k.Listen(IPAddress.Loopback, 0);
        });
        var app = builder.Build();
        HostileServer? server = null;
        app.Run(async context =>
        {
            lock (server!.Requests)
            {
                server.Requests.Add(new HeaderDictionary(context.Request.Headers.ToDictionary(h => h.Key, h => h.Value)));
            }

            await handler(context);
        });
        await app.StartAsync(TestContext.Current.CancellationToken);
        var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        server = new HostileServer(app, new Uri(bound.TrimEnd('/') + "/v1/"));
        return server;
    }

    /// <summary>Starts an event stream response.</summary>
    public static async Task BeginStreamAsync(HttpContext context)
    {
        context.Response.StatusCode = 200;
        context.Response.ContentType = "text/event-stream";
        await context.Response.Body.FlushAsync(context.RequestAborted);
    }

    /// <summary>Writes one SSE event carrying a Chat Completions content delta.</summary>
    public static async Task WriteDeltaAsync(HttpContext context, string content)
    {
        var json = "{\"id\":\"c1\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":" + System.Text.Json.JsonSerializer.Serialize(content) + "},\"finish_reason\":null}]}";
        await WriteRawAsync(context, "data: " + json + "\n\n");
    }

    public static async Task WriteRawAsync(HttpContext context, string text)
    {
        await context.Response.Body.WriteAsync(Encoding.UTF8.GetBytes(text), context.RequestAborted);
        await context.Response.Body.FlushAsync(context.RequestAborted);
    }

    /// <summary>The finish chunk and [DONE].</summary>
    public static Task EndStreamAsync(HttpContext context) =>
        WriteRawAsync(context, "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n");

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(CancellationToken.None);
        await _app.DisposeAsync();
    }
}
