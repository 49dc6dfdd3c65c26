using System.Globalization;
using Spark.Eval.Core.Metrics;
using Spark.Eval.Core.Results;

namespace Spark.Eval.Reporting;

/// <summary>One target checked for one backend: what was required, what was measured, and by how much it was met or missed.</summary>
/// <param name="Target">The target in words, e.g. "TTFT p99 ≤ 500 ms" or "in flow ≥ 90 %".</param>
/// <param name="Actual">The backend's figure (ms, or a ratio for the flow target); null when it has no value (no ok attempt).</param>
/// <param name="Limit">The target's limit in the same unit.</param>
/// <param name="Met">True when the figure is within the limit.</param>
/// <param name="Miss">How far off: relative excess for a latency (0.4 = 40 % over), percentage points short for the flow target; 0 when met.</param>
public sealed record TargetCheck(string Target, double? Actual, double Limit, bool Met, double Miss);

/// <summary>The verdict for one backend: its nature and every target checked.</summary>
public sealed record BackendVerdict(string Backend, BackendNature Nature, IReadOnlyList<TargetCheck> Checks, string Sentence)
{
    public bool MeetsAll => Checks.All(c => c.Met);
}

/// <summary>
/// The decision a report leads with: per backend, whether it meets each SLO (on p99) and the flow target, and by how
/// much; and which backend answers best. Computed from the summary and manifest only (docs/reports.md, "Verdict").
/// </summary>
public sealed record RunVerdict(IReadOnlyList<BackendVerdict> Backends, IReadOnlyList<string> Findings)
{
    /// <summary>The flow target: at least this share of decided attempts must deliver the whole answer within 1 s.</summary>
    public const double FlowTargetRatio = 0.9;

    /// <summary>Checks every backend of <paramref name="summary"/> against the run's SLO and the flow target.</summary>
    public static RunVerdict Decide(RunSummary summary, RunManifest? manifest)
    {
        ArgumentNullException.ThrowIfNull(summary);
        var slo = manifest?.Plan.Slo ?? (summary.Backends.Count > 0 ? summary.Backends[0].Goodput.Slo : new SloSpec());
        var backends = summary.Backends.Select(b => ForBackend(b, slo, BackendLabels.Nature(b, manifest))).ToList();
        var findings = new List<string>();
        if (summary.Backends.Count > 0 && summary.Backends.All(b => b.Counts.Ok == 0 && b.Counts.Error + b.Counts.Timeout > 0))
        {
            findings.Add("every attempt failed: no backend can be judged (see the failed attempts by error class)");
        }

        var meeting = backends.Where(b => b.MeetsAll && summary.Backends.First(s => s.Backend == b.Backend).Counts.Ok > 0).ToList();
        var targets = slo.IsSet ? $"the SLO ({SloSyntax.Describe(slo)}, on p99) and the flow target" : "the flow target";
        if (meeting.Count > 0 && meeting.Count < backends.Count)
        {
            findings.Add($"{Join(meeting.Select(Name))} meet{(meeting.Count == 1 ? "s" : "")} {targets}");
        }
        else if (meeting.Count == backends.Count && backends.Count > 0)
        {
            findings.Add($"every backend meets {targets}");
        }
        else if (backends.Count > 0)
        {
            findings.Add($"no backend meets {targets}");
        }

        var graded = summary.Backends.Where(b => b.Grading is { Graded: > 0 } && BackendLabels.Nature(b, manifest) != BackendNature.RandomWeights).ToList();
        if (graded.Count > 0)
        {
            var best = graded.OrderByDescending(b => b.Grading!.PassRate).First();
            var (low, high) = ProportionInterval.Wilson95(best.Grading!.Passed, best.Grading.Graded);
            var rivals = graded.Where(b => b != best && ProportionInterval.Wilson95(b.Grading!.Passed, b.Grading.Graded).High >= low).Select(b => b.Backend).ToList();
            findings.Add(string.Create(CultureInfo.InvariantCulture,
                $"best pass rate: {best.Backend} {best.Grading.PassRate * 100:0} % [{low * 100:0}, {high * 100:0}] of {best.Grading.Graded}")
                + (rivals.Count > 0 ? $", not distinguishable from {Join(rivals)} (intervals overlap)" : ""));
        }

        var random = backends.Where(b => b.Nature == BackendNature.RandomWeights).Select(b => b.Backend).ToList();
        if (random.Count > 0)
        {
            findings.Add($"{Join(random)}: {BackendLabels.RandomWeightsText}; its pass rate says nothing about a real model");
        }

        var simulated = backends.Where(b => b.Nature == BackendNature.Simulated).Select(b => b.Backend).ToList();
        if (simulated.Count > 0)
        {
            findings.Add($"SIMULATED: {Join(simulated)} report modelled timings, not measurements");
        }

        return new RunVerdict(backends, findings);

        static string Name(BackendVerdict b) => b.Backend;
    }

