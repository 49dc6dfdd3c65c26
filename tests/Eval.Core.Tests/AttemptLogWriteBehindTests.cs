using Spark.Eval.Core.Results;
using Spark.Eval.Core.Running;
using Spark.Eval.Core.Timing;

namespace Spark.Eval.Core.Tests;

/// <summary>The write-behind attempt log (sessions in virtual time): the same bytes in the same order as writing inline, and a write error is not lost.</summary>
public class AttemptLogWriteBehindTests
{
    private static AttemptRecord Record(long sequence) => new()
    {
        Sequence = sequence,
        Slot = new SlotKey("t" + (sequence % 7), "b" + (sequence % 3), (int)sequence),
        Events = [.. Enumerable.Range(0, (int)(sequence % 50)).Select(i => new StreamEvent(i * 10L, StreamEventKind.Content, 1))],
        Outcome = AttemptOutcome.Ok,
        Answer = new string((char)('a' + (sequence % 26)), (int)(sequence * 37 % 5000)),
        Tokens = new TokenCounts { Tokenizer = "o200k_base" },
    };

    [Fact]
    public void Append_WriteBehind_SameBytesAndOrderAsInlineAndTheSameCollectedList()
    {
        var dir = Directory.CreateTempSubdirectory("spark-behind").FullName;
        var inline = Path.Combine(dir, "inline.jsonl");
        var behind = Path.Combine(dir, "behind.jsonl");
        var collected = new List<AttemptRecord>();
        // More records than the write-behind bound: the appender waits for the writer now and then.
        var records = Enumerable.Range(0, 3 * AttemptLog.WriteBehindLimit + 17).Select(i => Record(i)).ToList();
        using (var log = new AttemptLog(inline))
        {
            records.ForEach(log.Append);
        }

        using (var log = new AttemptLog(behind, collectInto: collected, writeBehind: true))
        {
            records.ForEach(log.Append);
        }

        Assert.Equal(File.ReadAllBytes(inline), File.ReadAllBytes(behind));
        Assert.Equal(records, collected);
    }

    [Fact]
    public void Dispose_WriteBehindOnAFullDisk_ThrowsTheWriteError()
    {
        Assert.SkipUnless(File.Exists("/dev/full"), "needs /dev/full (Linux) to fail a write with ENOSPC");
        var log = new AttemptLog("/dev/full", writeBehind: true);
        IOException? error = null;
        try
        {
            // The writer's error comes back by a later Append or, at the latest, by Dispose: never lost.
            for (var i = 0; i < 10 * AttemptLog.WriteBehindLimit; i++)
            {
                log.Append(Record(i));
            }
        }
        catch (IOException ex)
        {
            error = ex;
        }

        try
        {
            log.Dispose();
        }
        catch (IOException ex)
        {
            error ??= ex;
        }

        Assert.NotNull(error);
        Assert.Contains(AttemptLog.FileName, error.Message, StringComparison.Ordinal);
    }
}
