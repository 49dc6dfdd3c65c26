using System.ComponentModel;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace Spark.Eval.Core.Results;

/// <summary>
/// The run directory's single-writer lock: an exclusive flock on <c>.lock</c> holding the writer's pid, released by the kernel
/// when the process ends however it ends (kill -9 included). A second writer (a concurrent --resume, summarize, grade) is
/// refused with exit 2 naming the holder, after the lock stayed held for <see cref="BriefHoldMs"/>.
/// </summary>
public sealed class RunLock : IDisposable
{
    public const string FileName = ".lock";

    /// <summary>How long a held lock is retried before the run directory is reported in use (ms).</summary>
    public const int BriefHoldMs = 1000;
    private readonly int _fd;
    private readonly FileStream? _fallback;

    private RunLock(int fd, FileStream? fallback)
    {
        _fd = fd;
        _fallback = fallback;
    }

    /// <summary>Takes the lock of <paramref name="runDirectory"/> or throws an <see cref="InputException"/> naming the pid that holds it.</summary>
    public static RunLock Acquire(string runDirectory)
    {
        var path = Path.Combine(runDirectory, FileName);
        var pid = Encoding.ASCII.GetBytes(Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "\n");
        if (!OperatingSystem.IsLinux())
        {
            try
            {
                var stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
                stream.SetLength(0);
                stream.Write(pid);
                stream.Flush();
                return new RunLock(-1, stream);
            }
            catch (IOException)
            {
                throw Held(runDirectory, null);
            }
        }

        var fd = Libc.open(Libc.Path(path), Libc.O_RDWR | Libc.O_CREAT | Libc.O_CLOEXEC, Libc.Mode0644);
        if (fd < 0)
        {
            var error = Marshal.GetLastPInvokeError();
            throw InputException.At(path, null, null, $"cannot create the run directory's lock file ({new Win32Exception(error).Message})",
                "make the run directory writable, or pass another one");
        }

        // A lock held for a moment is waited out: a child process forked while a writer had the file open shares the lock
        // until its exec closes the descriptor (O_CLOEXEC), which on a loaded machine can outlast the writer itself.
        var deadline = Environment.TickCount64 + BriefHoldMs;
        var locked = Libc.flock(fd, Libc.LOCK_EX | Libc.LOCK_NB) == 0;
        var lockError = locked ? 0 : Marshal.GetLastPInvokeError();
        while (!locked && lockError == Libc.EWOULDBLOCK && Environment.TickCount64 < deadline)
        {
            Thread.Sleep(25);
            locked = Libc.flock(fd, Libc.LOCK_EX | Libc.LOCK_NB) == 0;
            lockError = locked ? 0 : Marshal.GetLastPInvokeError();
        }

        if (!locked)
        {
            var holder = ReadPid(fd);
            _ = Libc.close(fd);
            if (lockError == Libc.EWOULDBLOCK)
            {
                throw Held(runDirectory, holder);
            }

            throw InputException.At(path, null, null, $"cannot lock the run directory ({new Win32Exception(lockError).Message})", "pass a run directory on a local file system");
        }

        _ = Libc.ftruncate(fd, 0);
        _ = Libc.pwrite(fd, pid, pid.Length, 0);
        return new RunLock(fd, null);
    }

    private static InputException Held(string runDirectory, int? pid) =>
        new($"{runDirectory}: the run directory is in use by another spark-eval{(pid is { } p ? $" (pid {p.ToString(CultureInfo.InvariantCulture)})" : "")}; one process writes a run at a time. Fix: wait for it to end (or stop it), then retry");

    private static int? ReadPid(int fd)
    {
        var buffer = new byte[32];
        var read = Libc.pread(fd, buffer, buffer.Length, 0);
        return read > 0 && int.TryParse(Encoding.ASCII.GetString(buffer, 0, (int)read).Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var pid) ? pid : null;
    }

    public void Dispose()
    {
        _fallback?.Dispose();
        if (_fd >= 0)
        {
            // Closing the descriptor releases the flock; the file stays (removing it would race a waiting locker).
            _ = Libc.close(_fd);
        }
    }
}
