namespace Spark.Eval.Backends.Remote.Tests;

/// <summary>Which segment's arrival an event takes when one socket read brought several events.</summary>
public sealed class ArrivalSinkTests
{
    [Fact]
    public void NextEventArrival_ThreeEventsFromOneRead_FirstTakesTheFirstSegmentLaterOnesTheLast()
    {
        var sink = new ArrivalSink { FirstTimestamp = 100, Timestamp = 900, Reads = 1 };
        var seen = 0;

        Assert.Equal(100, sink.NextEventArrival(ref seen));
        Assert.Equal(900, sink.NextEventArrival(ref seen));
        Assert.Equal(900, sink.NextEventArrival(ref seen));
        Assert.Equal(1, seen);
    }

    [Fact]
    public void NextEventArrival_NewRead_FirstEventItCompletesTakesItsFirstSegment()
    {
        var sink = new ArrivalSink { FirstTimestamp = 100, Timestamp = 100, Reads = 1 };
        var seen = 0;
        Assert.Equal(100, sink.NextEventArrival(ref seen));

        // A second read brought two segments: an event that began in the first read ends in the new read's first segment.
        sink.FirstTimestamp = 400;
        sink.Timestamp = 700;
        sink.Reads = 2;
        Assert.Equal(400, sink.NextEventArrival(ref seen));
        Assert.Equal(700, sink.NextEventArrival(ref seen));
    }

    [Fact]
    public void NextEventArrival_NoFirstSegmentStamp_FallsBackToTheReadsStamp()
    {
        var sink = new ArrivalSink { FirstTimestamp = 0, Timestamp = 500, Reads = 3 };
        var seen = 2;

        Assert.Equal(500, sink.NextEventArrival(ref seen));
    }
}
