using System.Globalization;
using Spark.Eval.Core.Metrics;
using Spark.Eval.Core.Running;
using Spark.Eval.Simulator.Latency;

namespace Spark.Eval.Simulator.Load;

/// <summary>What load to simulate: request count and lengths, closed-loop concurrency or an open-loop arrival rate, seed and jitter.</summary>
public sealed record LoadOptions
{
    public int Requests { get; init; } = 1000;
    public int InputTokens { get; init; } = 2048;
    public int OutputTokens { get; init; } = 128;
    /// <summary>Closed loop: this many clients, each sending its next request as soon as the previous one ends.</summary>
    public int? Concurrency { get; init; }
    /// <summary>Open loop: requests per second, spaced by the runner's arrival process.</summary>
    public double? Rate { get; init; }
    /// <summary>poisson or gamma (as spark-eval run).</summary>
    public string Arrival { get; init; } = "poisson";
    public double Burstiness { get; init; } = 1.0;
    /// <summary>Uniform spread of lengths around their means, as a fraction (0 = every request the same).</summary>
    public double LengthSpread { get; init; }

    /// <summary>Uniform spread of answer lengths where it differs from the prompts' (<see cref="LengthSpread"/>); null: the same.</summary>
    public double? OutputLengthSpread { get; init; }

    /// <summary>A measured dataset's length shape scaled to the means (replaces <see cref="LengthSpread"/>); null: every request at the means (or the uniform spread).</summary>
    public LengthDistribution? Lengths { get; init; }
    /// <summary>Chunked prefill: each step mixes decode tokens with prompt chunks up to the device's step-token budget.</summary>
    public bool ChunkedPrefill { get; init; }

    /// <summary>
    /// A batch benchmark that prefills every admitted prompt before it decodes and times decoding alone (llama-batched-bench:
    /// T_TG, "time to generate all batches", after T_PP): a sequence's time per output token counts its decode steps only,
    /// not the wait while other prompts of its batch are prefilled. Decode steps already wait for every pending prefill
    /// when chunked prefill is off, which this option requires.
    /// </summary>
    public bool PrefillFirst { get; init; }

    /// <summary>
    /// Asynchronous scheduling (vLLM <c>--async-scheduling</c>): the scheduler forms step N+1 while step N runs on the device
    /// ("one step ahead of the current execution", vLLM PR #19970). Two consequences, no constant: the host's per-step work
    /// (the profile's <c>stepOverheadMs</c>) overlaps the device's, so a step lasts the longer of the two instead of their sum;
    /// and a request that arrives while a step runs joins the step after the next, whose batch is formed when the running one
    /// ends. A request arriving at an idle engine is scheduled at once.
    /// </summary>
    public bool AsyncScheduling { get; init; }
    /// <summary>Relative standard deviation of each step's duration (0 = deterministic durations).</summary>
    public double Jitter { get; init; }

    /// <summary>
    /// Closed loop: the load generator sends one request at a time, so requests due at the same moment (the clients' first
    /// requests, or the next ones of clients whose answers ended in the same step) leave at least this many seconds apart, in
    /// turn. 0: together. A real client never sends them together (<c>simulate calibrate</c> measures the gap from the sweep's
    /// own start times); with answers that all stop at one token cap, together means every wave's prompts share one prefill
    /// step, while a gap lets the first of them start alone and the clients drift apart.
    /// </summary>
    public double SendGapSeconds { get; init; }
    public int Seed { get; init; } = 1;
    /// <summary>Requests at the start excluded from statistics (warm-up), as a fraction of <see cref="Requests"/>.</summary>
    public double WarmupFraction { get; init; }
}

/// <summary>Per-request results of one simulation, in completion order, plus the totals; all times are simulated seconds.</summary>
public sealed class LoadResult
{
    internal LoadResult(double[] ttft, double[] tpot, double[] e2e, double duration, long outputTokens, int peakBatch, long steps, int measuredFrom)
    {
        Ttft = ttft;
        Tpot = tpot;
        EndToEnd = e2e;
        Duration = duration;
        OutputTokens = outputTokens;
        PeakBatch = peakBatch;
        Steps = steps;
        MeasuredFrom = measuredFrom;
    }

    /// <summary>Time to first token per request as the client sees it (queueing + overhead + prefill + network), s.</summary>
    public double[] Ttft { get; }

    /// <summary>Time per output token after the first: (finish − first token) / (output − 1), s.</summary>
    public double[] Tpot { get; }

