using Spark.Eval.Core.Metrics;
using Spark.Eval.Core.Results;

namespace Spark.Eval.Reporting;

/// <summary>One recorded run as the history lists it.</summary>
public sealed record HistoryRun(string RunId, DateTimeOffset StartedUtc, string Suite, string? GitCommit, string Machine, string RunDirectory, string? Status);

/// <summary>
/// Where runs' per-backend scalar metrics are kept so nightly runs read as a trend: a SQLite file (the embedded
/// default) or a PostgreSQL database that many runners share. Recording a run again replaces its rows.
/// </summary>
public interface IHistoryStore : IDisposable
{
    /// <summary>The file path or the redacted connection URL, for messages.</summary>
    string Location { get; }

    /// <summary>Records (or re-records) a run: its identity and every per-backend scalar of its summary, in one transaction.</summary>
    void Record(RunManifest manifest, RunSummary summary, string runDirectory);

    /// <summary>The values of one metric, oldest first, optionally for one backend; at most the last <paramref name="last"/> points.</summary>
    IReadOnlyList<HistoryPoint> Query(string metric, string? backend, int last);

    /// <summary>Every metric name recorded, for help texts and errors.</summary>
    IReadOnlyList<string> MetricNames();

    /// <summary>The most recent runs, newest last.</summary>
    IReadOnlyList<HistoryRun> Runs(int last);
}

/// <summary>Opens the history a location names: <c>postgresql://…</c> (or <c>postgres://…</c>) for PostgreSQL, otherwise a SQLite file path.</summary>
public static class HistoryStores
{
    /// <summary>The environment variable that names a shared history for every run on a runner (e.g. postgresql://ci@db/spark).</summary>
    public const string EnvironmentVariable = "SPARK_EVAL_HISTORY";

    public static bool IsPostgres(string location) =>
        location.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase) || location.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase);

    /// <summary>Opens a history; <paramref name="readExisting"/>: a SQLite file must already hold a history (nothing is created in it).</summary>
    public static IHistoryStore Open(string location, bool readExisting = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(location);
        return IsPostgres(location) ? PostgresHistoryStore.Open(location) : HistoryStore.Open(location, readExisting);
    }
}
