using Microsoft.Data.Sqlite;

namespace Spark.Eval.Cli;

/// <summary>
/// The CLI's one policy for environment errors (disk full, read-only or missing paths, permissions, symlink loops,
/// corrupt SQLite files): a one-line <c>error: … Fix: …</c> message and exit 2, never a stack trace.
/// </summary>
internal static class EnvironmentErrors
{
    private const int Enospc = 28;
    private const int Erofs = 30;
    private const int Eloop = 40;
    private const int WindowsDiskFull = unchecked((int)0x80070070);

    /// <summary>True for the exceptions the environment (not a bug) causes.</summary>
    public static bool IsEnvironmentError(Exception ex) =>
        ex is IOException or UnauthorizedAccessException or SqliteException or System.Security.SecurityException;

    /// <summary>The one line printed for an environment error: what failed (the message names the path) and the fix.</summary>
    public static string Describe(Exception ex)
    {
        var what = ex.Message.TrimEnd('.', ' ');
        var fix = ex switch
        {
            IOException io when IsDiskFull(io) => "free disk space (or choose another --out on a disk with room) and run again",
            IOException io when (io.HResult & 0xFFFF) == Erofs => "the file system is read-only: choose a writable --out directory",
            IOException io when (io.HResult & 0xFFFF) == Eloop || what.Contains("symbolic links", StringComparison.OrdinalIgnoreCase) => "the path contains a symlink loop: point at the real directory",
            DirectoryNotFoundException => "check the path exists (or choose another --out)",
            FileNotFoundException => "check the path exists",
            UnauthorizedAccessException => "the path is not writable or readable by you: fix its permissions (chmod) or choose another directory",
            SqliteException => "the SQLite file is corrupt or locked: move it aside (a new one is created) or pass another --history path",
            _ => "check the path, its permissions and the free disk space, then run again",
        };
        return $"error: {what}. Fix: {fix}.";
    }

    /// <summary>Disk full (ENOSPC on Unix, ERROR_DISK_FULL on Windows).</summary>
    public static bool IsDiskFull(IOException ex) => ex.HResult == Enospc || ex.HResult == WindowsDiskFull || (ex.HResult & 0xFFFF) == 0x70 && ex.HResult < 0;
}