    public double[] EndToEnd { get; }

    /// <summary>Simulated seconds from the first measured arrival to the last completion.</summary>
    public double Duration { get; }

    public long OutputTokens { get; }

    public int PeakBatch { get; }

    public long Steps { get; }

    internal int MeasuredFrom { get; }

    /// <summary>Output tokens per simulated second over the measured window.</summary>
    public double OutputTokensPerSecond => Duration > 0 ? OutputTokens / Duration : 0;

    public double RequestsPerSecond => Duration > 0 ? Ttft.Length / Duration : 0;
}

/// <summary>
/// Discrete-event simulation of an inference engine with iteration-level (continuous) batching: requests arrive
/// (closed loop or open loop), wait for a KV-cache reservation, are prefilled (whole, or in chunks mixed with decode
/// steps) and decode one token per step until done. Deterministic for a seed.
/// </summary>
public static class LoadSimulator
{
    public static LoadResult Run(LatencyModel model, LoadOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        var n = options.Requests;
        if (n <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(options), "Requests must be > 0");
        }

        if (options.PrefillFirst && options.ChunkedPrefill)
        {
            throw new Core.InputException("--prefill-first with --chunked-prefill true: a prefill-first batch benchmark prefills whole prompts before decoding. Fix: drop one of them");
        }

        var hw = model.Hardware;
        var random = new Random(options.Seed);
        var input = new int[n];
        var output = new int[n];
        for (var i = 0; i < n; i++)
        {
            if (options.Lengths is { } lengths)
            {
                (input[i], output[i]) = lengths.Draw(options.InputTokens, options.OutputTokens, random);
                continue;
            }

            input[i] = Spread(options.InputTokens, options.LengthSpread, random);
            output[i] = Spread(options.OutputTokens, options.OutputLengthSpread ?? options.LengthSpread, random);
        }

        var overhead = model.RequestOverheadSeconds;
        var rtt = hw.NetworkRttMs / 1000.0;
        var arrival = new double[n];
        var pending = new PriorityQueue<int, (double, int)>();
        var issued = 0;
        var gap = options.SendGapSeconds > 0 && double.IsFinite(options.SendGapSeconds) ? options.SendGapSeconds : 0;
        var lastSent = double.NegativeInfinity;
        if (options.Rate is { } rate)
        {
            var offsets = ArrivalSchedule.Compute(n, rate, options.Arrival, options.Burstiness, options.Seed);
            for (var i = 0; i < n; i++)
            {
                arrival[i] = offsets[i] / 1e6;
                pending.Enqueue(i, (arrival[i] + overhead + (rtt / 2), i));
            }

            issued = n;
        }
        else
        {
            var clients = Math.Min(n, Math.Max(1, options.Concurrency ?? 1));
            for (; issued < clients; issued++)
            {
                arrival[issued] = lastSent = issued * gap;
                pending.Enqueue(issued, (gap > 0 ? arrival[issued] + overhead + (rtt / 2) : overhead + (rtt / 2), issued));
            }
        }

        var kvCapacity = model.KvCapacityTokens;
        var maxBatch = hw.MaxBatch;
        var waiting = new Queue<int>();
        var running = new List<int>(Math.Min(n, maxBatch));
        var prefillLeft = new int[n];
        var generated = new int[n];
        var firstToken = new double[n];
        var decodeStart = new double[n];
        var done = new double[n];
        var finishedOrder = new List<int>(n);
        var chunk = new int[maxBatch + 1];
        long kvReserved = 0;
        double decodeContext = 0;
        var t = 0.0;
        var peak = 0;
        long steps = 0;
        var rejectedAlone = false;
        // Asynchronous scheduling: the batch of the step starting at t was formed when the previous step started.
        var formedAt = 0.0;
        var stepInFlight = false;

