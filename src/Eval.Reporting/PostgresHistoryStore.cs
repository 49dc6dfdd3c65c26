using System.Globalization;
using Npgsql;
using Spark.Eval.Core;
using Spark.Eval.Core.Metrics;
using Spark.Eval.Core.Results;

namespace Spark.Eval.Reporting;

/// <summary>
/// The history store in a PostgreSQL database, so many runners write one history: tables spark_eval_runs and
/// spark_eval_metrics (the SQLite store's schema), format version in spark_eval_history_meta. Opened from a
/// libpq-style URL, <c>postgresql://user[:password]@host[:port]/database[?sslmode=…&amp;host=/socket/dir]</c>.
/// </summary>
public sealed class PostgresHistoryStore : IHistoryStore
{
    /// <summary>Schema version, kept in spark_eval_history_meta under format_version.</summary>
    public const int FormatVersion = 1;

    // Any constant: runners creating the schema at once take turns on this advisory lock.
    private const long SchemaLock = 0x5350_4152_4B45;

    private readonly NpgsqlConnection _connection;

    public string Location { get; }

    private PostgresHistoryStore(string location, NpgsqlConnection connection)
    {
        Location = location;
        _connection = connection;
    }

    /// <summary>Connects and creates the tables if needed; an unreachable server or a foreign schema is bad input naming the fix.</summary>
    public static PostgresHistoryStore Open(string url)
    {
        var (connectionString, redacted) = ToConnectionString(url);
        var connection = new NpgsqlConnection(connectionString);
        try
        {
            connection.Open();
            using (var transaction = connection.BeginTransaction())
            {
                Execute(connection, transaction, $"SELECT pg_advisory_xact_lock({SchemaLock})");
                Execute(connection, transaction, """
                    CREATE TABLE IF NOT EXISTS spark_eval_history_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
                    CREATE TABLE IF NOT EXISTS spark_eval_runs(
                      run_id TEXT PRIMARY KEY, started_utc TIMESTAMPTZ NOT NULL, suite TEXT NOT NULL, suite_sha256 TEXT NOT NULL,
                      git_commit TEXT, machine TEXT NOT NULL, run_dir TEXT NOT NULL, status TEXT);
                    CREATE TABLE IF NOT EXISTS spark_eval_metrics(
                      run_id TEXT NOT NULL REFERENCES spark_eval_runs(run_id) ON DELETE CASCADE, backend TEXT NOT NULL,
                      simulated BOOLEAN NOT NULL, metric TEXT NOT NULL, value DOUBLE PRECISION NOT NULL,
                      PRIMARY KEY(run_id, backend, metric));
                    CREATE INDEX IF NOT EXISTS spark_eval_metrics_by_name ON spark_eval_metrics(metric, backend);
                    INSERT INTO spark_eval_history_meta(key, value) VALUES('format_version', '1') ON CONFLICT (key) DO NOTHING;
                    """);
                using var version = new NpgsqlCommand("SELECT value FROM spark_eval_history_meta WHERE key = 'format_version'", connection, transaction);
                var found = version.ExecuteScalar() as string;
                if (found != FormatVersion.ToString(CultureInfo.InvariantCulture))
                {
                    throw InputException.At(redacted, null, "spark_eval_history_meta.format_version", $"not a Spark Eval history of format {FormatVersion} (found {found})",
                        "point --history at another database, or drop the spark_eval_* tables to start a new history");
                }

                transaction.Commit();
            }

            return new PostgresHistoryStore(redacted, connection);
        }
        catch (Exception ex) when (ex is NpgsqlException or PostgresException or TimeoutException)
        {
            connection.Dispose();
            throw InputException.At(redacted, null, null, $"cannot open the PostgreSQL history ({ex.Message})",
                "check that the server is reachable and the user may create tables in that database (password: in the URL or PGPASSWORD)");
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>Turns a postgresql:// URL into an Npgsql connection string, and a copy of the URL without its password for messages.</summary>
    public static (string ConnectionString, string Redacted) ToConnectionString(string url)
    {
        ArgumentException.ThrowIfNullOrEmpty(url);
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || !HistoryStores.IsPostgres(url))
        {
            throw new InputException($"--history {Redact(url)}: not a PostgreSQL URL. Fix: write postgresql://user@host:5432/database");
        }

        var builder = new NpgsqlConnectionStringBuilder
        {
            Host = string.IsNullOrEmpty(uri.Host) ? "localhost" : uri.Host,
            Port = uri.IsDefaultPort || uri.Port < 0 ? 5432 : uri.Port,
            Database = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/')) is { Length: > 0 } db ? db : "postgres",
            ApplicationName = "spark-eval",
            Timeout = 10,
            Pooling = false,
        };
        if (uri.UserInfo is { Length: > 0 } info)
        {
            var colon = info.IndexOf(':', StringComparison.Ordinal);
            builder.Username = Uri.UnescapeDataString(colon < 0 ? info : info[..colon]);
            if (colon >= 0)
            {
                builder.Password = Uri.UnescapeDataString(info[(colon + 1)..]);
            }
        }

        if (builder.Password is null && Environment.GetEnvironmentVariable("PGPASSWORD") is { Length: > 0 } password)
        {
            builder.Password = password;
        }

        foreach (var pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var at = pair.IndexOf('=', StringComparison.Ordinal);
            var key = Uri.UnescapeDataString(at < 0 ? pair : pair[..at]);
            var value = at < 0 ? "" : Uri.UnescapeDataString(pair[(at + 1)..]);
            switch (key)
            {
                case "host":
                    builder.Host = value; // a directory: the server's unix socket
                    break;
                case "sslmode":
                    builder.SslMode = Enum.TryParse<SslMode>(value.Replace("-", "", StringComparison.Ordinal), ignoreCase: true, out var mode) ? mode
                        : throw new InputException($"--history {Redact(url)}: sslmode '{value}' is unknown. Fix: use disable, prefer, require, verify-ca or verify-full");
                    break;
                case "connect_timeout":
                    builder.Timeout = int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var seconds) ? seconds
                        : throw new InputException($"--history {Redact(url)}: connect_timeout '{value}' is not whole seconds. Fix: write e.g. connect_timeout=10");
                    break;
                case "application_name":
                    builder.ApplicationName = value;
                    break;
                default:
                    throw new InputException($"--history {Redact(url)}: parameter '{key}' is not supported. Fix: use host, sslmode, connect_timeout or application_name");
            }
        }

        return (builder.ConnectionString, Redact(url));
    }

