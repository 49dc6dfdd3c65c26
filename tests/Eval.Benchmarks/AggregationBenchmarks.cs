using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using Spark.Eval.Core.Metrics;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Timing;

namespace Spark.Eval.Benchmarks;

/// <summary>Aggregating N attempt records of 64 chunks each into the full summary (every distribution, ITL histogram, goodput).</summary>
[SimpleJob(RunStrategy.Monitoring, launchCount: 1, warmupCount: 1, iterationCount: 5)]
[MemoryDiagnoser]
public class AggregationBenchmarks
{
    private AttemptRecord[] _records = [];

    [Params(1_000_000)]
    public int Attempts { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(1);
        _records = new AttemptRecord[Attempts];
        var tokens = new TokenCounts { OutputTokenizer = 64, OutputUsage = 64, InputUsage = 300, Tokenizer = "o200k_base" };
        for (var i = 0; i < Attempts; i++)
        {
            var events = new StreamEvent[67];
            events[0] = new StreamEvent(0, StreamEventKind.RequestStart);
            var t = 50_000L + random.Next(100_000);
            for (var c = 0; c < 64; c++)
            {
                events[c + 1] = new StreamEvent(t, StreamEventKind.Content, 4);
                t += 800 + random.Next(1_500);
            }

            events[65] = new StreamEvent(t, StreamEventKind.Usage);
            events[66] = new StreamEvent(t, StreamEventKind.End);
            _records[i] = new AttemptRecord
            {
                Slot = new SlotKey("task" + (i % 60), "backend" + (i % 3), i / 180),
                StartUs = i * 1_000L,
                Events = events,
                Outcome = i % 97 == 0 ? new AttemptOutcome(AttemptStatus.Error, "http_503") : AttemptOutcome.Ok,
                Answer = "",
                Tokens = tokens,
            };
        }
    }

    [Benchmark]
    public RunSummary Summarize() => SummaryCalculator.Compute("bench", _records, new SloSpec(TtftMs: 120, TpotMs: 2));
}