        while (finishedOrder.Count < n)
        {
            var horizon = options.AsyncScheduling && stepInFlight ? formedAt : t;
            while (pending.Count > 0 && pending.TryPeek(out _, out var due) && due.Item1 <= horizon)
            {
                waiting.Enqueue(pending.Dequeue());
            }

            // Admission: FIFO, a request enters when its whole sequence fits the KV budget (no preemption).
            while (waiting.Count > 0 && running.Count < maxBatch)
            {
                var next = waiting.Peek();
                var need = model.KvTokensFor(input[next] + output[next]);
                if (kvReserved + need > kvCapacity && running.Count > 0)
                {
                    break;
                }

                if (need > kvCapacity)
                {
                    rejectedAlone = true;
                }

                waiting.Dequeue();
                kvReserved += need;
                prefillLeft[next] = input[next];
                generated[next] = 0;
                running.Add(next);
            }

            if (running.Count == 0)
            {
                if (pending.Count == 0)
                {
                    break;
                }

                pending.TryPeek(out _, out var nextDue);
                t = Math.Max(t, nextDue.Item1);
                // An idle engine schedules an arrival at once.
                stepInFlight = false;
                continue;
            }

            peak = Math.Max(peak, running.Count);

            // Build the step: which prompts get (chunks of) prefill, and whether decoding sequences advance.
            var dt = EngineStep.Form(model, running, prefillLeft, input, chunk, options.ChunkedPrefill, options.AsyncScheduling, decodeContext, out var decodeThisStep);
            if (options.Jitter > 0)
            {
                dt *= Math.Max(0.05, 1 + (options.Jitter * Gaussian(random)));
            }

            var stepStart = t;
            formedAt = stepStart;
            stepInFlight = true;
            t += dt;
            steps++;

            var write = 0;
            for (var k = 0; k < running.Count; k++)
            {
                var r = running[k];
                var keep = true;
                if (chunk[k] > 0)
                {
                    prefillLeft[r] -= chunk[k];
                    if (prefillLeft[r] == 0)
                    {
                        // The prefill step's last position yields the first output token.
                        firstToken[r] = t;
                        generated[r] = 1;
                        decodeContext += input[r] + 1;
                        keep = !Finish(r);
                    }
                }
                else if (prefillLeft[r] == 0 && decodeThisStep && generated[r] > 0)
                {
                    if (generated[r] == 1)
                    {
                        decodeStart[r] = stepStart;
                    }

                    generated[r]++;
                    decodeContext++;
                    keep = !Finish(r);
                }

                if (keep)
                {
                    running[write++] = r;
                }
            }

            running.RemoveRange(write, running.Count - write);
        }

        _ = rejectedAlone;
        return Collect();

        bool Finish(int r)
        {
            if (generated[r] < output[r])
            {
                return false;
            }

            done[r] = t;
            finishedOrder.Add(r);
            // What admission reserved (on sliding-window layers only the window), not the whole sequence.
            kvReserved -= model.KvTokensFor(input[r] + output[r]);
            decodeContext -= input[r] + generated[r];
            if (options.Rate is null && issued < n)
            {
                // Closed loop: the client sees the end after half a round trip and sends its next request, once the load
                // generator has sent the one before it (SendGapSeconds).
                var seen = t + (rtt / 2);
                var held = lastSent + gap > seen;
                arrival[issued] = lastSent = held ? lastSent + gap : seen;
                pending.Enqueue(issued, (held ? arrival[issued] + (rtt / 2) + overhead : t + rtt + overhead, issued));
                issued++;
            }

            return true;
        }

