using System.Globalization;
using Spark.Eval.Core.Metrics;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Timing;
using Spark.Eval.Reporting;

namespace Spark.Eval.Reporting.Tests;

public class CsvReportsTests
{
    private static AttemptRecord Attempt(string backend, long ttftMs, AttemptStatus status = AttemptStatus.Ok) => new()
    {
        Slot = new SlotKey("task,with comma", backend, 0),
        Events = [new StreamEvent(0, StreamEventKind.RequestStart), new StreamEvent(ttftMs * 1000, StreamEventKind.Content, 3), new StreamEvent((ttftMs + 5) * 1000, StreamEventKind.Content, 3), new StreamEvent((ttftMs + 5) * 1000, StreamEventKind.End)],
        Outcome = new AttemptOutcome(status, status == AttemptStatus.Ok ? null : "http_503"),
        Answer = "abcdef",
        Tokens = new TokenCounts { OutputTokenizer = 2, Tokenizer = "o200k_base" },
        Simulated = true,
    };

    [Fact]
    public void WriteAttempts_InvariantCultureAndQuotedFields()
    {
        var previous = CultureInfo.CurrentCulture;
        CultureInfo.CurrentCulture = new CultureInfo("de-DE");
        try
        {
            using var writer = new StringWriter();
            CsvReports.WriteAttempts(writer, [Attempt("b", 120), Attempt("b", 80, AttemptStatus.Error)]);
            var lines = writer.ToString().TrimEnd('\n').Split('\n');
            Assert.Equal(3, lines.Length);
            Assert.StartsWith("sequence,backend,task_id,repeat,warmup,task_kind,language,status,error_class,ttft_ms", lines[0], StringComparison.Ordinal);
            Assert.Contains("\"task,with comma\"", lines[1], StringComparison.Ordinal);
            Assert.Contains(",ok,,120,120,,125,125,5,2,tokenizer,", lines[1], StringComparison.Ordinal);
            Assert.Contains(",error,http_503,", lines[2], StringComparison.Ordinal);
        }
        finally
        {
            CultureInfo.CurrentCulture = previous;
        }
    }

    [Fact]
    public void WriteSummary_OneRowPerBackendWithScalarColumns()
    {
        var summary = SummaryCalculator.Compute("r", [Attempt("a", 100), Attempt("a", 300), Attempt("b", 50)], new SloSpec());
        using var writer = new StringWriter();
        CsvReports.WriteSummary(writer, summary);
        var lines = writer.ToString().TrimEnd('\n').Split('\n');
        Assert.Equal(3, lines.Length);
        var header = lines[0].Split(',');
        var rowA = lines[1].Split(',');
        Assert.Equal("a", rowA[0]);
        Assert.Equal("200", rowA[Array.IndexOf(header, "ttft_p50_ms")]);
        Assert.Equal("0", rowA[Array.IndexOf(header, "error_rate")]);
    }
}
