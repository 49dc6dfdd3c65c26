using Spark.Eval.Core;
using Spark.Eval.Core.Metrics;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Timing;

namespace Spark.Eval.Reporting.Tests;

/// <summary>What every history store (SQLite file, PostgreSQL database) must do; each store subclasses it with one override.</summary>
public abstract class HistoryStoreContractTests
{
    /// <summary>A location (file path or URL) of a new, empty history.</summary>
    protected abstract string NewLocation();

    internal static (RunManifest, RunSummary) Run(string id, int minute, long ttftMs, string backend = "b")
    {
        AttemptRecord[] records =
        [
            new()
            {
                Slot = new SlotKey("t", backend, 0),
                Events = [new(0, StreamEventKind.RequestStart), new(ttftMs * 1000, StreamEventKind.Content, 3), new((ttftMs + 10) * 1000, StreamEventKind.End)],
                Outcome = AttemptOutcome.Ok,
                Answer = "a",
                Tokens = new TokenCounts { OutputTokenizer = 1, Tokenizer = "t" },
                Simulated = true,
            },
        ];
        var manifest = new RunManifest
        {
            RunId = id,
            HarnessVersion = "test",
            Plan = new RunPlanSpec { SuitePath = "s", BackendSpecs = [backend] },
            Suite = new SuiteInfo("mini", "embedded", "sha", 1),
            Backends = [],
            Environment = new EnvironmentInfo("linux", "cpu", 2, "10.0", "abc", "runner-" + id),
            StartedUtc = DateTimeOffset.UnixEpoch.AddMinutes(minute),
            Status = "completed",
        };
        return (manifest, SummaryCalculator.Compute(id, records, new SloSpec()));
    }

    [Fact]
    public void Record_TwoRunsAndAReRecord_QueryReturnsOnePointPerRunOldestFirst()
    {
        var location = NewLocation();
        using (var store = HistoryStores.Open(location))
        {
            var (m2, s2) = Run("second", 2, 30);
            var (m1, s1) = Run("first", 1, 20);
            store.Record(m2, s2, "results/second");
            store.Record(m1, s1, "results/first");
            store.Record(m2, s2, "results/second");
        }

        using var reopened = HistoryStores.Open(location);
        var points = reopened.Query("ttft_p50_ms", "b", 10);
        Assert.Equal(["first", "second"], points.Select(p => p.RunId));
        Assert.Equal([20.0, 30.0], points.Select(p => p.Value));
        Assert.Equal("abc", points[0].GitCommit);
        Assert.True(points[0].Simulated);
        Assert.Equal(DateTimeOffset.UnixEpoch.AddMinutes(1), points[0].StartedUtc);
        Assert.Single(reopened.Query("ttft_p50_ms", null, 1));
        Assert.Empty(reopened.Query("ttft_p50_ms", "other", 10));
        Assert.Contains("error_rate", reopened.MetricNames());
    }

    [Fact]
    public void Runs_TwoRunnersWritingOneHistory_ListsEveryRunOldestFirst()
    {
        var location = NewLocation();
        using var runnerA = HistoryStores.Open(location);
        using var runnerB = HistoryStores.Open(location);
        var (m1, s1) = Run("night-a", 1, 20, backend: "gpu");
        var (m2, s2) = Run("night-b", 2, 25, backend: "cpu");
        Parallel.Invoke(() => runnerA.Record(m1, s1, "results/a"), () => runnerB.Record(m2, s2, "results/b"));

        using var reader = HistoryStores.Open(location);
        var runs = reader.Runs(10);
        Assert.Equal(["night-a", "night-b"], runs.Select(r => r.RunId));
        Assert.Equal("completed", runs[0].Status);
        Assert.StartsWith("runner-night-b: cpu", runs[1].Machine, StringComparison.Ordinal);
        Assert.EndsWith(Path.Combine("results", "a"), runs[0].RunDirectory, StringComparison.Ordinal);
        Assert.Equal(["night-b"], reader.Runs(1).Select(r => r.RunId));
        Assert.Equal(2, reader.Query("ttft_p50_ms", null, 10).Count);
    }
}

public sealed class SqliteHistoryStoreContractTests : HistoryStoreContractTests, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("spark-history-").FullName;

    protected override string NewLocation() => Path.Combine(_dir, Guid.NewGuid().ToString("N") + ".sqlite");

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}

/// <summary>The same contract against a real PostgreSQL server started for these tests.</summary>
public sealed class PostgresHistoryStoreContractTests(PostgresServerFixture server) : HistoryStoreContractTests, IClassFixture<PostgresServerFixture>
{
    protected override string NewLocation()
    {
        Assert.SkipWhen(server.SkipReason is not null, server.SkipReason ?? "");
        return server.NewDatabaseUrl();
    }

    [Fact]
    public void Open_DatabaseOfAnotherFormat_IsBadInputNamingTheFix()
    {
        var url = NewLocation();
        using (var store = HistoryStores.Open(url))
        {
            Assert.IsType<PostgresHistoryStore>(store);
        }

        using (var connection = new Npgsql.NpgsqlConnection(PostgresHistoryStore.ToConnectionString(url).ConnectionString))
        {
            connection.Open();
            using var command = new Npgsql.NpgsqlCommand("UPDATE spark_eval_history_meta SET value = '9' WHERE key = 'format_version'", connection);
            command.ExecuteNonQuery();
        }

        var ex = Assert.Throws<InputException>(() => HistoryStores.Open(url));
        Assert.Contains("found 9", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Fix:", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Open_NoServerOnThePort_IsBadInputWithoutThePassword()
    {
        Assert.SkipWhen(server.SkipReason is not null, server.SkipReason ?? "");
        var ex = Assert.Throws<InputException>(() => HistoryStores.Open("postgresql://spark:s3cret@127.0.0.1:1/none?connect_timeout=2"));
        Assert.DoesNotContain("s3cret", ex.Message, StringComparison.Ordinal);
        Assert.Contains("spark:***@127.0.0.1:1", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ToConnectionString_UrlWithSocketAndSslMode_MapsEveryPart()
    {
        var (cs, redacted) = PostgresHistoryStore.ToConnectionString("postgresql://ci:p%40ss@db.internal:6543/spark?sslmode=require&connect_timeout=5");
        var builder = new Npgsql.NpgsqlConnectionStringBuilder(cs);
        Assert.Equal(("db.internal", 6543, "spark", "ci", "p@ss"), (builder.Host, builder.Port, builder.Database, builder.Username, builder.Password));
        Assert.Equal(Npgsql.SslMode.Require, builder.SslMode);
        Assert.Equal(5, builder.Timeout);
        Assert.Equal("postgresql://ci:***@db.internal:6543/spark?sslmode=require&connect_timeout=5", redacted);
        Assert.Equal("/run/pg", new Npgsql.NpgsqlConnectionStringBuilder(PostgresHistoryStore.ToConnectionString("postgresql://u@localhost/db?host=/run/pg").ConnectionString).Host);
        Assert.Throws<InputException>(() => PostgresHistoryStore.ToConnectionString("postgresql://u@h/db?weird=1"));
    }
}