    private static string Redact(string url)
    {
        var scheme = url.IndexOf("://", StringComparison.Ordinal);
        var at = url.LastIndexOf('@');
        if (scheme < 0 || at < scheme)
        {
            return url;
        }

        var user = url[(scheme + 3)..at];
        var colon = user.IndexOf(':', StringComparison.Ordinal);
        return colon < 0 ? url : url[..(scheme + 3)] + user[..colon] + ":***" + url[at..];
    }

    public void Record(RunManifest manifest, RunSummary summary, string runDirectory)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(summary);
        var backends = new List<string>();
        var simulated = new List<bool>();
        var metrics = new List<string>();
        var values = new List<double>();
        foreach (var b in summary.Backends)
        {
            foreach (var (name, v) in SummaryCalculator.Scalars(b))
            {
                if (double.IsFinite(v))
                {
                    backends.Add(b.Backend);
                    simulated.Add(b.Simulated);
                    metrics.Add(name);
                    values.Add(v);
                }
            }
        }

        using var transaction = _connection.BeginTransaction();
        using (var upsert = new NpgsqlCommand("""
            INSERT INTO spark_eval_runs(run_id, started_utc, suite, suite_sha256, git_commit, machine, run_dir, status)
            VALUES(@id, @started, @suite, @sha, @commit, @machine, @dir, @status)
            ON CONFLICT (run_id) DO UPDATE SET started_utc = EXCLUDED.started_utc, suite = EXCLUDED.suite, suite_sha256 = EXCLUDED.suite_sha256,
              git_commit = EXCLUDED.git_commit, machine = EXCLUDED.machine, run_dir = EXCLUDED.run_dir, status = EXCLUDED.status
            """, _connection, transaction))
        {
            upsert.Parameters.AddWithValue("id", manifest.RunId);
            upsert.Parameters.AddWithValue("started", manifest.StartedUtc.ToUniversalTime());
            upsert.Parameters.AddWithValue("suite", manifest.Suite.Name);
            upsert.Parameters.AddWithValue("sha", manifest.Suite.Sha256);
            upsert.Parameters.AddWithValue("commit", (object?)manifest.Environment.GitCommit ?? DBNull.Value);
            upsert.Parameters.AddWithValue("machine", $"{manifest.Environment.MachineName}: {manifest.Environment.Cpu} ({manifest.Environment.Cores} cores)");
            upsert.Parameters.AddWithValue("dir", Path.GetFullPath(runDirectory));
            upsert.Parameters.AddWithValue("status", (object?)manifest.Status ?? DBNull.Value);
            upsert.ExecuteNonQuery();
        }

