using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Spark.Eval.Reporting.Tests;

/// <summary>
/// A throwaway PostgreSQL cluster (Debian's postgresql package) on a loopback port: initdb into a temp directory,
/// pg_ctl start, stopped and deleted at the end. initdb refuses root, so as root it runs as the postgres user.
/// </summary>
public sealed class PostgresServerFixture : IDisposable
{
    private readonly string? _bin;
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "spark-eval-pg-" + Guid.NewGuid().ToString("N"));
    private readonly bool _asPostgresUser;

    public string? SkipReason { get; }

    public int Port { get; }

    public PostgresServerFixture()
    {
        _bin = Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql").Select(d => Path.Combine(d, "bin")).Where(d => File.Exists(Path.Combine(d, "initdb"))).OrderDescending().FirstOrDefault()
            : null;
        if (_bin is null)
        {
            SkipReason = "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: install Debian's postgresql package (listed in .ci/apt-packages.txt)";
            return;
        }

        _asPostgresUser = Environment.UserName == "root";
        Directory.CreateDirectory(_dir);
        if (_asPostgresUser)
        {
            Run("chown", ["postgres:postgres", _dir], asPostgres: false);
        }

        Port = FreePort();
        Run(Path.Combine(_bin, "initdb"), ["-D", Path.Combine(_dir, "data"), "-A", "trust", "-U", "spark", "--no-sync", "-E", "UTF8"], _asPostgresUser);
        Run(Path.Combine(_bin, "pg_ctl"), ["-D", Path.Combine(_dir, "data"), "-l", Path.Combine(_dir, "server.log"), "-w", "-t", "60",
            "-o", $"-p {Port} -k {_dir} -c listen_addresses=127.0.0.1 -c fsync=off", "start"], _asPostgresUser);
    }

    /// <summary>A URL to a fresh, empty database of this cluster.</summary>
    public string NewDatabaseUrl()
    {
        var name = "h" + Guid.NewGuid().ToString("N")[..12];
        Run(Path.Combine(_bin!, "createdb"), ["-h", "127.0.0.1", "-p", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-U", "spark", name], _asPostgresUser);
        return $"postgresql://spark@127.0.0.1:{Port}/{name}";
    }

    public void Dispose()
    {
        if (_bin is not null && Directory.Exists(Path.Combine(_dir, "data")))
        {
            try
            {
                Run(Path.Combine(_bin, "pg_ctl"), ["-D", Path.Combine(_dir, "data"), "-m", "immediate", "-w", "stop"], _asPostgresUser);
            }
            catch (InvalidOperationException)
            {
                // Already stopped: nothing to clean up but the directory.
            }
        }

        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static void Run(string file, string[] args, bool asPostgres)
    {
        var info = new ProcessStartInfo(asPostgres ? "runuser" : file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (asPostgres)
        {
            foreach (var a in new[] { "-u", "postgres", "--", file })
            {
                info.ArgumentList.Add(a);
            }
        }

        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {file}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(120)))
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"{file} did not finish in 120 s");
        }

        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} exited {process.ExitCode}: {stdout.Result} {stderr.Result}");
        }
    }
}
