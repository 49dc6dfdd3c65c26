using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Spark.Eval.Backends.Local;
using Spark.Eval.Backends.Local.Bench;
using Spark.Eval.Backends.Local.Gguf;
using Spark.Eval.Core;
using Spark.Eval.Core.Results;
using Spark.Eval.Simulator.Latency;
using Spark.Eval.Simulator.Load;
using Spark.Eval.Simulator.Profiles;
using Spark.Eval.Simulator.Validation;

namespace Spark.Eval.Cli.Commands;

/// <summary><c>spark-eval simulate</c> (load points, sweeps, saturation, sizing, validate, bench, profiles); <c>calibrate</c> is in CalibrateCommand.cs.</summary>
public static class SimulateCommand
{
    private static readonly Option<string?> Profiles = new("--profiles") { Description = "Folder with hardware.json and models.json (default: hw-profiles/ above the working directory, else the embedded copies)." };

    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var hw = new Option<string>("--hw") { Description = "Hardware profile id (see 'spark-eval simulate profiles')." };
        var model = new Option<string>("--model") { Description = "Model profile id." };
        var precision = new Option<string?>("--precision") { Description = "bf16, fp8, int8, q8_0, q4, mxfp4 or fp4 (default: the model's)." };
        var tp = new Option<int>("--tp") { Description = "Tensor-parallel degree (devices per replica).", DefaultValueFactory = _ => 1 };
        var input = new Option<string>("--input-tokens") { Description = "Prompt tokens per request; a comma list sweeps (e.g. 512,2048).", DefaultValueFactory = _ => "2048" };
        var output = new Option<string>("--output-tokens") { Description = "Output tokens per request; a comma list sweeps.", DefaultValueFactory = _ => "128" };
        var concurrency = new Option<string?>("--concurrency", "-c") { Description = "Closed loop: requests in flight; a comma list sweeps (e.g. 1,8,64)." };
        var rate = new Option<string?>("--rate") { Description = "Open loop: requests per second; a comma list sweeps." };
        var requests = new Option<int?>("--requests", "-n") { Description = "Requests simulated per load point (default: max(40 × concurrency, 64) for a closed loop, 1000 for --rate; the first quarter is warm-up unless --cold-start, or every request is in flight at once)." };
        var coldStart = new Option<bool>("--cold-start") { Description = "Count every request from the lockstep start (all clients at once, no warm-up excluded) instead of the steady state." };
        var prefillFirst = new Option<bool>("--prefill-first") { Description = "As a batch benchmark that prefills every prompt before decoding and times decoding alone (llama-batched-bench's T_TG): time per output token excludes the wait for the batch's other prompts. Chunked prefill off." };
        var asyncScheduling = new Option<bool>("--async-scheduling") { Description = "As an engine run with asynchronous scheduling (vLLM --async-scheduling): each step is formed while the previous one runs, so the host's per-step work overlaps the device's and a request arriving mid-step joins the step after the next." };
        var maxBatch = new Option<int?>("--max-batch") { Description = "The engine's cap on sequences in flight (vLLM --max-num-seqs), replacing the hardware profile's maxBatch (see 'simulate profiles')." };
        var inProcess = new Option<bool>("--in-process") { Description = "As an offline benchmark inside the engine process measures it: no network round trip, the stack's in-process per-call cost instead of its server request overhead." };
        var engine = new Option<string?>("--engine") { Description = $"Serving engine the run is served by ({string.Join(", ", ServingEngines.Known)}): its request overhead where the hardware profile lists one (engineRequestOverheadMs), else the profile's requestOverheadMs (default: the profile's)." };
        var arrival = new Option<string>("--arrival") { Description = "Open-loop inter-arrivals: poisson or gamma.", DefaultValueFactory = _ => "poisson" };
        var burstiness = new Option<double>("--burstiness") { Description = "Gamma shape (1 = Poisson).", DefaultValueFactory = _ => 1.0 };
        var chunked = new Option<bool?>("--chunked-prefill") { Description = "Mix prompt chunks with decode steps up to the device's step-token budget: true or false (default: the hardware profile's serving stack, see 'simulate profiles')." };
        var jitter = new Option<double>("--jitter") { Description = "Relative standard deviation of each step's duration (0 = none)." };
        var spread = new Option<double>("--length-spread") { Description = "Uniform ± spread of lengths around their means, as a fraction." };
        var answerSpread = new Option<double?>("--answer-length-spread") { Description = "Uniform ± spread of answer lengths where it differs from --length-spread's, which then covers prompts alone (a measured sweep's answers that all hit the token cap: 0)." };
        var sendGap = new Option<double>("--send-gap-ms") { Description = "Closed loop: the load generator sends requests due together (first requests, or the next ones of clients whose answers ended in one step) at least this many ms apart, as a real client does; 'simulate calibrate' measures it from a sweep (default 0: together)." };
        var lengths = new Option<string?>("--lengths") { Description = "Draw each request's lengths around the means from a dataset's shape: fixed (default: every request at the means) or sharegpt (what vLLM's ShareGPT benchmark sends; replaces --length-spread)." };
        var seed = new Option<int>("--seed") { Description = "Seed for arrivals, lengths and jitter.", DefaultValueFactory = _ => 42 };
        var slo = new Option<string?>("--slo") { Description = "p99 targets for goodput and sizing, e.g. ttft_ms=500,tpot_ms=50 (same as --slo-ttft-ms/--slo-tpot-ms)." };
        var sloTtft = new Option<double?>("--slo-ttft-ms") { Description = "p99 TTFT target, ms (the --slo ttft_ms=… spelling of 'run')." };
        var sloTpot = new Option<double?>("--slo-tpot-ms") { Description = "p99 TPOT target, ms." };
        var developers = new Option<int?>("--developers") { Description = "Developers to serve (with --slo): devices needed and cost per million output tokens." };
        var perDev = new Option<double>("--requests-per-developer-min") { Description = "Requests each developer sends per minute.", DefaultValueFactory = _ => 2.0 };
        var json = new Option<bool>("--json") { Description = "Print one JSON object (shape: docs/simulator.md, section JSON shape)." };
        var noSaturation = new Option<bool>("--no-saturation") { Description = "Skip the saturation search." };

