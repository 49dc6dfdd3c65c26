using Spark.Eval.Core.Metrics;
using Spark.Eval.Core.Results;

namespace Spark.Eval.Reporting;

/// <summary>Per-attempt samples of one backend that the plots draw (the summary holds only aggregates).</summary>
public sealed record BackendSamples(string Backend, bool Simulated, double[] TtftMs, double[] E2eMs, double[] TpotMs);

/// <summary>Everything a report shows: the manifest, the summary and the per-attempt samples, all from the run directory.</summary>
public sealed record ReportData(RunManifest Manifest, RunSummary Summary, IReadOnlyList<BackendSamples> Samples)
{
    /// <summary>The sessions part (flow metrics per arm, lanes, routing comparison); null when the run has no session attempts.</summary>
    public SessionReport? Sessions { get; init; }

    /// <summary>Collects the samples of measured, ok attempts per backend, in the summary's backend order.</summary>
    public static ReportData From(RunManifest manifest, RunSummary summary, IEnumerable<AttemptRecord> records)
    {
        ArgumentNullException.ThrowIfNull(summary);
        ArgumentNullException.ThrowIfNull(records);
        var byBackend = new Dictionary<string, (List<double> Ttft, List<double> E2e, List<double> Tpot)>(StringComparer.Ordinal);
        foreach (var record in records)
        {
            if (record.Slot.Warmup || record.Outcome.Status != AttemptStatus.Ok)
            {
                continue;
            }

            var group = Core.Sessions.SessionRunner.GroupOf(record);
            if (!byBackend.TryGetValue(group, out var lists))
            {
                lists = ([], [], []);
                byBackend[group] = lists;
            }

            var m = AttemptMetrics.Compute(record);
            Add(lists.Ttft, m.TtftMs);
            Add(lists.E2e, m.E2eMs);
            Add(lists.Tpot, m.TpotMs);
        }

        var samples = summary.Backends.Select(b => byBackend.TryGetValue(b.Backend, out var l)
            ? new BackendSamples(b.Backend, b.Simulated, Sorted(l.Ttft), Sorted(l.E2e), Sorted(l.Tpot))
            : new BackendSamples(b.Backend, b.Simulated, [], [], [])).ToList();
        // The arms are summary.json's (computed once, priced from the manifest); a summary built without them gets them here.
        return new ReportData(manifest, summary, samples) { Sessions = SessionReport.From(records, summary.Sessions ?? SessionsSummary.From([.. records], manifest)) };
    }

    private static void Add(List<double> list, double? value)
    {
        if (value is { } v)
        {
            list.Add(v);
        }
    }

    private static double[] Sorted(List<double> values)
    {
        var array = values.ToArray();
        Array.Sort(array);
        return array;
    }
}
