using System.Diagnostics;
using System.Text.Json;

namespace Spark.Eval.Backends.Remote.Tests;

/// <summary>The official <c>openai</c> npm client (pinned in node/package-lock.json, installed with npm ci) reads serve-sim's streams to the same text and usage as our reader.</summary>
public sealed class NpmClientTests(SimServerFixture fixture) : IClassFixture<SimServerFixture>
{
    private static readonly SemaphoreSlim InstallGate = new(1, 1);

    private static string NodeDirectory => Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "node");

    [Theory]
    [InlineData(OpenAIApi.ChatCompletions, "chat")]
    [InlineData(OpenAIApi.Responses, "responses")]
    public async Task NpmOpenAI_Stream_ReadsSameTextAndUsageAsOurReader(OpenAIApi api, string npmApi)
    {
        const string prompt = "Reverse a linked list in place and explain each step.";
        await EnsureInstalledAsync();

        var (exit, output, error) = await RunAsync("node", ["stream.mjs", fixture.Server.BaseAddress.ToString().TrimEnd('/'), prompt, "30", npmApi]);
        using var ours = new OpenAICompatibleChatClient(fixture.Options(api: api), TimeProvider.System, null);
        var (recorder, ourError, _) = await SimServerFixture.AttemptAsync(ours, prompt, 30);

        Assert.True(exit == 0, $"node exited {exit}: {error}");
        Assert.Null(ourError);
        using var npm = JsonDocument.Parse(output);
        Assert.Equal(recorder.Answer, npm.RootElement.GetProperty("text").GetString());
        Assert.Equal(recorder.Usage?.OutputTokenCount, npm.RootElement.GetProperty("output_tokens").GetInt64());
        Assert.Equal(recorder.Usage?.InputTokenCount, npm.RootElement.GetProperty("input_tokens").GetInt64());
    }

    private static async Task EnsureInstalledAsync()
    {
        await InstallGate.WaitAsync(TestContext.Current.CancellationToken);
        try
        {
            if (!Directory.Exists(Path.Combine(NodeDirectory, "node_modules", "openai")))
            {
                var (exit, _, error) = await RunAsync("npm", ["ci", "--no-audit", "--no-fund"]);
                Assert.True(exit == 0, $"npm ci failed ({exit}): {error}");
            }
        }
        finally
        {
            InstallGate.Release();
        }
    }

    private static async Task<(int Exit, string Out, string Err)> RunAsync(string file, string[] args)
    {
        var info = new ProcessStartInfo(file)
        {
            WorkingDirectory = NodeDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {file}");
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(120));
        var stdout = process.StandardOutput.ReadToEndAsync(timeout.Token);
        var stderr = process.StandardError.ReadToEndAsync(timeout.Token);
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout, await stderr);
    }
}
