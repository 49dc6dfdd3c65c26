using Spark.Eval.Core.Backends;
using Spark.Eval.Core.Tokens;
using Spark.Eval.Simulator.Server;
using Spark.Eval.TestSupport;

namespace Spark.Eval.Cli.Tests;

/// <summary>A key given with <c>headers=</c> reaches the server but no file of the run directory (issue 15 item 6).</summary>
public sealed class ManifestSecretsTests
{
    [Fact]
    public async Task Run_SecretHeaderInBackendSpec_IsSentButWrittenNowhere()
    {
        // Before: manifest.json carried the spec as typed, api-key value included, in plan.backend_specs and backends[].spec.
        const string secret = "cli-SECRET-55219af0";
        var sim = new ConstantRateSimChatClient(TimeProvider.System, TokenCounter.Default, 1, 5000, "sim");
        await using var server = await SimServer.StartAsync(sim, new SimServerOptions { Port = 0 }, TimeProvider.System, TestContext.Current.CancellationToken);
        var dir = Path.Combine(CliHarness.TempDir(), "run");
        var spec = $"openai?url={Uri.EscapeDataString(server.BaseAddress.ToString())}&model=m&retries=0&headers=api-key:{secret}";

        var (exit, stdout, stderr) = await CliHarness.RunAsync("run", "--backend", spec, "--tasks", "1", "--repeats", "1", "--warmup", "0", "--no-grade", "--out", dir);

        Assert.True(exit == 0, stderr);
        // serve-sim logs a request when its handler returns, which can be after the run read its end: wait for it (bounded).
        Assert.NotEmpty(await ServerLogWait.AtLeastAsync(server.Log, null, 1, TestContext.Current.CancellationToken));
        var manifest = File.ReadAllText(Path.Combine(dir, "manifest.json"));
        Assert.Contains("api-key:[redacted]", Uri.UnescapeDataString(manifest), StringComparison.Ordinal);
        foreach (var file in Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories))
        {
            Assert.DoesNotContain(secret, File.ReadAllText(file), StringComparison.Ordinal);
        }

        Assert.DoesNotContain(secret, stdout + stderr, StringComparison.Ordinal);
        Assert.Equal(SecretRedaction.RedactSpec(spec), SecretRedaction.RedactSpec(SecretRedaction.RedactSpec(spec)));
    }
}