        LoadResult Collect()
        {
            var skip = (int)Math.Floor(n * Math.Clamp(options.WarmupFraction, 0, 0.9));
            var measured = finishedOrder.Where(r => r >= skip).ToArray();
            var ttft = new double[measured.Length];
            var tpot = new double[measured.Length];
            var e2e = new double[measured.Length];
            long tokens = 0;
            double start = double.MaxValue, end = 0;
            for (var i = 0; i < measured.Length; i++)
            {
                var r = measured[i];
                // The client sees each token half a round trip after the server produced it.
                ttft[i] = firstToken[r] + (rtt / 2) - arrival[r];
                // Prefill-first batch benchmarks time the decode steps alone (from the first decode step that includes the sequence).
                tpot[i] = output[r] > 1 ? (done[r] - (options.PrefillFirst ? decodeStart[r] : firstToken[r])) / (output[r] - 1) : 0;
                e2e[i] = done[r] + (rtt / 2) - arrival[r];
                tokens += output[r];
                start = Math.Min(start, arrival[r]);
                end = Math.Max(end, done[r] + (rtt / 2));
            }

            return new LoadResult(ttft, tpot, e2e, measured.Length > 0 ? end - start : 0, tokens, peak, steps, skip);
        }
    }

    private static int Spread(int mean, double spread, Random random) =>
        spread <= 0 ? mean : Math.Max(1, (int)Math.Round(mean * (1 + (spread * ((2 * random.NextDouble()) - 1)))));

    private static double Gaussian(Random random)
    {
        var u1 = 1.0 - random.NextDouble();
        var u2 = random.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

    /// <summary>Summarises a result: percentiles of TTFT and TPOT, throughput and goodput under an SLO.</summary>
    public static SimulationStats Summarize(LoadResult result, Slo? slo = null)
    {
        ArgumentNullException.ThrowIfNull(result);
        var ttft = (double[])result.Ttft.Clone();
        var tpot = (double[])result.Tpot.Clone();
        var e2e = (double[])result.EndToEnd.Clone();
        var good = 0;
        for (var i = 0; i < ttft.Length; i++)
        {
            if (slo is null || slo.Meets(ttft[i], tpot[i]))
            {
                good++;
            }
        }

        Array.Sort(ttft);
        Array.Sort(tpot);
        Array.Sort(e2e);
        return new SimulationStats
        {
            Requests = ttft.Length,
            TtftP50Ms = 1000 * LatencyStatistics.Percentile(ttft, 0.5),
            TtftP99Ms = 1000 * LatencyStatistics.Percentile(ttft, 0.99),
            TtftMeanMs = 1000 * ttft.Average(),
            TpotP50Ms = 1000 * LatencyStatistics.Percentile(tpot, 0.5),
            TpotP99Ms = 1000 * LatencyStatistics.Percentile(tpot, 0.99),
            TpotMeanMs = 1000 * tpot.Average(),
            EndToEndP50Ms = 1000 * LatencyStatistics.Percentile(e2e, 0.5),
            EndToEndP99Ms = 1000 * LatencyStatistics.Percentile(e2e, 0.99),
            OutputTokensPerSecond = result.OutputTokensPerSecond,
            RequestsPerSecond = result.RequestsPerSecond,
            GoodputRequestsPerSecond = result.Duration > 0 ? good / result.Duration : 0,
            SloAttainment = ttft.Length > 0 ? (double)good / ttft.Length : 0,
            PeakBatch = result.PeakBatch,
            SimulatedSeconds = result.Duration,
        };
    }
}

/// <summary>A service-level objective on p99 time to first token and p99 time per output token (either may be absent).</summary>
public sealed record Slo(double? TtftMs, double? TpotMs)
{
    public bool Meets(double ttftSeconds, double tpotSeconds) =>
        (TtftMs is not { } a || ttftSeconds * 1000 <= a) && (TpotMs is not { } b || tpotSeconds * 1000 <= b);

    /// <summary>Parses <c>ttft_ms=500,tpot_ms=50</c> (either key may be omitted).</summary>
    public static Slo Parse(string text)
    {
        double? ttft = null, tpot = null;
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = part.IndexOf('=', StringComparison.Ordinal);
            var key = eq > 0 ? part[..eq] : part;
            if (eq <= 0 || !double.TryParse(part[(eq + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || value <= 0)
            {
                throw new Core.InputException($"--slo '{text}': '{part}' is not key=number. Fix: write --slo ttft_ms=500,tpot_ms=50");
            }

            switch (key)
            {
                case "ttft_ms": ttft = value; break;
                case "tpot_ms": tpot = value; break;
                default: throw new Core.InputException($"--slo '{text}': unknown key '{key}'. Fix: use ttft_ms and/or tpot_ms (p99 targets)");
            }
        }

        return ttft is null && tpot is null
            ? throw new Core.InputException($"--slo '{text}': no target given. Fix: write --slo ttft_ms=500,tpot_ms=50")
            : new Slo(ttft, tpot);
    }
}

/// <summary>Summary statistics of one simulated load point; every time is a simulated time in ms.</summary>
public sealed record SimulationStats
{
    public int Requests { get; init; }
    public double TtftP50Ms { get; init; }
    public double TtftP99Ms { get; init; }
    public double TtftMeanMs { get; init; }
    public double TpotP50Ms { get; init; }
    public double TpotP99Ms { get; init; }
    public double TpotMeanMs { get; init; }
    public double EndToEndP50Ms { get; init; }
    public double EndToEndP99Ms { get; init; }
    /// <summary>Output tokens / simulated seconds from first measured arrival to last completion.</summary>
    public double OutputTokensPerSecond { get; init; }
    public double RequestsPerSecond { get; init; }
    /// <summary>Requests per second that met the SLO (all requests when no SLO is set).</summary>
    public double GoodputRequestsPerSecond { get; init; }
    public double SloAttainment { get; init; }
    public int PeakBatch { get; init; }
    public double SimulatedSeconds { get; init; }
}
