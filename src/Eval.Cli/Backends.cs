using Spark.Eval.Core;
using Spark.Eval.Core.Backends;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Running;
using Spark.Eval.Core.Tasks;
using Spark.Eval.Core.Tokens;
using Spark.Eval.Sandbox.Grading;

namespace Spark.Eval.Cli;

/// <summary>The backend kinds this build of spark-eval knows.</summary>
public static class Backends
{
    public static BackendRegistry CreateRegistry() => new([
        new ConstantRateSimBackendFactory(TokenCounter.Default),
        new Spark.Eval.Backends.Local.LocalBackendFactory(),
        new Spark.Eval.Backends.Remote.OpenAIBackendFactory(),
        new Spark.Eval.Simulator.Backend.HwSimBackendFactory(TokenCounter.Default),
    ]);
}

/// <summary>The backends of a run, built from their specs (bad specs fail at start-up) and released together.</summary>
public sealed class BackendSet : IAsyncDisposable
{
    private readonly List<BackendHandle> _handles = [];

    public IReadOnlyList<BackendInfo> Infos => [.. _handles.Select(h => h.Info)];

    /// <summary>Each backend's description and client, for the runner (which adds the timing layer).</summary>
    public IReadOnlyList<RunBackend> Runnable => [.. _handles.Select(h => new RunBackend(h.Info, h.Client))];

    /// <summary>Builds the backends of <paramref name="specs"/>; <paramref name="concurrency"/> is the requests in flight per backend (a closed loop's --concurrency, 0 when unknown): remote backends warm that many connections.</summary>
    public static async Task<BackendSet> CreateAsync(IReadOnlyList<string> specs, TimeProvider time, TextWriter stderr, CancellationToken cancellationToken, int concurrency = 0)
    {
        ArgumentNullException.ThrowIfNull(specs);
        var registry = Backends.CreateRegistry();
        var context = new BackendContext(time, Directory.GetCurrentDirectory(), stderr.WriteLine) { Concurrency = concurrency };
        var set = new BackendSet();
        try
        {
            foreach (var spec in specs)
            {
                set._handles.Add(await registry.CreateAsync(spec, context, cancellationToken));
            }

            var duplicate = set._handles.GroupBy(h => h.Info.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
            if (duplicate is not null)
            {
                throw new InputException($"--backend: two backends are named '{duplicate.Key}'. Fix: give each a distinct name=… in its spec");
            }

            return set;
        }
        catch
        {
            await set.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var handle in _handles)
        {
            await handle.DisposeAsync();
        }
    }
}

/// <summary>The grader of a run or a re-grade: the sandbox, the judge backend when --judge is given, and when grading runs.</summary>
public sealed class GraderSetup : IAsyncDisposable
{
    private readonly SandboxAttemptGrader _grader;
    private readonly BackendHandle? _judge;

    private GraderSetup(SandboxAttemptGrader grader, BackendHandle? judge, GradingPlan plan)
    {
        _grader = grader;
        _judge = judge;
        Plan = plan;
    }

    public GradingPlan Plan { get; }

    /// <summary>Builds the judge (bad specs fail here, naming --judge) and the sandbox grader; <paramref name="when"/> is when grading runs and why.</summary>
    public static async Task<GraderSetup> CreateAsync(TaskSuite suite, string? judgeSpec, (GradingMode Mode, string Reason) when, bool allowUnsandboxed, int seed,
        TimeProvider time, TextWriter stderr, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stderr);
        BackendHandle? handle = null;
        JudgeGrader? judge = null;
        if (judgeSpec is not null)
        {
            (handle, judge) = await JudgeOption.CreateJudgeAsync(judgeSpec, time, stderr, cancellationToken);
        }

        var grader = new SandboxAttemptGrader(suite, new GradingSettings(allowUnsandboxed, judge, seed), time, stderr.WriteLine);
        return new GraderSetup(grader, handle, new GradingPlan(grader, when.Mode, when.Reason));
    }

    public async ValueTask DisposeAsync()
    {
        _grader.Dispose();
        if (_judge is not null)
        {
            await _judge.DisposeAsync();
        }
    }
}
