using Microsoft.Extensions.AI;
using Spark.Eval.Core.Backends;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Running;
using Spark.Eval.Core.Tasks;
using Spark.Eval.Core.Timing;
using Spark.Eval.Core.Tokens;
using Spark.Eval.Core.Traces;

namespace Spark.Eval.Core.Tests;

public sealed class TraceReplayTests : IDisposable
{
    private static readonly string TraceDir = Path.GetFullPath(Path.Combine(TestPaths.RepoRoot, "..", "shared", "datasets", "traces"));
    private static readonly string AzureFile = Path.Combine(TraceDir, "AzureLLMInferenceTrace_code.csv");
    private static readonly string MooncakeFile = Path.Combine(TraceDir, "mooncake_conversation_trace_head2000.jsonl");
    private readonly string _dir = Directory.CreateTempSubdirectory("spark-trace-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static void RequireSample(string file) =>
        Assert.SkipUnless(File.Exists(file), $"{file} is absent: the public trace samples live in ../shared/datasets/traces (see its SOURCES.md)");

    [Fact]
    public void ReadAzure_Sample_EveryRequestInOrderWithMicrosecondOffsets()
    {
        RequireSample(AzureFile);
        var trace = TraceReader.Read(AzureFile, TraceReader.Azure);
        // SOURCES.md says 8,818; the file holds 8,819 request lines (its last line has no newline).
        Assert.Equal(8819, trace.Requests.Count);
        // 2023-11-16 18:17:03.9799600, 4808, 10 then 18:17:04.0319600, 3180, 8.
        Assert.Equal(new TraceRequest(0, 4808, 10, null, 2), trace.Requests[0]);
        Assert.Equal(new TraceRequest(52_000, 3180, 8, null, 3), trace.Requests[1]);
        Assert.InRange(trace.SpanSeconds, 3400, 3500);
    }

    [Fact]
    public void ReadMooncake_Sample_MillisecondsAndSharedPrefixBlocks()
    {
        RequireSample(MooncakeFile);
        var trace = TraceReader.Read(MooncakeFile, TraceReader.Mooncake);
        Assert.Equal(2000, trace.Requests.Count);
        Assert.Equal(6758, trace.Requests[0].InputTokens);
        Assert.Equal(500, trace.Requests[0].OutputTokens);
        Assert.Equal(14, trace.Requests[0].HashIds!.Count);
        Assert.Equal(trace.Requests[0].HashIds![0], trace.Requests[1].HashIds![0]);
        Assert.Equal(669_000_000, trace.Requests[^1].TimestampUs);
    }

    [Theory]
    [InlineData("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:03.9799600,4808,10\n2023-11-16 18:17:04,abc,8\n", "azure", "x.csv:3: field 'ContextTokens'")]
    [InlineData("TIME,Context\n", "azure", "x.csv:1:")]
    [InlineData("{\"timestamp\": 0, \"input_length\": 5, \"output_length\": 2}\n{\"timestamp\": -1, \"input_length\": 5, \"output_length\": 2}\n", "mooncake", "x.csv:2: field 'timestamp'")]
    [InlineData("{\"timestamp\": 0, \"input_length\": 5}\n", "mooncake", "x.csv:1: field 'output_length'")]
    [InlineData("{not json\n", "mooncake", "x.csv:1:")]
    public void Read_BadLine_IsBadInputNamingLineFieldAndFix(string content, string format, string where)
    {
        var path = Path.Combine(_dir, "x.csv");
        File.WriteAllText(path, content);
        var ex = Assert.Throws<InputException>(() => TraceReader.Read(path, format));
        Assert.StartsWith(Path.Combine(_dir, where), ex.Message, StringComparison.Ordinal);
        Assert.Contains("Fix:", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void WindowThenScale_KeepsRequestsInsideAndRebasesTime()
    {
        var trace = new RequestTrace("t", "mooncake", [new(0, 1, 1), new(1_500_000, 2, 2), new(2_000_000, 3, 3), new(5_000_000, 4, 4)]);
        var cut = trace.Window(1, 5).Scale(0.5);
        Assert.Equal([250_000L, 500_000L], cut.Requests.Select(r => r.TimestampUs));
        Assert.Equal([2, 3], cut.Requests.Select(r => r.InputTokens));
        Assert.Throws<InputException>(() => trace.Window(3, 2));
        Assert.Throws<InputException>(() => trace.Scale(0));
    }

    [Fact]
    public void Schedule_EveryBackendGetsEveryRequestAtItsTimestampCappedAtItsLength()
    {
        var tasks = TaskSuiteLoader.Load(Path.Combine(TestPaths.RepoRoot, "datasets", "spark-mini")).Tasks;
        var trace = new RequestTrace("t", "azure", [.. Enumerable.Range(0, 8).Select(i => new TraceRequest(i * 1000L, 100, i))]);
        var plan = new RunPlanSpec { SuitePath = "s", BackendSpecs = ["a", "b"], Warmup = 1, Trace = new TraceSpec { Path = "t", Format = "azure" } };
        var slots = BenchmarkRunner.PlanSlots(plan, tasks, ["a", "b"], trace);
        var measured = slots.Where(s => !s.Key.Warmup).ToList();
        Assert.Equal(16, measured.Count);
        Assert.Equal(2, slots.Count(s => s.Key.Warmup));
        Assert.Equal(measured.Count, measured.Select(s => s.Key).Distinct().Count());
        // Each backend has its own load: backend by backend, each gets every request at the trace's timestamp.
        Assert.Equal([0L, 1000L, 2000L, 3000L], measured.Take(4).Select(s => s.ScheduledUs!.Value));
        Assert.Equal(measured.Where(s => s.Key.Backend == "a").Select(s => s.ScheduledUs), measured.Where(s => s.Key.Backend == "b").Select(s => s.ScheduledUs));
        Assert.Equal(1, measured[0].MaxTokens);
        Assert.Equal(7, measured[^1].MaxTokens);
        Assert.Equal(tasks[7 % tasks.Count].Id, measured[^1].Key.TaskId);
        Assert.Equal(7 / tasks.Count, measured[^1].Key.Repeat);
    }

    [Fact]
    public void MooncakeWriter_RunArrivals_RoundTripThroughTheReader()
    {
        AttemptRecord Attempt(string task, int repeat, long scheduledUs, long input, long output) => new()
        {
            Sequence = scheduledUs,
            Slot = new SlotKey(task, "b", repeat),
            ScheduledUs = scheduledUs,
            StartUs = scheduledUs + 40,
            Events = [],
            Outcome = AttemptOutcome.Ok,
            Answer = "",
            Tokens = new TokenCounts { InputTokenizer = input, OutputTokenizer = output, Tokenizer = "o200k_base" },
        };
        var lines = MooncakeTraceWriter.FromAttempts([Attempt("t2", 0, 2_500_000, 600, 9), Attempt("t1", 0, 1_000_000, 1100, 5), Attempt("t1", 1, 4_000_000, 1100, 7)]);
        var path = Path.Combine(_dir, MooncakeTraceWriter.FileName);
        File.WriteAllText(path, MooncakeTraceWriter.Render(lines));
        Assert.StartsWith("{\"timestamp\":0,\"input_length\":1100,\"output_length\":5,\"hash_ids\":[0,1,2]}", File.ReadAllText(path), StringComparison.Ordinal);

        var trace = TraceReader.Read(path, TraceReader.Mooncake);
        Assert.Equal([0L, 1_500_000L, 3_000_000L], trace.Requests.Select(r => r.TimestampUs));
        Assert.Equal([5, 9, 7], trace.Requests.Select(r => r.OutputTokens));
        Assert.Equal(trace.Requests[0].HashIds, trace.Requests[2].HashIds);
        Assert.Equal([3L, 4L], trace.Requests[1].HashIds);
    }

    [Theory]
    [InlineData("mooncake", "0..30", 0.05)]
    [InlineData("azure", "0..120", 0.03)]
    public async Task Replay_SampleWindowInRealTime_SendsOnTheTraceScheduleAndRecordsLag(string format, string window, double scale)
    {
        var file = format == "azure" ? AzureFile : MooncakeFile;
        RequireSample(file);
        var spec = TraceReplay.Describe(file, format, scale, window);
        var trace = TraceReplay.Load(spec);
        var tasks = TaskSuiteLoader.Load(Path.Combine(TestPaths.RepoRoot, "datasets", "spark-mini")).Tasks;
        var plan = new RunPlanSpec { SuitePath = "spark-mini", BackendSpecs = ["sim"], Trace = spec, TimeoutSeconds = 30, Warmup = 2 };
        var slots = BenchmarkRunner.PlanSlots(plan, tasks, ["sim"], trace);
        var client = new ChatClientBuilder(new ConstantRateSimChatClient(TimeProvider.System, TokenCounter.Default, ttftMs: 5, tokensPerSecond: 2000, "sim"))
            .UseTiming().Build();
        var backend = new RunBackend(new BackendInfo("sim", "sim", "sim", "constant-rate simulator", Simulated: true), client);
        var logPath = Path.Combine(_dir, AttemptLog.FileName);
        using (var log = new AttemptLog(logPath))
        {
            var result = await new BenchmarkRunner(TimeProvider.System, TokenCounter.Default)
                .RunAsync(plan, slots, [backend], log, new HashSet<SlotKey>(), 0, 0, null, TestContext.Current.CancellationToken);
            Assert.Equal("completed", result.Status);
        }

        var records = AttemptLog.Read(logPath).Records.Where(r => !r.Slot.Warmup).OrderBy(r => r.ScheduledUs).ThenBy(r => r.Sequence).ToList();
        Assert.Equal(trace.Requests.Count, records.Count);
        Assert.All(records, r => Assert.Equal(AttemptStatus.Ok, r.Outcome.Status));
        // The schedule is the trace's: offsets between sends equal the (scaled) timestamps exactly.
        var first = records[0].ScheduledUs!.Value;
        Assert.Equal(trace.Requests.Select(r => r.TimestampUs - trace.Requests[0].TimestampUs), records.Select(r => r.ScheduledUs!.Value - first));
        // Arrival error = send time − scheduled time (schedule lag, recorded per attempt).
        var lags = records.Select(r => (double)r.ScheduleLagUs!.Value).Order().ToArray();
        var p99 = Metrics.LatencyStatistics.Percentile(lags, 0.99);
        // The lag figure itself (≤ 1 ms p99 on a quiet machine) is a benchmark, not a test: a timed assertion fails on a busy
        // runner (measured here: p99 127 ms at load 10 per core). docs/benchmarks.md gives the command and the figures.
        var message = $"{format} {window} ×{scale}: {records.Count} requests over {trace.SpanSeconds:F2} s, schedule lag p50 {Metrics.LatencyStatistics.Percentile(lags, 0.5):F0} µs, "
            + $"p99 {p99:F0} µs, max {lags[^1]:F0} µs (load {LoadPerCore():F1} per core)";
        TestContext.Current.SendDiagnosticMessage(message);
        Assert.True(lags[0] >= 0, $"a request was sent {-lags[0]} µs early");
        Assert.All(records, r => Assert.True(r.ScheduleLagUs is >= 0, "every attempt records its schedule lag"));
    }

    private static double LoadPerCore()
    {
        var text = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg") : "0";
        return double.Parse(text.Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) / Environment.ProcessorCount;
    }
}
