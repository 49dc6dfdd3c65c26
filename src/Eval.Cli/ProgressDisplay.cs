using System.Globalization;
using Spark.Eval.Core.Metrics;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Running;
using Spectre.Console;

namespace Spark.Eval.Cli;

/// <summary>Progress on stderr, as an attempt observer: a live bar on a terminal, a line per 10% otherwise. Shows attempts done, ETA and live TTFT p50.</summary>
public sealed class ProgressDisplay(TextWriter stderr, TimeProvider time) : IAttemptObserver
{
    private readonly LogHistogram _ttft = new();
    private readonly Lock _gate = new();
    private int _done, _failed, _total, _nextPercent = 10;
    private long _start;
    private ProgressTask? _bar;

    /// <summary>Runs <paramref name="run"/> under a live progress bar when stderr is a terminal, else as is.</summary>
    public async Task<T> ShowAsync<T>(Func<Task<T>> run)
    {
        ArgumentNullException.ThrowIfNull(run);
        if (!ReferenceEquals(stderr, Console.Error) || Console.IsErrorRedirected)
        {
            return await run();
        }

        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(stderr) });
        T result = default!;
        await console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn())
            .StartAsync(async ctx =>
            {
                lock (_gate)
                {
                    _bar = ctx.AddTask("starting", maxValue: Math.Max(1, _total));
                }

                result = await run();
                _bar.Value = _bar.MaxValue;
            });
        return result;
    }

    public void OnGenerationStarting(int attemptsToRun)
    {
        lock (_gate)
        {
            _total = attemptsToRun;
            _start = time.GetTimestamp();
            if (_bar is { } bar)
            {
                bar.MaxValue = Math.Max(1, attemptsToRun);
            }
        }
    }

    public void OnAttempt(AttemptRecord attempt)
    {
        ArgumentNullException.ThrowIfNull(attempt);
        lock (_gate)
        {
            _done++;
            if (attempt.Outcome.Status != AttemptStatus.Ok)
            {
                _failed++;
            }
            else if (!attempt.Slot.Warmup && AttemptMetrics.Compute(attempt).TtftMs is { } ttft)
            {
                _ttft.Add((long)(ttft * 1000));
            }

            if (_bar is { } bar)
            {
                bar.Increment(1);
                bar.Description = Markup.Escape(Describe());
                return;
            }

            if (_total == 0)
            {
                // Sessions: no planned count (they end by time); a line at 1, 10, 100, … interactions.
                if (_done >= _nextPercent)
                {
                    _nextPercent = Math.Max(1, _nextPercent) * 10;
                    stderr.WriteLine($"  {Describe()}");
                }

                return;
            }

            var percent = _done * 100 / _total;
            if (percent >= _nextPercent || _done == _total)
            {
                _nextPercent = ((percent / 10) + 1) * 10;
                stderr.WriteLine($"  {Describe()}");
            }
        }
    }

    private string Describe()
    {
        var elapsed = time.GetElapsedTime(_start);
        var eta = _done == 0 ? "?" : $"{Math.Max(0, (elapsed.TotalSeconds / _done * (_total - _done))):0}s";
        var p50 = _ttft.Count == 0 ? "–" : (_ttft.Percentile(0.5) / 1000).ToString("0.0", CultureInfo.InvariantCulture);
        if (_total == 0)
        {
            return $"interactions {_done} · failed {_failed} · TTFT p50 {p50} ms · elapsed {elapsed.TotalSeconds:0.0}s";
        }

        return $"attempts {_done}/{_total} · failed {_failed} · TTFT p50 {p50} ms · elapsed {elapsed.TotalSeconds:0.0}s · ETA {eta}";
    }
}
