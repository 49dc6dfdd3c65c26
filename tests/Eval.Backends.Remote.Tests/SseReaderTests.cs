using System.Text;

namespace Spark.Eval.Backends.Remote.Tests;

/// <summary>SSE framing: fields, multi-line data, CRLF, comments, events split across reads.</summary>
public sealed class SseReaderTests
{
    private static async Task<List<(string Event, string Data)>> ReadAllAsync(string text, int chunk)
    {
        using var reader = new SseReader(new TrickleStream(Encoding.UTF8.GetBytes(text), chunk), bufferSize: 8);
        var events = new List<(string, string)>();
        while (await reader.ReadAsync(TestContext.Current.CancellationToken))
        {
            events.Add((Encoding.UTF8.GetString(reader.EventName), Encoding.UTF8.GetString(reader.Data)));
        }

        return events;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(4096)]
    public async Task ReadAsync_MixedFraming_YieldsEachEventWhateverTheReadSizes(int chunk)
    {
        const string text = ": keep-alive\n\ndata: {\"a\":1}\n\nevent: response.output_text.delta\r\ndata: line one\r\ndata:line two\r\n\r\nid: 7\nretry: 10\ndata: [DONE]\n\n";

        var events = await ReadAllAsync(text, chunk);

        Assert.Equal(
            [("", "{\"a\":1}"), ("response.output_text.delta", "line one\nline two"), ("", "[DONE]")],
            events);
    }

    [Fact]
    public async Task ReadAsync_StreamEndsInsideEvent_ReportsItAndDropsThePartialEvent()
    {
        using var reader = new SseReader(new MemoryStream(Encoding.UTF8.GetBytes("data: whole\n\ndata: cut sho")));

        Assert.True(await reader.ReadAsync(TestContext.Current.CancellationToken));
        Assert.False(await reader.ReadAsync(TestContext.Current.CancellationToken));
        Assert.True(reader.EndedInsideEvent);
    }

    [Fact]
    public async Task ReadAsync_LineLongerThanBuffer_GrowsAndKeepsData()
    {
        var payload = new string('x', 100_000);

        var events = await ReadAllAsync($"data: {payload}\n\n", 7000);

        Assert.Equal(payload, Assert.Single(events).Data);
    }

    [Fact]
    public async Task ReadAsync_AfterDispose_Throws()
    {
        var reader = new SseReader(new MemoryStream(Encoding.UTF8.GetBytes("data: a\n\ndata: b\n\n")));
        Assert.True(await reader.ReadAsync(TestContext.Current.CancellationToken));

        reader.Dispose();
        reader.Dispose();

        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await reader.ReadAsync(TestContext.Current.CancellationToken));
    }

    /// <summary>Returns at most <c>chunk</c> bytes per read, as a slow network does.</summary>
    private sealed class TrickleStream(byte[] bytes, int chunk) : MemoryStream(bytes)
    {
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            base.ReadAsync(buffer[..Math.Min(buffer.Length, chunk)], cancellationToken);
    }
}