        var command = new Command("simulate", "SIMULATED: predict TTFT, TPOT, throughput, goodput and saturation for a hardware × model profile under load; size a fleet for an SLO.")
        {
            hw, model, precision, tp, input, output, concurrency, rate, requests, coldStart, inProcess, prefillFirst, asyncScheduling, maxBatch, engine, arrival, burstiness, chunked, jitter, spread, answerSpread, sendGap, lengths, seed, slo, sloTtft, sloTpot, developers, perDev, json, noSaturation, Profiles,
        };
        command.SetAction(async (parse, ct) =>
        {
            var catalog = ProfileCatalog.Load(parse.GetValue(Profiles));
            var latency = Build(catalog, parse.GetValue(hw), parse.GetValue(model), parse.GetValue(precision), parse.GetValue(tp), parse.GetValue(inProcess), parse.GetValue(engine), parse.GetValue(maxBatch));
            var inputs = ParseList(parse.GetValue(input)!, "--input-tokens", 1, 1_000_000).Select(v => (int)v).ToList();
            var outputs = ParseList(parse.GetValue(output)!, "--output-tokens", 1, 1_000_000).Select(v => (int)v).ToList();
            var rates = parse.GetValue(rate) is { } r ? ParseList(r, "--rate", 1e-6, 1e7) : [];
            var concurrencies = parse.GetValue(concurrency) is { } c ? ParseList(c, "--concurrency", 1, 100_000).Select(v => (int?)(int)v).ToList() : [];
            if (rates.Count > 0 && concurrencies.Count > 0)
            {
                throw new InputException("--concurrency and --rate: give one load kind. Fix: use --concurrency for a closed loop or --rate for an open loop");
            }

            if (rates.Count == 0 && concurrencies.Count == 0)
            {
                concurrencies.Add(1);
            }

            var arrivalKind = parse.GetValue(arrival)!;
            if (arrivalKind is not ("poisson" or "gamma"))
            {
                throw new InputException($"--arrival '{arrivalKind}': unknown. Fix: use poisson or gamma");
            }

            var n = parse.GetValue(requests);
            if (n < 1)
            {
                throw new InputException("--requests: must be >= 1. Fix: give a request count such as 1000, or leave it out for the default");
            }

            var lengthShape = LengthDistribution.Find(parse.GetValue(lengths));
            if (lengthShape is not null && parse.GetValue(spread) > 0)
            {
                throw new InputException("--lengths with --length-spread: both set how lengths vary. Fix: drop one of them");
            }

            if (parse.GetValue(answerSpread) is { } answers && (!double.IsFinite(answers) || answers < 0 || answers >= 1 || lengthShape is not null))
            {
                throw new InputException($"--answer-length-spread {answers.ToString(CultureInfo.InvariantCulture)}: {(lengthShape is not null ? "--lengths already sets how answers vary" : "not a uniform spread")}. Fix: give a fraction 0 <= spread < 1 (e.g. 0 for answers that all hit the token cap){(lengthShape is not null ? ", and drop --lengths" : string.Empty)}");
            }

            if (parse.GetValue(sendGap) is var gapMs && (!double.IsFinite(gapMs) || gapMs < 0 || gapMs >= 1000 || (gapMs > 0 && rates.Count > 0)))
            {
                throw new InputException($"--send-gap-ms {gapMs.ToString(CultureInfo.InvariantCulture)}: {(rates.Count > 0 ? "an open loop's requests leave on their own schedule" : "not a gap in milliseconds")}. Fix: give 0 <= gap < 1000 with --concurrency (e.g. 0.2), or drop it");
            }

            // The validated defaults (LoadDefaults, the same call `simulate validate` makes for every published row), then the user's knobs.
            LoadOptions Options(int i, int o, int? cc, double? rr) => LoadDefaults.For(latency.Hardware, i, o, cc, rr, n, parse.GetValue(coldStart), parse.GetValue(chunked), parse.GetValue(prefillFirst), parse.GetValue(asyncScheduling), lengthShape) with
            {
                Arrival = arrivalKind,
                Burstiness = parse.GetValue(burstiness),
                Jitter = parse.GetValue(jitter),
                LengthSpread = parse.GetValue(spread),
                OutputLengthSpread = parse.GetValue(answerSpread),
                SendGapSeconds = parse.GetValue(sendGap) / 1000,
                Seed = parse.GetValue(seed),
            };
            var template = Options(inputs[0], outputs[0], concurrencies.Count > 0 ? concurrencies[0] : null, rates.Count > 0 ? rates[0] : null);
            // One SLO syntax across commands (Core's SloSyntax): --slo ttft_ms=500,tpot_ms=50 or --slo-ttft-ms 500 --slo-tpot-ms 50.
            var sloSpec = Core.Results.SloSyntax.Combine(parse.GetValue(slo), parse.GetValue(sloTtft), parse.GetValue(sloTpot), null, allowed: ["ttft_ms", "tpot_ms"]);
            var sloTarget = sloSpec.IsSet ? new Slo(sloSpec.TtftMs, sloSpec.TpotMs) : null;
            var points = new List<LoadPoint>();
            foreach (var i in inputs)
            {
                foreach (var o in outputs)
                {
                    foreach (var cc in concurrencies)
                    {
                        var options = Options(i, o, cc, null);
                        points.Add(new LoadPoint { InputTokens = i, OutputTokens = o, Concurrency = cc, Stats = LoadSimulator.Summarize(LoadSimulator.Run(latency, options), sloTarget) });
                    }

                    foreach (var rr in rates)
                    {
                        var options = Options(i, o, null, rr);
                        points.Add(new LoadPoint { InputTokens = i, OutputTokens = o, Rate = rr, Stats = LoadSimulator.Summarize(LoadSimulator.Run(latency, options), sloTarget) });
                    }
                }
            }

            var first = template with { Requests = Math.Min(template.Requests, 2000) };
            var saturation = parse.GetValue(noSaturation) ? null : CapacityPlanner.FindSaturation(latency, first);
            CapacityPlan? plan = null;
            if (sloTarget is not null)
            {
                var devs = parse.GetValue(developers) ?? throw new InputException("--slo needs --developers. Fix: add --developers N");
                if (devs < 1)
                {
                    throw new InputException("--developers: must be >= 1. Fix: give the number of developers to serve");
                }

                plan = CapacityPlanner.Plan(latency, first, sloTarget, devs, parse.GetValue(perDev), saturation ?? CapacityPlanner.FindSaturation(latency, first));
            }
            else if (parse.GetValue(developers) is not null)
            {
                throw new InputException("--developers needs --slo. Fix: add --slo ttft_ms=500,tpot_ms=50");
            }

            var report = new SimulationReport
            {
                Hardware = latency.Hardware.Id,
                Model = latency.Model.Id,
                Precision = latency.Precision.Name,
                TensorParallel = latency.TensorParallel,
                Devices = latency.Devices,
                KvCapacityTokens = latency.KvCapacityTokens,
                ChunkedPrefill = template.ChunkedPrefill,
                AsyncScheduling = template.AsyncScheduling,
                Lengths = template.Lengths?.Name ?? (template.LengthSpread > 0 || template.OutputLengthSpread > 0
                    ? string.Create(CultureInfo.InvariantCulture, $"uniform ±{template.LengthSpread:P0}{(template.OutputLengthSpread is { } a ? $" (answers ±{a:P0})" : string.Empty)}") : "fixed"),
                SendGapMs = template.SendGapSeconds * 1000,
                WarmupFraction = template.WarmupFraction,
                Requests = template.Requests,
                Seed = template.Seed,
                UnloadedTtftMs = latency.UnloadedTtftSeconds(inputs[0]) * 1000,
                UnloadedTpotMs = (template.AsyncScheduling
                    ? latency.AsyncStepSeconds(latency.DecodeStepSeconds(1, inputs[0]), 1)
                    : latency.DecodeStepSeconds(1, inputs[0])) * 1000,
                Points = points,
                Saturation = saturation,
                Plan = plan,
            };
            // How far to trust these figures: the worst holdout error of the rows measuring each latency (docs/simulator.md, "Trust").
            var (ttftBound, tpotBound, throughputBound, tpotByArchitecture) = ErrorBands.BoundsFor(catalog, ValidationRunner.LoadBesideProfiles(null, parse.GetValue(Profiles)), latency.Hardware.Family, latency.Model.IsMixtureOfExperts);
            report = report with { TtftErrorBound = ttftBound, TpotErrorBound = tpotBound, TpotBoundByArchitecture = tpotByArchitecture, ThroughputErrorBound = throughputBound };
            if (parse.GetValue(json))
            {
                await stdout.WriteLineAsync(JsonSerializer.Serialize(report, SimulatorJsonContext.Default.SimulationReport).AsMemory(), ct);
            }
            else
            {
                await stdout.WriteAsync(RenderText(report, latency).AsMemory(), ct);
            }

            return SparkEvalCli.ExitOk;
        });

        command.Subcommands.Add(CreateValidate(stdout));
        command.Subcommands.Add(SimulateFitCommand.Create(stdout));
        command.Subcommands.Add(SimulateCalibrateCommand.Create(stdout));
        command.Subcommands.Add(CreateValidateLocal(stdout, stderr));
        command.Subcommands.Add(CreateBench(stdout));
        command.Subcommands.Add(CreateProfilesList(stdout));
        return command;
    }

