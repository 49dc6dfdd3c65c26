using Spark.Eval.Core.Metrics;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Timing;

namespace Spark.Eval.Reporting.Tests;

public sealed class HistoryStoreTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("spark-history-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (RunManifest, RunSummary) Run(string id, int minute, long ttftMs)
    {
        AttemptRecord[] records =
        [
            new()
            {
                Slot = new SlotKey("t", "b", 0),
                Events = [new(0, StreamEventKind.RequestStart), new(ttftMs * 1000, StreamEventKind.Content, 3), new((ttftMs + 10) * 1000, StreamEventKind.End)],
                Outcome = new AttemptOutcome(AttemptStatus.Ok, null),
                Answer = "a",
                Tokens = new TokenCounts { OutputTokenizer = 1, Tokenizer = "t" },
            },
        ];
        var manifest = new RunManifest
        {
            RunId = id,
            HarnessVersion = "test",
            Plan = new RunPlanSpec { SuitePath = "s", BackendSpecs = ["b"] },
            Suite = new SuiteInfo("mini", "embedded", "sha", 1),
            Backends = [],
            Environment = new EnvironmentInfo("linux", "cpu", 2, "10.0", "abc", "host"),
            StartedUtc = DateTimeOffset.UnixEpoch.AddMinutes(minute),
        };
        return (manifest, SummaryCalculator.Compute(id, records, new SloSpec()));
    }

    [Fact]
    public void Record_TwoRunsAndAReRecord_QueryReturnsOnePointPerRunOldestFirst()
    {
        var path = Path.Combine(_dir, "history.sqlite");
        using (var store = HistoryStore.Open(path))
        {
            var (m2, s2) = Run("second", 2, 30);
            var (m1, s1) = Run("first", 1, 20);
            store.Record(m2, s2, _dir);
            store.Record(m1, s1, _dir);
            store.Record(m2, s2, _dir);
        }

        using var reopened = HistoryStore.Open(path);
        var points = reopened.Query("ttft_p50_ms", "b", 10);
        Assert.Equal(["first", "second"], points.Select(p => p.RunId));
        Assert.Equal([20.0, 30.0], points.Select(p => p.Value));
        Assert.Equal("abc", points[0].GitCommit);
        Assert.Single(reopened.Query("ttft_p50_ms", null, 1));
        Assert.Contains("error_rate", reopened.MetricNames());
    }

    [Fact]
    public void Open_OtherSqliteDatabase_IsBadInput()
    {
        var path = Path.Combine(_dir, "other.sqlite");
        using (var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={path};Pooling=False"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "CREATE TABLE t(x); PRAGMA user_version = 7;";
            command.ExecuteNonQuery();
        }

        var ex = Assert.Throws<Spark.Eval.Core.InputException>(() => HistoryStore.Open(path));
        Assert.Contains("user_version 7", ex.Message, StringComparison.Ordinal);
    }
}
