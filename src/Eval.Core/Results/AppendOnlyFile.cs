using System.ComponentModel;
using System.Runtime.InteropServices;
using System.Text;

namespace Spark.Eval.Core.Results;

/// <summary>
/// A file opened for appending with O_APPEND on Linux, written with write(2): every <see cref="Append"/> is one write call at
/// the end of the file, whatever else appends. (.NET's FileMode.Append seeks once and then writes at positions it tracks, so two
/// writers overwrite each other's lines.) Other systems fall back to an unbuffered FileStream.
/// </summary>
public sealed class AppendOnlyFile : IDisposable
{
    private readonly int _fd = -1;
    private readonly FileStream? _fallback;

    private AppendOnlyFile(int fd, FileStream? fallback)
    {
        _fd = fd;
        _fallback = fallback;
    }

    public static AppendOnlyFile Open(string path)
    {
        if (!OperatingSystem.IsLinux())
        {
            return new AppendOnlyFile(-1, new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read, bufferSize: 0));
        }

        var fd = Libc.open(Libc.Path(path), Libc.O_WRONLY | Libc.O_CREAT | Libc.O_APPEND | Libc.O_CLOEXEC, Libc.Mode0644);
        if (fd < 0)
        {
            var error = Marshal.GetLastPInvokeError();
            throw new IOException($"{path}: cannot open for appending ({new Win32Exception(error).Message})", error);
        }

        return new AppendOnlyFile(fd, null);
    }

    /// <summary>Appends <paramref name="bytes"/> with one write call (a regular file takes it whole; a short write, e.g. a full disk, is continued and then reported).</summary>
    public void Append(ReadOnlySpan<byte> bytes)
    {
        if (_fallback is not null)
        {
            _fallback.Write(bytes);
            _fallback.Flush();
            return;
        }

        var offset = 0;
        while (offset < bytes.Length)
        {
            var written = Libc.write(_fd, ref MemoryMarshal.GetReference(bytes[offset..]), bytes.Length - offset);
            if (written < 0)
            {
                var error = Marshal.GetLastPInvokeError();
                if (error == Libc.EINTR)
                {
                    continue;
                }

                throw new IOException($"cannot append to the attempt log ({new Win32Exception(error).Message})", error);
            }

            offset += (int)written;
        }
    }

    public void Dispose()
    {
        _fallback?.Dispose();
        if (_fd >= 0)
        {
            _ = Libc.close(_fd);
        }
    }
}

/// <summary>The few libc calls run storage needs (Linux values).</summary>
internal static class Libc
{
    public const int O_RDWR = 0x2;
    public const int O_WRONLY = 0x1;
    public const int O_CREAT = 0x40;
    public const int O_APPEND = 0x400;
    public const int O_CLOEXEC = 0x80000;
    public const int Mode0644 = 0x1A4;
    public const int LOCK_EX = 2;
    public const int LOCK_NB = 4;
    public const int EINTR = 4;
    public const int EWOULDBLOCK = 11;

    public static byte[] Path(string path) => Encoding.UTF8.GetBytes(path + "\0");

    [DllImport("libc", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    public static extern int open(byte[] path, int flags, int mode);

    [DllImport("libc", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    public static extern nint write(int fd, ref readonly byte buffer, nint count);

    [DllImport("libc", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    public static extern nint pread(int fd, byte[] buffer, nint count, long offset);

    [DllImport("libc", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    public static extern int ftruncate(int fd, long length);

    [DllImport("libc", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    public static extern int flock(int fd, int operation);

    [DllImport("libc", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    public static extern nint pwrite(int fd, byte[] buffer, nint count, long offset);

    [DllImport("libc", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    public static extern int close(int fd);
}
