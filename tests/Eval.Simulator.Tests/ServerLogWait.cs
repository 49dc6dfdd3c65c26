using Spark.Eval.Simulator.Server;

namespace Spark.Eval.TestSupport;

/// <summary>
/// serve-sim adds a request to its log when the handler returns, which can come after the client read the response's end (a
/// loaded machine runs the client on before the server's last lines): a test that reads the log at once can find an entry
/// missing (CI: "Expected 16, Actual 15", "Assert.Single: the collection was empty"). This waits, bounded, for the entries.
/// </summary>
internal static class ServerLogWait
{
    /// <summary>Longest wait: far past any handler's end on a loaded machine, short enough for a test.</summary>
    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The request's entries (all when <paramref name="requestId"/> is null) once there are at least <paramref name="count"/>, or
    /// as they are after <see cref="Bound"/>: the test asserts on them as before, so a missing or an extra entry still fails it.
    /// </summary>
    public static async Task<IReadOnlyList<ServerRequestLog>> AtLeastAsync(ServerLogStore log, string? requestId, int count, CancellationToken cancellationToken, Func<ServerRequestLog, bool>? where = null)
    {
        var start = TimeProvider.System.GetTimestamp();
        var entries = Read(log, requestId, where);
        while (entries.Count < count && TimeProvider.System.GetElapsedTime(start) < Bound)
        {
            await Task.Delay(10, cancellationToken);
            entries = Read(log, requestId, where);
        }

        return entries;
    }

    private static IReadOnlyList<ServerRequestLog> Read(ServerLogStore log, string? requestId, Func<ServerRequestLog, bool>? where) =>
        where is null ? log.Find(requestId) : [.. log.Find(requestId).Where(where)];
}