    /// <summary>
    /// The verdict as one line for a terminal (wrapped at <paramref name="width"/>): who meets every target, who misses
    /// which and by how much, and the best pass rate, e.g. "verdict: meet SLO + flow target: a · miss: b (TTFT p99 +40 %)".
    /// </summary>
    public IReadOnlyList<string> Lines(int width = 100)
    {
        var meet = Backends.Where(b => b.MeetsAll).Select(b => b.Backend).ToList();
        var miss = Backends.Where(b => !b.MeetsAll).Select(b => $"{b.Backend} ({string.Join(", ", b.Checks.Where(c => !c.Met).Select(Short))})").ToList();
        var what = Backends.Any(b => b.Checks.Count > 1) ? "SLO + flow target" : "flow target";
        var parts = new List<string> { $"meet {what}: {(meet.Count == 0 ? "none" : string.Join(", ", meet))}" };
        if (miss.Count > 0)
        {
            parts.Add("miss: " + string.Join(", ", miss));
        }

        parts.AddRange(Findings.Where(f => f.StartsWith("best pass rate", StringComparison.Ordinal) || f.StartsWith("every attempt failed", StringComparison.Ordinal))
            .Select(f => f.Replace(", not distinguishable from", ", ties", StringComparison.Ordinal).Replace(" (intervals overlap)", "", StringComparison.Ordinal)));
        var lines = new List<string>();
        ConsoleSummaryTable.Wrap("verdict: " + string.Join(" · ", parts), width, lines, "    ");
        return lines;

        static string Short(TargetCheck c) => c.Target.StartsWith("in flow", StringComparison.Ordinal)
            ? string.Create(CultureInfo.InvariantCulture, $"in flow {(c.Actual ?? 0) * 100:0} %")
            : c.Actual is null
                ? c.Target.Split(' ')[0] + " p99 –"
                : string.Create(CultureInfo.InvariantCulture, $"{c.Target.Split(' ')[0]} p99 +{c.Miss * 100:0} %");
    }

    private static BackendVerdict ForBackend(BackendSummary b, SloSpec slo, BackendNature nature)
    {
        var checks = new List<TargetCheck>();
        Latency("TTFT", "ttft_ms", slo.TtftMs);
        Latency("TPOT", "tpot_ms", slo.TpotMs);
        Latency("E2E", "e2e_ms", slo.E2eMs);
        var inFlow = b.Flow?.InFlowRatio;
        var flowMet = inFlow >= FlowTargetRatio;
        checks.Add(new TargetCheck(string.Create(CultureInfo.InvariantCulture, $"in flow ≥ {FlowTargetRatio * 100:0} %"), inFlow, FlowTargetRatio, flowMet,
            flowMet ? 0 : (FlowTargetRatio - (inFlow ?? 0)) * 100));

        var name = nature switch
        {
            BackendNature.Simulated => b.Backend + " (simulated)",
            BackendNature.RandomWeights => b.Backend + " (random weights)",
            _ => b.Backend,
        };
        string sentence;
        if (b.Counts.Ok == 0)
        {
            sentence = $"{name} meets nothing: no attempt succeeded ({b.Counts.Error + b.Counts.Timeout} failed)";
        }
        else
        {
            var met = checks.Where(c => c.Met).Select(c => c.Target).ToList();
            var missed = checks.Where(c => !c.Met).Select(Missed).ToList();
            sentence = missed.Count == 0
                ? $"{name} meets {(slo.IsSet ? "every SLO and " : "")}the flow target ({Join(checks.Select(Measured))})"
                : $"{name} " + (met.Count > 0 ? $"meets {Join(met)}; " : "") + $"misses {Join(missed)}";
        }

        return new BackendVerdict(b.Backend, nature, checks, sentence);

        void Latency(string label, string metric, double? limit)
        {
            if (limit is not { } l)
            {
                return;
            }

            double? p99 = b.Metrics.TryGetValue(metric, out var s) ? s.P99 : null;
            var met = p99 <= l;
            checks.Add(new TargetCheck(string.Create(CultureInfo.InvariantCulture, $"{label} p99 ≤ {l:0.###} ms"), p99, l, met, met || p99 is null ? 0 : (p99.Value / l) - 1));
        }
    }

    private static string Measured(TargetCheck c) => c.Target.StartsWith("in flow", StringComparison.Ordinal)
        ? string.Create(CultureInfo.InvariantCulture, $"in flow {c.Actual * 100:0} %")
        : string.Create(CultureInfo.InvariantCulture, $"{c.Target.Split(' ')[0]} p99 {ReportTables.F(c.Actual ?? 0)} ms");

    private static string Missed(TargetCheck c)
    {
        if (c.Target.StartsWith("in flow", StringComparison.Ordinal))
        {
            return string.Create(CultureInfo.InvariantCulture, $"the flow target by {c.Miss:0} points ({(c.Actual ?? 0) * 100:0} % in flow)");
        }

        var label = c.Target.Split(' ')[0] + " p99";
        return c.Actual is { } actual
            ? string.Create(CultureInfo.InvariantCulture, $"{label} by {c.Miss * 100:0} % ({ReportTables.F(actual)} ms > {c.Limit:0.###} ms)")
            : $"{label} (no successful attempt)";
    }

    private static string Join(IEnumerable<string> items)
    {
        var list = items.ToList();
        return list.Count switch
        {
            0 => "",
            1 => list[0],
            _ => string.Join(", ", list.Take(list.Count - 1)) + " and " + list[^1],
        };
    }
}
