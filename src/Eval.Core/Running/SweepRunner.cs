using System.Globalization;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Tasks;

namespace Spark.Eval.Core.Running;

/// <summary>What a sweep produced: the report as last written, and the status of its last step.</summary>
public sealed record SweepOutcome(SweepReport Report, RunStatus Status);

/// <summary>
/// <c>run --sweep</c>, in the libraries: one ordinary <see cref="EvaluationRun"/> per load value, each in its own step
/// folder under the sweep directory, then (with <c>--sweep-search N</c>) up to N bisection steps between the last load that
/// met the SLO and the first that missed it. After every step the sweep's files are rewritten whole (the writeReport callback),
/// so an interrupted sweep leaves a valid sweep.json of the steps it finished.
/// </summary>
public sealed class SweepRunner(TimeProvider time, EvaluationRun evaluation, Action<string> log)
{
    /// <summary>Runs the sweep into <paramref name="sweepDirectory"/> (new or empty); <paramref name="newManifest"/> makes each step's manifest from its plan, <paramref name="observers"/> each step's attempt observers.</summary>
    public async Task<SweepOutcome> RunAsync(string sweepDirectory, RunPlanSpec plan, SweepSpec spec, SweepSlo slo, int searchSteps, string suiteName,
        Func<RunPlanSpec, RunManifest> newManifest, IReadOnlyList<BenchTask> tasks, IReadOnlyList<RunBackend> backends, GradingPlan? grading,
        Func<IReadOnlyList<IAttemptObserver>> observers, Action<SweepReport, string> writeReport, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(sweepDirectory);
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(slo);
        ArgumentNullException.ThrowIfNull(newManifest);
        ArgumentNullException.ThrowIfNull(backends);
        ArgumentNullException.ThrowIfNull(writeReport);
        if (searchSteps is < 0 or > SweepSpec.MaxSearchSteps)
        {
            throw new InputException($"--sweep-search {searchSteps}: must be 0..{SweepSpec.MaxSearchSteps}. Fix: give a small bound such as 3");
        }

        if (searchSteps > 0 && (!slo.IsSet || backends.Count != 1))
        {
            throw new InputException(!slo.IsSet
                ? "--sweep-search without --sweep-slo: the search looks for the highest load meeting an SLO. Fix: add --sweep-slo ttft_p99_ms=800 (for example)"
                : $"--sweep-search with {backends.Count} backends: each backend's limit lies at another load. Fix: search one backend at a time (one --backend)");
        }

        if (Directory.Exists(sweepDirectory) && Directory.EnumerateFileSystemEntries(sweepDirectory).Any())
        {
            throw new InputException($"--out {sweepDirectory}: the directory exists and is not empty. Fix: choose a new directory for the sweep");
        }

        Directory.CreateDirectory(sweepDirectory);
        var sweepId = $"sweep-{time.GetUtcNow():yyyyMMdd-HHmmss}-s{plan.Seed}";
        var steps = new List<SweepStep>();
        var points = new List<SweepPoint>();
        var notes = new List<string>();
        var status = RunStatus.Completed;
        SweepReport report = Build();

        async Task<bool> Step(double load, bool searched)
        {
            var index = steps.Count + 1;
            var name = string.Create(CultureInfo.InvariantCulture, $"step-{index:00}-{spec.Key}-{SweepAnalysis.L(load)}");
            var stepPlan = spec.StepPlan(plan, load);
            stepPlan.Validate(tasks.Count);
            log($"sweep step {index}: {spec.Key} {SweepAnalysis.L(load)}{(searched ? " (search)" : "")}");
            EvaluationResult result;
            using (var store = RunStore.Create(Path.Combine(sweepDirectory, name), newManifest(stepPlan)))
            {
                result = await evaluation.RunAsync(store, tasks, backends, grading, observers(), cancellationToken);
            }

            steps.Add(new SweepStep(index, load, name, result.Manifest.RunId, EvaluationRun.StatusName(result.Status), searched));
            points.AddRange(SweepAnalysis.Points(result.Summary, load, index, slo));
            if (spec.Key == "concurrency" && result.Summary.Backends.Any(b => b.Counts.Measured < 2 * load))
            {
                notes.Add(string.Create(CultureInfo.InvariantCulture,
                    $"step {index} (concurrency {SweepAnalysis.L(load)}): fewer than 2 × {SweepAnalysis.L(load)} measured attempts per backend, so that many requests were in flight only briefly; add --repeats for a steady load"));
            }

            status = result.Status;
            report = Build();
            writeReport(report, sweepDirectory);
            return result.Status != RunStatus.Interrupted;
        }

        foreach (var value in spec.Values)
        {
            if (!await Step(value, searched: false))
            {
                return new SweepOutcome(report, status);
            }
        }

        for (var i = 0; i < searchSteps; i++)
        {
            if (SweepAnalysis.NextSearchLoad(spec, points) is not { } next || points.Any(p => p.Load == next))
            {
                break;
            }

            if (!await Step(next, searched: true))
            {
                return new SweepOutcome(report, status);
            }
        }

        if (searchSteps > 0 && SweepAnalysis.NextSearchLoad(spec, points) is { } open && points.All(p => p.Load != open))
        {
            notes.Add($"the search stopped after {searchSteps} steps with the limit still between two loads; raise --sweep-search (at most {SweepSpec.MaxSearchSteps}) to narrow it");
            report = Build();
            writeReport(report, sweepDirectory);
        }

        return new SweepOutcome(report, status);

        SweepReport Build()
        {
            var ordered = points.OrderBy(p => p.Backend, StringComparer.Ordinal).ThenBy(p => p.Load).ToList();
            return new SweepReport
            {
                SweepId = sweepId,
                Key = spec.Key,
                Values = spec.Values,
                SearchSteps = searchSteps,
                Slo = slo.Targets,
                Suite = suiteName,
                Backends = [.. backends.Select(b => b.Info.Name)],
                Steps = [.. steps],
                Points = ordered,
                Verdicts = SweepAnalysis.Verdicts(ordered, slo, spec.Key),
                Status = EvaluationRun.StatusName(status),
                Notes = [.. notes],
            };
        }
    }
}