    internal static LatencyModel Build(ProfileCatalog catalog, string? hwId, string? modelId, string? precisionName, int tp, bool inProcess = false, string? engine = null, int? maxBatch = null)
    {
        if (string.IsNullOrWhiteSpace(hwId))
        {
            throw new InputException($"--hw: missing. Fix: add --hw <id>, one of: {string.Join(", ", catalog.Hardware.Select(h => h.Id))}");
        }

        if (string.IsNullOrWhiteSpace(modelId))
        {
            throw new InputException($"--model: missing. Fix: add --model <id>, one of: {string.Join(", ", catalog.Models.Select(m => m.Id))}");
        }

        // The engine's request overhead first; in process then replaces it, as validation does.
        var hardware = ServingEngines.Apply(catalog.GetHardware(hwId), engine);
        if (inProcess)
        {
            hardware = LoadDefaults.InProcess(hardware);
        }

        if (maxBatch is { } cap)
        {
            hardware = cap >= 1
                ? hardware with { MaxBatch = cap }
                : throw new InputException($"--max-batch {cap}: must be >= 1. Fix: give the engine's max sequences in flight (vLLM --max-num-seqs), or leave it out for the profile's");
        }

        var model = catalog.GetModel(modelId);
        var name = precisionName ?? model.DefaultPrecision;
        var precision = Precision.Find(name) ?? throw new InputException($"--precision '{name}': unknown. Fix: use one of: {string.Join(", ", Precision.All.Select(p => p.Name))}");
        if (tp is < 1 or > 64)
        {
            throw new InputException($"--tp {tp}: must be 1..64. Fix: give the tensor-parallel degree");
        }

        return new LatencyModel(hardware, model, precision, tp);
    }

