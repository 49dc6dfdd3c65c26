using System.Globalization;
using Microsoft.Data.Sqlite;
using Spark.Eval.Core;
using Spark.Eval.Core.Metrics;

namespace Spark.Eval.Reporting;

/// <summary>One recorded value of a metric: which run, when, which backend.</summary>
public sealed record HistoryPoint(string RunId, DateTimeOffset StartedUtc, string? GitCommit, string SuiteSha256, string Backend, bool Simulated, string Metric, double Value);

/// <summary>
/// The history store: a SQLite file beside the run directories (results/history.sqlite) holding every run's
/// per-backend scalar metrics, so nightly runs can be read as a trend. Recording a run again replaces its rows.
/// </summary>
public sealed class HistoryStore : IHistoryStore
{
    public const string FileName = "history.sqlite";

    /// <summary>Schema version, kept in SQLite's user_version.</summary>
    public const int FormatVersion = 1;

    private readonly SqliteConnection _connection;

    public string Path { get; }

    public string Location => Path;

    private HistoryStore(string path, SqliteConnection connection)
    {
        Path = path;
        _connection = connection;
    }

    /// <summary>
    /// Opens (creating if needed) the store; a file that is not a history store is bad input, untouched. With
    /// <paramref name="readExisting"/> (the history command) the file must already be a history store: an empty file is refused, never written.
    /// </summary>
    public static HistoryStore Open(string path, bool readExisting = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var full = System.IO.Path.GetFullPath(path);
        var existed = File.Exists(full);
        if (System.IO.Path.GetDirectoryName(full) is { } parent)
        {
            Directory.CreateDirectory(parent);
        }

        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = full, Pooling = false }.ToString());
        try
        {
            connection.Open();
            var version = Convert.ToInt32(Scalar(connection, "PRAGMA user_version"), CultureInfo.InvariantCulture);
            var tables = Convert.ToInt32(Scalar(connection, "SELECT count(*) FROM sqlite_master WHERE type = 'table'"), CultureInfo.InvariantCulture);
            if (existed && tables > 0 && version != FormatVersion)
            {
                throw InputException.At(full, null, "user_version", $"not a Spark Eval history store of format {FormatVersion} (user_version {version})",
                    "pass another history file, or move this one away to start a new history");
            }

            if (readExisting && tables == 0)
            {
                throw InputException.At(full, null, null, "not a Spark Eval history store (the file holds no history tables)",
                    "pass the history file a run recorded into (results/history.sqlite by default)");
            }

            Execute(connection, """
                CREATE TABLE IF NOT EXISTS runs(
                  run_id TEXT PRIMARY KEY, started_utc TEXT NOT NULL, suite TEXT NOT NULL, suite_sha256 TEXT NOT NULL,
                  git_commit TEXT, machine TEXT NOT NULL, run_dir TEXT NOT NULL, status TEXT);
                CREATE TABLE IF NOT EXISTS metrics(
                  run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE, backend TEXT NOT NULL,
                  simulated INTEGER NOT NULL, metric TEXT NOT NULL, value REAL NOT NULL,
                  PRIMARY KEY(run_id, backend, metric));
                CREATE INDEX IF NOT EXISTS metrics_by_name ON metrics(metric, backend);
                PRAGMA user_version = 1;
                """);
            return new HistoryStore(full, connection);
        }
        catch (SqliteException ex)
        {
            connection.Dispose();
            throw InputException.At(full, null, null, $"not a readable SQLite history store ({ex.Message})",
                "pass another history file, or move this one away to start a new history");
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>Records (or re-records) a run: its identity and every per-backend scalar of its summary, in one transaction.</summary>
    public void Record(Core.Results.RunManifest manifest, RunSummary summary, string runDirectory)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(summary);
        using var transaction = _connection.BeginTransaction();
        Execute(_connection, "DELETE FROM metrics WHERE run_id = $id", transaction, ("$id", manifest.RunId));
        Execute(_connection, """
            INSERT OR REPLACE INTO runs(run_id, started_utc, suite, suite_sha256, git_commit, machine, run_dir, status)
            VALUES($id, $started, $suite, $sha, $commit, $machine, $dir, $status)
            """, transaction,
            ("$id", manifest.RunId), ("$started", manifest.StartedUtc.ToString("O", CultureInfo.InvariantCulture)),
            ("$suite", manifest.Suite.Name), ("$sha", manifest.Suite.Sha256), ("$commit", manifest.Environment.GitCommit),
            ("$machine", $"{manifest.Environment.MachineName}: {manifest.Environment.Cpu} ({manifest.Environment.Cores} cores)"),
            ("$dir", System.IO.Path.GetFullPath(runDirectory)), ("$status", manifest.Status));
        using var insert = _connection.CreateCommand();
        insert.Transaction = transaction;
        insert.CommandText = "INSERT INTO metrics(run_id, backend, simulated, metric, value) VALUES($id, $backend, $sim, $metric, $value)";
        var id = insert.Parameters.Add("$id", SqliteType.Text);
        var backend = insert.Parameters.Add("$backend", SqliteType.Text);
        var simulated = insert.Parameters.Add("$sim", SqliteType.Integer);
        var metric = insert.Parameters.Add("$metric", SqliteType.Text);
        var value = insert.Parameters.Add("$value", SqliteType.Real);
        id.Value = manifest.RunId;
        foreach (var b in summary.Backends)
        {
            backend.Value = b.Backend;
            simulated.Value = b.Simulated ? 1 : 0;
            foreach (var (name, v) in SummaryCalculator.Scalars(b))
            {
                if (double.IsFinite(v))
                {
                    metric.Value = name;
                    value.Value = v;
                    insert.ExecuteNonQuery();
                }
            }
        }

        transaction.Commit();
    }

    /// <summary>The values of one metric, oldest first, optionally for one backend; at most the last <paramref name="last"/> runs.</summary>
    public IReadOnlyList<HistoryPoint> Query(string metric, string? backend, int last)
    {
        using var command = _connection.CreateCommand();
        command.CommandText = """
            SELECT r.run_id, r.started_utc, r.git_commit, r.suite_sha256, m.backend, m.simulated, m.metric, m.value
            FROM metrics m JOIN runs r ON r.run_id = m.run_id
            WHERE m.metric = $metric AND ($backend IS NULL OR m.backend = $backend)
            ORDER BY r.started_utc DESC, m.backend LIMIT $limit
            """;
        command.Parameters.AddWithValue("$metric", metric);
        command.Parameters.AddWithValue("$backend", (object?)backend ?? DBNull.Value);
        command.Parameters.AddWithValue("$limit", last);
        var points = new List<HistoryPoint>();
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            points.Add(new HistoryPoint(reader.GetString(0), DateTimeOffset.Parse(reader.GetString(1), CultureInfo.InvariantCulture),
                reader.IsDBNull(2) ? null : reader.GetString(2), reader.GetString(3), reader.GetString(4), reader.GetInt64(5) != 0,
                reader.GetString(6), reader.GetDouble(7)));
        }

        points.Reverse();
        return points;
    }

    /// <summary>Every metric name recorded, for help texts and errors.</summary>
    public IReadOnlyList<string> MetricNames()
    {
        using var command = _connection.CreateCommand();
        command.CommandText = "SELECT DISTINCT metric FROM metrics ORDER BY metric";
        var names = new List<string>();
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            names.Add(reader.GetString(0));
        }

        return names;
    }

    public IReadOnlyList<HistoryRun> Runs(int last)
    {
        using var command = _connection.CreateCommand();
        command.CommandText = "SELECT run_id, started_utc, suite, git_commit, machine, run_dir, status FROM runs ORDER BY started_utc DESC, run_id LIMIT $limit";
        command.Parameters.AddWithValue("$limit", last);
        var runs = new List<HistoryRun>();
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            runs.Add(new HistoryRun(reader.GetString(0), DateTimeOffset.Parse(reader.GetString(1), CultureInfo.InvariantCulture), reader.GetString(2),
                reader.IsDBNull(3) ? null : reader.GetString(3), reader.GetString(4), reader.GetString(5), reader.IsDBNull(6) ? null : reader.GetString(6)));
        }

        runs.Reverse();
        return runs;
    }

    public void Dispose() => _connection.Dispose();

    private static object? Scalar(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return command.ExecuteScalar();
    }

    private static void Execute(SqliteConnection connection, string sql, SqliteTransaction? transaction = null, params (string Name, object? Value)[] parameters)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }

        command.ExecuteNonQuery();
    }
}
