using System.CommandLine;
using System.Globalization;
using System.Text;
using Spark.Eval.Backends.Remote;

namespace Spark.Eval.Diagnostics;

/// <summary><c>spark-eval sse-bench</c>: SSE framing throughput of <see cref="SseReader"/> on one core, from memory.</summary>
public static class SseBenchCommand
{
    private static readonly Option<double> Seconds = new("--seconds") { Description = "How long to run, s.", DefaultValueFactory = _ => 2 };

    public static Command Create(TextWriter stdout)
    {
        var command = new Command("sse-bench", "Benchmark the SSE reader: events/s and bytes allocated per event, parsing Chat Completions chunks from memory on one thread.") { Seconds };
        command.SetAction((parse, ct) => RunAsync(parse.GetValue(Seconds), stdout, ct));
        return command;
    }

    private static async Task<int> RunAsync(double seconds, TextWriter stdout, CancellationToken ct)
    {
        var time = TimeProvider.System;
        const int EventsPerBuffer = 10_000;
        var text = new StringBuilder();
        for (var i = 0; i < EventsPerBuffer; i++)
        {
            text.Append(CultureInfo.InvariantCulture, $"data: {{\"id\":\"chatcmpl-0000002a\",\"object\":\"chat.completion.chunk\",\"created\":1795564370,\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\" token{i % 97}\"}},\"logprobs\":null,\"finish_reason\":null}}]}}\n\n");
        }

        var bytes = Encoding.UTF8.GetBytes(text.ToString());
        long events = 0;
        long checksum = 0;
        // Warm-up pass for the JIT, then the measured passes.
        await ParseAsync(bytes);
        var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        var start = time.GetTimestamp();
        var passes = 0;
        while (time.GetElapsedTime(start).TotalSeconds < seconds)
        {
            (var n, var sum) = await ParseAsync(bytes);
            events += n;
            checksum += sum;
            passes++;
        }

        var elapsed = time.GetElapsedTime(start).TotalSeconds;
        var allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
        await stdout.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
            $"sse-bench: {events / elapsed:0} events/s, {bytes.Length * (double)passes / elapsed / 1e6:0.0} MB/s, {allocated / (double)events:0.00} bytes allocated per event ({passes} passes of {EventsPerBuffer} events, {bytes.Length / EventsPerBuffer} bytes each; checksum {checksum})"));
        return DiagnosticExit.Ok;

        async Task<(long, long)> ParseAsync(byte[] data)
        {
            using var stream = new MemoryStream(data, writable: false);
            using var reader = new SseReader(stream, bufferSize: 64 * 1024);
            long n = 0, sum = 0;
            while (await reader.ReadAsync(ct))
            {
                n++;
                sum += reader.Data.Length;
            }

            return (n, sum);
        }
    }
}
