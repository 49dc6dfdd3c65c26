using Spark.Eval.Core.Results;
using Spark.Eval.Core.Running;
using Spark.Eval.Core.Tasks;
using Spark.Eval.Core.Timing;

namespace Spark.Eval.Core.Tests;

/// <summary>Run storage: one append per record, the single-writer lock, resume repair, plan bounds and lazy slots.</summary>
public class RunStorageTests
{
    private static AttemptRecord Record(long sequence, string backend, int answerChars) => new()
    {
        Sequence = sequence,
        Slot = new SlotKey("t" + sequence, backend, 0),
        Events = [new StreamEvent(10, StreamEventKind.Content, 1)],
        Outcome = AttemptOutcome.Ok,
        Answer = new string((char)('a' + (sequence % 26)), answerChars),
        Tokens = new TokenCounts { Tokenizer = "o200k_base" },
    };

    [Fact]
    public void Append_TwoWritersOfLargeRecordsAtOnce_EveryLineWholeAndReadable()
    {
        // Two logs on one file (what two concurrent resumes did): with positional writes they overwrote each other's lines.
        var path = Path.Combine(Directory.CreateTempSubdirectory("spark-append").FullName, AttemptLog.FileName);
        const int PerWriter = 60;
        using (var first = new AttemptLog(path))
        using (var second = new AttemptLog(path))
        {
            Parallel.Invoke(
                () => { for (var i = 0; i < PerWriter; i++) { first.Append(Record(i, "a", 100_000)); } },
                () => { for (var i = 0; i < PerWriter; i++) { second.Append(Record(1000 + i, "b", 70_000)); } });
        }

        var (records, torn) = AttemptLog.Read(path);
        Assert.False(torn);
        Assert.Equal(2 * PerWriter, records.Count);
        Assert.All(records, r => Assert.Equal(r.Slot.Backend == "a" ? 100_000 : 70_000, r.Answer.Length));
        Assert.All(records, r => Assert.Equal((char)('a' + (r.Sequence % 26)), r.Answer[^1]));
    }

    [Fact]
    public async Task Lock_SecondWriter_RefusedNamingTheHoldersPid()
    {
        var ct = TestContext.Current.CancellationToken;
        var dir = Directory.CreateTempSubdirectory("spark-lock").FullName;
        using (RunLock.Acquire(dir))
        {
            var refused = Assert.Throws<InputException>(() => RunLock.Acquire(dir));
            Assert.Contains($"pid {Environment.ProcessId}", refused.Message, StringComparison.Ordinal);
            Assert.Contains("Fix:", refused.Message, StringComparison.Ordinal);
        }

        // Released with the holder: the next writer gets it.
        using (RunLock.Acquire(dir))
        {
        }

        // Held for a moment only (a child forked while the file was open, before its exec closed it): waited out, not refused.
        var brief = RunLock.Acquire(dir);
        var release = Task.Run(async () =>
        {
            await Task.Delay(50, ct);
            brief.Dispose();
        }, ct);
        using var waited = RunLock.Acquire(dir);
        await release;
    }

    [Fact]
    public void Resume_LastRecordWithoutItsNewline_RepairedSoTheNextAppendStartsALine()
    {
        // A crash between an older spark-eval's two writes (record, then newline) left a complete last line without "\n".
        var dir = new RunDirectory(Directory.CreateTempSubdirectory("spark-newline").FullName);
        var bytes = AttemptLog.Line(Record(0, "a", 70_000)).Concat(AttemptLog.Line(Record(1, "a", 70_000))).ToArray();
        File.WriteAllBytes(dir.AttemptsPath, bytes[..^1]);
        Assert.False(AttemptLog.EndsWithNewline(dir.AttemptsPath));
        var manifest = RunStore.NewManifest(new RunPlanSpec { SuitePath = "s", BackendSpecs = ["a"] }, new SuiteInfo("s", "s", new string('0', 64), 2), [], TimeProvider.System);
        dir.WriteManifest(manifest);

        using (var store = RunStore.Resume(dir, manifest))
        {
            Assert.Equal(2, store.State.Records.Count);
            using var log = new AttemptLog(dir.AttemptsPath);
            log.Append(Record(2, "a", 10));
        }

        var (records, torn) = AttemptLog.Read(dir.AttemptsPath);
        Assert.False(torn);
        Assert.Equal([0L, 1L, 2L], records.Select(r => r.Sequence));
    }

    [Theory]
    [InlineData(2_000_000_000, 1, "--concurrency 2000000000: above the bound of 10000")]
    [InlineData(4, 1_000_000_000, "above the bound of 1,000,000 per run")]
    public void Validate_PlanAboveBounds_RefusedWithFixBeforeAnythingIsAllocated(int concurrency, int repeats, string message)
    {
        var plan = new RunPlanSpec { SuitePath = "s", BackendSpecs = ["a", "b"], Concurrency = concurrency, Repeats = repeats };
        var error = Assert.Throws<InputException>(() => plan.Validate(taskCount: 6));
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
        Assert.Contains("Fix:", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void EnumerateSlots_LargePlan_GeneratedLazilyPerBackend()
    {
        var tasks = Enumerable.Range(0, 3).Select(i => new BenchTask
        {
            Id = "t" + i, Kind = TaskKind.Stub, Language = "python", Prompt = "p", HiddenChecks = "c", ReferenceSolution = "r",
        }).ToList();
        var plan = new RunPlanSpec { SuitePath = "s", BackendSpecs = ["a", "b"], Repeats = 300_000, Warmup = 1 };
        var slots = BenchmarkRunner.EnumerateSlots(plan, tasks, ["a", "b"]);

        // Reading the first few slots of 1.8 million does not build the others.
        var first = slots.Take(4).ToList();
        Assert.True(first[0].Key.Warmup);
        Assert.All(first, s => Assert.Equal("a", s.Key.Backend));
        Assert.Equal(2 * (1 + (3L * 300_000)), plan.PlannedAttempts(tasks.Count));
    }
}
