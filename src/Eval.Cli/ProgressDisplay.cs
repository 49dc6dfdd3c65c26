using System.Globalization;
using Spark.Eval.Core.Metrics;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Running;
using Spectre.Console;

namespace Spark.Eval.Cli;

/// <summary>Progress on stderr: a live bar on a terminal, a line per 10% otherwise. Shows attempts done, ETA and live TTFT p50.</summary>
public sealed class ProgressDisplay(TextWriter stderr, int total, TimeProvider time)
{
    private readonly LogHistogram _ttft = new();
    private readonly Lock _gate = new();
    private int _done, _failed;

    public async Task<RunResult> RunAsync(Func<Action<AttemptRecord>, Task<RunResult>> run)
    {
        ArgumentNullException.ThrowIfNull(run);
        var start = time.GetTimestamp();
        var interactive = ReferenceEquals(stderr, Console.Error) && !Console.IsErrorRedirected;
        if (!interactive)
        {
            var nextPercent = 10;
            return await run(record =>
            {
                lock (_gate)
                {
                    Observe(record);
                    var percent = total == 0 ? 100 : _done * 100 / total;
                    if (percent >= nextPercent || _done == total)
                    {
                        nextPercent = ((percent / 10) + 1) * 10;
                        stderr.WriteLine($"  {Describe(start)}");
                    }
                }
            });
        }

        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(stderr) });
        RunResult result = null!;
        await console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn())
            .StartAsync(async ctx =>
            {
                var bar = ctx.AddTask("starting", maxValue: Math.Max(1, total));
                result = await run(record =>
                {
                    lock (_gate)
                    {
                        Observe(record);
                        bar.Increment(1);
                        bar.Description = Markup.Escape(Describe(start));
                    }
                });
                bar.Value = bar.MaxValue;
            });
        return result;
    }

    private void Observe(AttemptRecord record)
    {
        _done++;
        if (record.Outcome.Status != AttemptStatus.Ok)
        {
            _failed++;
        }
        else if (!record.Slot.Warmup && AttemptMetrics.Compute(record).TtftMs is { } ttft)
        {
            _ttft.Add((long)(ttft * 1000));
        }
    }

    private string Describe(long start)
    {
        var elapsed = time.GetElapsedTime(start);
        var eta = _done == 0 ? "?" : $"{Math.Max(0, (elapsed.TotalSeconds / _done * (total - _done))):0}s";
        var p50 = _ttft.Count == 0 ? "–" : (_ttft.Percentile(0.5) / 1000).ToString("0.0", CultureInfo.InvariantCulture);
        return $"attempts {_done}/{total} · failed {_failed} · TTFT p50 {p50} ms · elapsed {elapsed.TotalSeconds:0.0}s · ETA {eta}";
    }
}
