using System.Globalization;
using Spark.Eval.Core;
using Spark.Eval.Core.Backends;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Tokens;
using Spark.Eval.Simulator.Latency;
using Spark.Eval.Simulator.Profiles;

namespace Spark.Eval.Simulator.Backend;

/// <summary>Factory for <c>hwsim?hw=h100-sxm&amp;model=llama-3.1-8b&amp;precision=bf16&amp;tp=1&amp;name=…</c>: the hardware-model simulated backend.</summary>
public sealed class HwSimBackendFactory(TokenCounter tokens) : IBackendFactory
{
    private static readonly string[] Keys = ["name", "hw", "model", "precision", "tp", "rtt_ms", "replicas", "profiles"];

    public string Kind => "hwsim";

    public string Usage => "hwsim?name=N&hw=h100-sxm&model=llama-3.1-8b&precision=bf16&tp=1&rtt_ms=0&replicas=1&profiles=DIR — SIMULATED: hardware × model latency model (docs/simulator.md), one engine per replica (replicas=N: N servers behind a least-loaded balancer, e.g. one per developer), answers = reference or mutants by the model's capability; a prompt without a task (over HTTP, serve-sim) gets a simulated text of max_tokens tokens (default 64)";

    public Task<BackendHandle> CreateAsync(BackendSpec spec, BackendContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(context);
        var hwId = spec.GetString("hw") ?? throw new InputException($"--backend '{spec.Text}': missing hw. Fix: add hw=<id>, e.g. hwsim?hw=h100-sxm&model=llama-3.1-8b (ids: spark-eval simulate profiles)");
        var modelId = spec.GetString("model") ?? throw new InputException($"--backend '{spec.Text}': missing model. Fix: add model=<id>, e.g. hwsim?hw=h100-sxm&model=llama-3.1-8b");
        var precisionName = spec.GetString("precision");
        var tp = spec.GetInt("tp", 1, 1, 64);
        var rtt = spec.GetDouble("rtt_ms", 0, 0, 60_000);
        var replicas = spec.GetInt("replicas", 1, 1, 100_000);
        var profiles = spec.GetString("profiles");
        spec.EnsureAllRead(Keys);

        var catalog = ProfileCatalog.Load(profiles is null ? null : Path.GetFullPath(profiles, context.WorkingDirectory), context.WorkingDirectory);
        var hardware = catalog.GetHardware(hwId, $"--backend '{spec.Text}': hw");
        var model = catalog.GetModel(modelId, $"--backend '{spec.Text}': model");
        var name = precisionName ?? model.DefaultPrecision;
        var precision = Precision.Find(name)
            ?? throw new InputException($"--backend '{spec.Text}': precision '{name}' is unknown. Fix: use one of: {string.Join(", ", Precision.All.Select(p => p.Name))}");
        var latency = new LatencyModel(hardware, model, precision, tp);
        var client = new HwSimChatClient(context.Time, tokens, latency, rtt, replicas);
        var description = string.Create(CultureInfo.InvariantCulture,
            $"SIMULATED {latency.Describe()}{(replicas > 1 ? $" × {replicas} replicas (least-loaded)" : string.Empty)}: TTFT {client.TimeToFirstTokenSeconds(500) * 1000:F0} ms at 500 prompt tokens, {1 / latency.DecodeStepSeconds(1, 500):F0} tokens/s alone; answers = reference or mutants (capability {model.Capability:F2}), other prompts a simulated text; profiles from {catalog.Origin}");
        // The hardware's sourced price, for the sessions' cost (docs/metrics.md, "Session cost"): per device-hour, else the
        // vendor's API price for this model (Cerebras, Groq sell tokens); none when unpriced.
        var price = hardware.PricePerDeviceHour > 0 ? new BackendPrice
        {
            UsdPerDeviceHour = hardware.PricePerDeviceHour,
            Devices = latency.Devices,
            Replicas = replicas,
            Source = hardware.SourceOf("pricePerDeviceHour") ?? $"{catalog.Origin}: {hardware.Id}.pricePerDeviceHour",
        }
        : hardware.TokenPrices.TryGetValue(model.Id, out var api) ? new BackendPrice
        {
            UsdPerMillionInputTokens = api.UsdPerMillionInputTokens,
            UsdPerMillionOutputTokens = api.UsdPerMillionOutputTokens,
            Devices = latency.Devices,
            Replicas = replicas,
            Source = hardware.SourceOf("tokenPrices") ?? $"{catalog.Origin}: {hardware.Id}.tokenPrices.{model.Id}",
        }
        : null;
        return Task.FromResult(new BackendHandle(new BackendInfo(spec.Name, spec.Text, Kind, description, Simulated: true, client.ModelId, price), client));
    }
}
