using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Running;
using Spark.Eval.Core.Timing;

namespace Spark.Eval.Core.Tests;

/// <summary>The generated contract of stream events without the fast writer: what attempts.jsonl held before it.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    UseStringEnumConverter = true)]
[JsonSerializable(typeof(StreamEvent[]))]
internal sealed partial class PlainEventsJsonContext : JsonSerializerContext;

/// <summary>attempts.jsonl's events, written by the fast writer (issue #18, the virtual-time benchmark): the same bytes and records as before.</summary>
public class StreamEventsJsonTests
{
    private static AttemptRecord Record(long sequence, IReadOnlyList<StreamEvent> events, int answerChars = 10) => new()
    {
        Sequence = sequence,
        Slot = new SlotKey("t" + sequence, "sim", 0),
        Events = events,
        Outcome = AttemptOutcome.Ok,
        Answer = new string('x', answerChars),
        Tokens = new TokenCounts { Tokenizer = "o200k_base" },
    };

    private static StreamEvent[] EveryKind() =>
        [.. Enum.GetValues<StreamEventKind>().Select((k, i) => new StreamEvent(i * 1_000_003L, k, i * 7))];

    [Fact]
    public void Line_EveryEventKind_TheSameBytesAsTheGeneratedContract()
    {
        var events = EveryKind();
        var line = Encoding.UTF8.GetString(AttemptLog.Line(Record(0, events)));

        var plain = JsonSerializer.Serialize(events, PlainEventsJsonContext.Default.StreamEventArray);
        Assert.Contains("\"events\":" + plain + ",", line, StringComparison.Ordinal);
        Assert.Contains("\"kind\":\"request_start\"", plain, StringComparison.Ordinal);
        Assert.Contains("\"kind\":\"tool_call\"", plain, StringComparison.Ordinal);
    }

    [Fact]
    public void AppendThenRead_LargeThenSmallRecords_EachLineAsLineWritesItAndEveryEventBack()
    {
        // The log reuses one buffer per thread: a record after a larger one must carry nothing of it.
        var path = Path.Combine(Directory.CreateTempSubdirectory("spark-events").FullName, AttemptLog.FileName);
        var records = new[]
        {
            Record(0, EveryKind(), answerChars: 2_000_000),
            Record(1, [new StreamEvent(0, StreamEventKind.RequestStart), new StreamEvent(5, StreamEventKind.End)]),
            Record(2, [.. Enumerable.Range(0, 5000).Select(i => new StreamEvent(i, StreamEventKind.Content, 3))]),
            Record(3, []),
        };
        using (var log = new AttemptLog(path))
        {
            foreach (var record in records)
            {
                log.Append(record);
            }
        }

        Assert.Equal(records.SelectMany(AttemptLog.Line).ToArray(), File.ReadAllBytes(path));
        var (read, torn) = AttemptLog.Read(path);
        Assert.False(torn);
        Assert.Equal(records.Select(r => r.Events.ToArray()), read.Select(r => r.Events.ToArray()));
        Assert.Equal(records.Select(r => r.Answer.Length), read.Select(r => r.Answer.Length));
    }
}
