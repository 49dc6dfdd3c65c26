using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Spark.Eval.Cli.Tests;

/// <summary>A minimal real Kestrel app on a loopback port of its own, for `run` against a scripted OpenAI-compatible server.</summary>
internal static class LoopbackApp
{
    /// <summary>Starts an app whose routes <paramref name="map"/> adds; returns it with its base URL ending in "/v1".</summary>
    public static async Task<(WebApplication App, string V1Url)> StartAsync(string name, Action<WebApplication> map, CancellationToken ct)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = name });
        builder.WebHost.UseKestrelCore().ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Services.AddRoutingCore();
        var app = builder.Build();
        map(app);
        await app.StartAsync(ct);
        var url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First().TrimEnd('/') + "/v1";
        return (app, url);
    }
}