    private static List<double> ParseList(string text, string option, double min, double max)
    {
        var values = new List<double>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!double.TryParse(part, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || v < min || v > max)
            {
                throw new InputException(string.Create(CultureInfo.InvariantCulture, $"{option} '{text}': '{part}' is not a number in [{min}, {max}]. Fix: give a number or a comma list such as 1,8,64"));
            }

            values.Add(v);
        }

        return values.Count > 0 ? values : throw new InputException($"{option}: empty. Fix: give a number or a comma list");
    }

    private static string Bound(double? ratio) => ratio is { } r ? r.ToString("F2", CultureInfo.InvariantCulture) + "×" : "unknown";

    private static string RenderText(SimulationReport report, LatencyModel latency)
    {
        var c = CultureInfo.InvariantCulture;
        var sb = new System.Text.StringBuilder();
        sb.Append(c, $"SIMULATED {latency.Describe()} (TP {report.TensorParallel}, {report.Devices} device(s)), KV cache {report.KvCapacityTokens:N0} tokens{(latency.Model.SlidingWindowLayers > 0 ? string.Create(c, $" (of all {latency.Model.Layers} layers; its {latency.Model.SlidingWindowLayers} sliding-window layers keep the last {latency.Model.SlidingWindowTokens})") : string.Empty)}, chunked prefill {(report.ChunkedPrefill ? "on" : "off")}{(report.AsyncScheduling ? ", async scheduling" : string.Empty)}{(report.Lengths != "fixed" ? $", lengths {report.Lengths}" : string.Empty)}{(report.SendGapMs > 0 ? string.Create(c, $", requests due together sent {report.SendGapMs:0.###} ms apart") : string.Empty)}, {report.Requests:N0} requests, {(report.WarmupFraction > 0 ? $"steady state (first {report.WarmupFraction:P0} warm-up excluded)" : "cold start (every request counted)")}, seed {report.Seed}\n");
        sb.Append(c, $"unloaded: TTFT {report.UnloadedTtftMs:F1} ms (RTT + request overhead + prefill), TPOT {report.UnloadedTpotMs:F2} ms (one decode step at batch 1)\n\n");
        sb.Append("in/out      load          TTFT p50   TTFT p99   TPOT p50   TPOT p99   out tok/s   req/s  goodput/s  in SLO  peak batch\n");
        foreach (var p in report.Points)
        {
            var load = p.Rate is { } r ? string.Create(c, $"rate {r:G4}/s") : string.Create(c, $"conc {p.Concurrency}");
            var s = p.Stats;
            sb.Append(c, $"{$"{p.InputTokens}/{p.OutputTokens}",-11} {load,-13} {s.TtftP50Ms,8:F1}ms {s.TtftP99Ms,8:F1}ms {s.TpotP50Ms,8:F2}ms {s.TpotP99Ms,8:F2}ms {s.OutputTokensPerSecond,10:F0} {s.RequestsPerSecond,8:F2} {s.GoodputRequestsPerSecond,10:F2} {s.SloAttainment,7:P0} {s.PeakBatch,8}\n");
        }

        if (report.Saturation is { } sat)
        {
            sb.Append(c, $"\nsaturation ({report.Points[0].InputTokens}/{report.Points[0].OutputTokens}): concurrency {sat.Concurrency}, {sat.OutputTokensPerSecond:F0} output tok/s, TPOT p50 {sat.TpotP50Ms:F2} ms, TTFT p50 {sat.TtftP50Ms:F1} ms (next doubling adds < 5 %)\n");
        }

        if (report.Plan is { } plan)
        {
            sb.Append(c, $"\nsizing for {plan.Developers} developers × {plan.RequestsPerDeveloperPerMinute:G3} req/min = {plan.DemandRequestsPerSecond:F2} req/s, SLO p99 TTFT ≤ {plan.Slo.TtftMs?.ToString(c) ?? "-"} ms, p99 TPOT ≤ {plan.Slo.TpotMs?.ToString(c) ?? "-"} ms:\n");
            if (!plan.Feasible)
            {
                sb.Append("  infeasible: even a trickle of requests misses the SLO on this profile\n");
            }
            else
            {
                sb.Append(c, $"  one replica sustains {plan.MaxRequestsPerSecondPerReplica:F3} req/s within the SLO → {plan.Replicas} replica(s) × {plan.DevicesPerReplica} device(s) = {plan.Devices} device(s)\n");
                sb.Append(plan.PricePerDeviceHour > 0
                    ? string.Create(c, $"  cost {plan.CostPerHour:F2} USD/h at {plan.PricePerDeviceHour:F2} USD/device-hour → {plan.CostPerMillionOutputTokens:F2} USD per million output tokens at this demand\n")
                    : latency.Hardware.TokenPrices.TryGetValue(latency.Model.Id, out var api)
                        ? string.Create(c, $"  cost: sold as an API at {api.UsdPerMillionInputTokens:G4} / {api.UsdPerMillionOutputTokens:G4} USD per 1M input / output tokens (the profile's tokenPrices source) → {((report.Points[0].InputTokens * api.UsdPerMillionInputTokens) + (report.Points[0].OutputTokens * api.UsdPerMillionOutputTokens)) / report.Points[0].OutputTokens:F2} USD per million output tokens at {report.Points[0].InputTokens}/{report.Points[0].OutputTokens} tokens a request\n")
                        : "  cost: the profile has no sourced device-hour or token price for this model\n");
            }
        }

        sb.Append("\ngoodput = requests per second meeting the SLO on both TTFT and TPOT (all requests without --slo).\nAll figures are SIMULATED by the latency model in docs/simulator.md; error bars in docs/simulator-validation.md.\n");
        sb.Append(report.TtftErrorBound is null && report.TpotErrorBound is null && report.ThroughputErrorBound is null
            ? string.Create(c, $"error on unseen data: unknown (no holdout row of the {latency.Hardware.Family} family)\n")
            : string.Create(c, $"error on unseen data ({latency.Hardware.Family} holdout rows, or every family's under load where it has none): TTFT up to {Bound(report.TtftErrorBound)}, TPOT up to {Bound(report.TpotErrorBound)}{(report.TpotBoundByArchitecture ? (latency.Model.IsMixtureOfExperts ? " (mixture-of-experts models' rows)" : " (dense models' rows)") : "")}, throughput up to {Bound(report.ThroughputErrorBound)}\n"));
        if (latency.Hardware.TokenPrices.Count > 0)
        {
            // Sold by the token: what a developer waits for also crosses the internet and the vendor's front end.
            sb.Append("sold as an API: these are the devices' own latencies, without the internet round trip or the vendor's front end; measure the API from your network (spark-eval run --backend 'openai?url=…&model=…&key_env=…') and give the run to procure as the candidate's latencyRunDirectory\n");
        }

        return sb.ToString();
    }

    private static Command CreateValidate(TextWriter stdout)
    {
        var data = new Option<string?>("--data") { Description = "Validation rows (default: hw-profiles/validation.json beside the profiles, else the embedded copy)." };
        var write = new Option<string?>("--write") { Description = "Write the Markdown page here (e.g. docs/simulator-validation.md) instead of printing it." };
        var summary = new Option<bool>("--summary") { Description = "Print only the error summary: median and worst per regime and per family, calibration and holdout apart." };
        var command = new Command("validate", "Compare the simulator's predictions with published measurements; prints (or writes) the validation table.") { data, write, summary, Profiles };
        command.SetAction(async (parse, ct) =>
        {
            var profilesDir = parse.GetValue(Profiles);
            var catalog = ProfileCatalog.Load(profilesDir);
            var file = ValidationRunner.LoadBesideProfiles(parse.GetValue(data), profilesDir);
            var results = ValidationRunner.Run(catalog, file);
            var page = ValidationRunner.RenderMarkdown(results, ValidationPage.ValidationPreamble(catalog));
            if (parse.GetValue(summary))
            {
                await stdout.WriteAsync(ValidationRunner.RenderSummary(results).AsMemory(), ct);
                return SparkEvalCli.ExitOk;
            }

            if (parse.GetValue(write) is { } target)
            {
                // Keep the measured local CPU section (validate-local writes it; this command cannot regenerate it).
                if (File.Exists(target) && LocalValidation.ExtractSection(await File.ReadAllTextAsync(target, ct)) is { } local)
                {
                    page = LocalValidation.UpsertSection(page, local);
                }

                await File.WriteAllTextAsync(target, page, ct);
                var fitted = results.Where(r => !r.Row.Holdout).ToList();
                var holdout = results.Where(r => r.Row.Holdout).ToList();
                await stdout.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                    $"wrote {target}: calibration {fitted.Count} rows, median absolute error {ValidationRunner.MedianAbsoluteError(fitted) * 100:F1} %, worst {fitted.Max(r => r.Ratio):F2}×; holdout {holdout.Count} rows, median absolute error {(holdout.Count > 0 ? ValidationRunner.MedianAbsoluteError(holdout) * 100 : 0):F1} %, worst {(holdout.Count > 0 ? holdout.Max(r => r.Ratio) : 0):F2}×").AsMemory(), ct);
            }
            else
            {
                await stdout.WriteAsync(page.AsMemory(), ct);
            }

            return SparkEvalCli.ExitOk;
        });
        return command;
    }

    /// <summary>A model profile for a generated shape (design values of the generator; embedding and head not tied).</summary>
    public static ModelProfile GeneratedProfile(string id, TestModelShape shape, string precision)
    {
        ArgumentNullException.ThrowIfNull(shape);
        return new ModelProfile
        {
            Id = id,
            Name = id,
            ParametersB = shape.ParameterCount / 1e9,
            ActiveParametersB = shape.ParameterCount / 1e9,
            Layers = shape.Layers,
            HiddenSize = shape.Embedding,
            AttentionHeads = shape.Heads,
            KvHeads = shape.KvHeads,
            HeadDim = shape.HeadDimension,
            VocabSize = shape.VocabSize,
            DefaultPrecision = precision,
        };
    }

    internal static List<int> ParseThreads(string text) =>
        ParseList(text, "--threads", 1, 512).Select(v => (int)v).Distinct().ToList();

    internal static string DefaultThreadList() =>
        string.Join(',', new[] { 1, LocalBackendFactory.DefaultThreads }.Distinct().Select(t => t.ToString(CultureInfo.InvariantCulture)));

    private static Command CreateValidateLocal(TextWriter stdout, TextWriter stderr)
    {
        var models = new Option<string>("--model", "-m") { Description = "Comma list of GGUF files; models/tiny.gguf, models/small.gguf and models/mid.gguf are generated when missing.", DefaultValueFactory = _ => "models/tiny.gguf,models/small.gguf,models/mid.gguf" };
        var modelProfile = new Option<string?>("--model-profile") { Description = "Model profile id for every --model (default: spark-tiny, spark-small, spark-mid by file name)." };
        var hw = new Option<string?>("--hw") { Description = "Hardware profile that predicts (default: cpu-local-tN for N threads when 'spark-eval calibrate' wrote it, else cpu-local)." };
        var threads = new Option<string>("--threads") { Description = "Comma list of llama.cpp thread counts.", DefaultValueFactory = _ => DefaultThreadList() };
        var prompts = new Option<string>("--prompt-tokens") { Description = "Comma list of prompt lengths (tokens).", DefaultValueFactory = _ => "64,256" };
        var decode = new Option<int>("--decode-tokens") { Description = "Tokens generated per measurement.", DefaultValueFactory = _ => 32 };
        var warmup = new Option<int>("--warmup") { Description = "Unmeasured runs per point.", DefaultValueFactory = _ => 1 };
        var repeats = new Option<int>("--repeats") { Description = "Measured runs per point (medians are compared).", DefaultValueFactory = _ => 3 };
        var json = new Option<bool>("--json") { Description = "Print the rows as one JSON object." };
        var write = new Option<string?>("--write") { Description = "Write/refresh the 'Local CPU validation' section of this Markdown page (e.g. docs/simulator-validation.md); the rest of the page is kept." };
        var command = new Command("validate-local",
            "Measure llama.cpp runs of the generated test models here (TTFT, decode tok/s; medians) and compare them with the simulator's predictions for the cpu-local profiles.")
        {
            models, modelProfile, hw, threads, prompts, decode, warmup, repeats, json, write, Profiles,
        };
        command.SetAction(async (parse, ct) =>
        {
            var catalog = ProfileCatalog.Load(parse.GetValue(Profiles));
            var threadCounts = ParseThreads(parse.GetValue(threads)!);
            var hwFor = new Dictionary<int, HardwareProfile>();
            foreach (var t in threadCounts)
            {
                var id = parse.GetValue(hw) ?? (catalog.Hardware.Any(h => h.Id == $"cpu-local-t{t}") ? string.Create(CultureInfo.InvariantCulture, $"cpu-local-t{t}") : "cpu-local");
                hwFor[t] = catalog.GetHardware(id);
            }

            var promptTargets = ParseList(parse.GetValue(prompts)!, "--prompt-tokens", 1, 1 << 14).Select(v => (int)v).ToList();
            var decodeTokens = parse.GetValue(decode) is var d and >= 2 and <= 4096 ? d : throw new InputException("--decode-tokens: must be 2..4096. Fix: give a count such as 32");
            var warm = parse.GetValue(warmup) is var w and >= 0 and <= 100 ? w : throw new InputException("--warmup: must be 0..100. Fix: give a count such as 1");
            var reps = parse.GetValue(repeats) is var r and >= 1 and <= 100 ? r : throw new InputException("--repeats: must be 1..100. Fix: give a count such as 3");
            var time = TimeProvider.System;
            var loadAverage = await LoadAverageAsync(ct);
            var rows = new List<LocalValidationRow>();
            var cpu = EnvironmentProbe.CpuModel();
            foreach (var text in parse.GetValue(models)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                var profileId = parse.GetValue(modelProfile) ?? Path.GetFileName(text) switch
                {
                    "tiny.gguf" => "spark-tiny",
                    "small.gguf" => "spark-small",
                    "mid.gguf" => "spark-mid",
                    _ => throw new InputException($"--model {text}: no model profile known for this file. Fix: add --model-profile <id> (see 'spark-eval simulate profiles')"),
                };
                var profile = catalog.GetModel(profileId, "--model-profile");
                var path = Path.GetFullPath(text);
                if (!File.Exists(path) && Path.GetFileName(path) == "mid.gguf")
                {
                    Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                    await stderr.WriteLineAsync($"generating {text}: random-weight Llama test model, {CalibrationModels.MidShape.ParameterCount / 1e6:0.##}M params, F16".AsMemory(), ct);
                    TestModelGenerator.WriteFile(path, CalibrationModels.MidShape, GgmlType.F16, LocalBackendFactory.DefaultSeed);
                }

                LocalBackendFactory.EnsureModel(path, text, new Core.Backends.BackendContext(time, Directory.GetCurrentDirectory(), stderr.WriteLine), $"--model {text}");
                var bench = new LocalBench(time, line => stderr.WriteLine(line));
                foreach (var (t, promptTokens, result) in await bench.RunHarnessAsync(path, threadCounts, promptTargets, decodeTokens, warm, reps, ct))
                {
                    var latency = Build(catalog, hwFor[t].Id, profile.Id, null, 1);
                    var m = new LocalMeasurement(Path.GetFileName(text), profile.Id, latency.Precision.Name, t, promptTokens, decodeTokens, reps,
                        result.TtftMsMedian, result.DecodeTokensPerSecondMedian);
                    rows.AddRange(LocalValidation.Rows(latency, m, hwFor[t].Id));
                }
            }

            var loadAfter = await LoadAverageAsync(ct);
            var report = new LocalValidationReport
            {
                Hardware = string.Join(", ", hwFor.Values.Select(h => h.Id).Distinct(StringComparer.Ordinal)),
                Cpu = string.Create(CultureInfo.InvariantCulture, $"{cpu} ({Environment.ProcessorCount} logical cores)"),
                LoadAverage = loadAverage,
                LoadAverageAfter = loadAfter,
                MeasuredUtc = time.GetUtcNow(),
                Rows = rows,
                MedianAbsoluteError = LocalValidation.MedianAbsoluteError(rows),
                WorstRatio = rows.Count > 0 ? rows.Max(x => x.Ratio) : double.NaN,
                Definitions = LocalValidation.Definitions,
                Calibration = [.. hwFor.Values.Distinct().SelectMany(CalibrationLines)],
            };
            if (parse.GetValue(write) is { } target)
            {
                var commandText = string.Create(CultureInfo.InvariantCulture,
                    $"spark-eval simulate validate-local --model {parse.GetValue(models)} --threads {string.Join(',', threadCounts)} --prompt-tokens {parse.GetValue(prompts)} --decode-tokens {decodeTokens} --warmup {warm} --repeats {reps} --write {target}");
                var page = File.Exists(target) ? await File.ReadAllTextAsync(target, ct) : "# Simulator validation\n";
                await File.WriteAllTextAsync(target, LocalValidation.UpsertSection(page, LocalValidation.RenderMarkdown(report, commandText)), ct);
                await stderr.WriteLineAsync($"wrote the Local CPU validation section of {target}".AsMemory(), ct);
            }

            await stdout.WriteAsync((parse.GetValue(json)
                ? JsonSerializer.Serialize(report, LocalValidationJsonContext.Default.LocalValidationReport) + "\n"
                : LocalValidation.RenderText(report)).AsMemory(), ct);
            return SparkEvalCli.ExitOk;
        });
        return command;
    }

    /// <summary>One line saying how a profile was measured, then one line per calibrated figure (the value part of its quote).</summary>
    private static IEnumerable<string> CalibrationLines(HardwareProfile h)
    {
        static (string How, string Value) Split(string quote)
        {
            var at = quote.LastIndexOf(": ", StringComparison.Ordinal);
            return at < 0 ? (quote, quote) : (quote[..at], quote[(at + 2)..]);
        }

        string[] fields = ["weightReadGBps", "peakTflops", "stepOverheadMs", "layerOverheadUs", "decodeContextNs", "decodeScalarElementNs", "prefillPairNs", "prefillElementNs", "requestOverheadMs"];
        var sources = h.Sources.Where(s => fields.Contains(s.Field)).ToList();
        if (sources.Count == 0)
        {
            yield break;
        }

        yield return $"`{h.Id}`: {Split(sources[0].Quote).How}";
        foreach (var s in sources)
        {
            yield return $"`{h.Id}.{s.Field}`: {Split(s.Quote).Value}";
        }
    }

    internal static async Task<string> LoadAverageAsync(CancellationToken ct) =>
        File.Exists("/proc/loadavg") ? string.Join(' ', (await File.ReadAllTextAsync("/proc/loadavg", ct)).Split(' ').Take(3)) : "n/a";

    private static Command CreateBench(TextWriter stdout)
    {
        var n = new Option<int>("--requests", "-n") { Description = "Requests to simulate.", DefaultValueFactory = _ => 100_000 };
        var conc = new Option<int>("--concurrency", "-c") { Description = "Closed-loop concurrency.", DefaultValueFactory = _ => 256 };
        var command = new Command("bench", "Time the simulator itself: N requests of Llama 3.1 8B (bf16) on H100, 2048 in / 128 out, continuous batching (wall-clock seconds).") { n, conc, Profiles };
        command.SetAction(async (parse, ct) =>
        {
            var catalog = ProfileCatalog.Load(parse.GetValue(Profiles));
            var latency = Build(catalog, "h100-sxm", "llama-3.1-8b", "bf16", 1);
            var options = new LoadOptions { Requests = parse.GetValue(n), Concurrency = parse.GetValue(conc), InputTokens = 2048, OutputTokens = 128, Seed = 1 };
            var time = TimeProvider.System;
            var start = time.GetTimestamp();
            var result = LoadSimulator.Run(latency, options);
            var elapsed = time.GetElapsedTime(start).TotalSeconds;
            var stats = LoadSimulator.Summarize(result);
            await stdout.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"simulated {options.Requests:N0} requests ({result.Steps:N0} engine steps, {stats.SimulatedSeconds:F1} simulated s, {stats.OutputTokensPerSecond:F0} simulated output tok/s) in {elapsed:F2} s wall clock").AsMemory(), ct);
            return SparkEvalCli.ExitOk;
        });
        return command;
    }

    private static Command CreateProfilesList(TextWriter stdout)
    {
        var command = new Command("profiles", "List the hardware and model profiles and where they were loaded from.") { Profiles };
        command.SetAction(async (parse, ct) =>
        {
            var catalog = ProfileCatalog.Load(parse.GetValue(Profiles));
            var c = CultureInfo.InvariantCulture;
            var sb = new System.Text.StringBuilder();
            sb.Append(c, $"profiles from {catalog.Origin}\n\nhardware:\n");
            foreach (var h in catalog.Hardware)
            {
                sb.Append(c, $"  {h.Id,-16} {h.Name} [{h.Family}, {h.Architecture}] {h.MemoryGB:G4} GB, {h.MemoryBandwidthGBps:G4} GB/s, {h.PeakTflopsFor(Precision.Find("bf16")!):G4} TFLOPS bf16, {(h.PricePerDeviceHour > 0 ? h.PricePerDeviceHour.ToString("F2", c) + " USD/h" : "no price")}\n");
            }

            sb.Append("\nmodels:\n");
            foreach (var m in catalog.Models)
            {
                sb.Append(c, $"  {m.Id,-18} {m.Name}: {m.ParametersB:G4}B params ({m.ActiveParametersB:G3}B active), {m.Layers} layers, capability {m.Capability:F2}, default {m.DefaultPrecision}\n");
            }

            await stdout.WriteAsync(sb.ToString().AsMemory(), ct);
            return SparkEvalCli.ExitOk;
        });
        return command;
    }
}