        using (var delete = new NpgsqlCommand("DELETE FROM spark_eval_metrics WHERE run_id = @id", _connection, transaction))
        {
            delete.Parameters.AddWithValue("id", manifest.RunId);
            delete.ExecuteNonQuery();
        }

        using (var insert = new NpgsqlCommand("""
            INSERT INTO spark_eval_metrics(run_id, backend, simulated, metric, value)
            SELECT @id, b, s, m, v FROM unnest(@backends, @simulated, @metrics, @values) AS t(b, s, m, v)
            """, _connection, transaction))
        {
            insert.Parameters.AddWithValue("id", manifest.RunId);
            insert.Parameters.AddWithValue("backends", backends.ToArray());
            insert.Parameters.AddWithValue("simulated", simulated.ToArray());
            insert.Parameters.AddWithValue("metrics", metrics.ToArray());
            insert.Parameters.AddWithValue("values", values.ToArray());
            insert.ExecuteNonQuery();
        }

        transaction.Commit();
    }

    public IReadOnlyList<HistoryPoint> Query(string metric, string? backend, int last)
    {
        using var command = new NpgsqlCommand("""
            SELECT r.run_id, r.started_utc, r.git_commit, r.suite_sha256, m.backend, m.simulated, m.metric, m.value
            FROM spark_eval_metrics m JOIN spark_eval_runs r ON r.run_id = m.run_id
            WHERE m.metric = @metric AND (@backend::text IS NULL OR m.backend = @backend::text)
            ORDER BY r.started_utc DESC, m.backend LIMIT @limit
            """, _connection);
        command.Parameters.AddWithValue("metric", metric);
        command.Parameters.AddWithValue("backend", (object?)backend ?? DBNull.Value);
        command.Parameters.AddWithValue("limit", last);
        var points = new List<HistoryPoint>();
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            points.Add(new HistoryPoint(reader.GetString(0), Utc(reader.GetDateTime(1)), reader.IsDBNull(2) ? null : reader.GetString(2),
                reader.GetString(3), reader.GetString(4), reader.GetBoolean(5), reader.GetString(6), reader.GetDouble(7)));
        }

        points.Reverse();
        return points;
    }

    public IReadOnlyList<string> MetricNames()
    {
        using var command = new NpgsqlCommand("SELECT DISTINCT metric FROM spark_eval_metrics ORDER BY metric", _connection);
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
        using var command = new NpgsqlCommand(
            "SELECT run_id, started_utc, suite, git_commit, machine, run_dir, status FROM spark_eval_runs ORDER BY started_utc DESC, run_id LIMIT @limit", _connection);
        command.Parameters.AddWithValue("limit", last);
        var runs = new List<HistoryRun>();
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            runs.Add(new HistoryRun(reader.GetString(0), Utc(reader.GetDateTime(1)), reader.GetString(2), reader.IsDBNull(3) ? null : reader.GetString(3),
                reader.GetString(4), reader.GetString(5), reader.IsDBNull(6) ? null : reader.GetString(6)));
        }

        runs.Reverse();
        return runs;
    }

    public void Dispose() => _connection.Dispose();

    private static DateTimeOffset Utc(DateTime value) => new(DateTime.SpecifyKind(value, DateTimeKind.Utc));

    private static void Execute(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql)
    {
        using var command = new NpgsqlCommand(sql, connection, transaction);
        command.ExecuteNonQuery();
    }
}
