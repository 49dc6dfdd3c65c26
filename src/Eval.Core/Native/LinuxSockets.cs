using System.Runtime.InteropServices;

namespace Spark.Eval.Core.Native;

/// <summary>
/// The Linux socket calls the real-time reader threads share (the client's receive thread and transport stream, serve-sim's
/// arrival thread): <c>recvmsg</c> with its <c>msghdr</c>/<c>iovec</c> layouts (64-bit), and the <c>epoll</c> calls.
/// One declaration here instead of a copy in each assembly.
/// </summary>
public static partial class LinuxSockets
{
    /// <summary><c>recvmsg(2)</c>.</summary>
    [LibraryImport("libc", EntryPoint = "recvmsg", SetLastError = true)]
    public static unsafe partial nint RecvMsg(int socket, MsgHdr* message, int flags);

    /// <summary><c>epoll_create1(2)</c>.</summary>
    [LibraryImport("libc", EntryPoint = "epoll_create1", SetLastError = true)]
    public static partial int EpollCreate1(int flags);

    /// <summary><c>epoll_ctl(2)</c>; <paramref name="ev"/> points at a <c>struct epoll_event</c>.</summary>
    [LibraryImport("libc", EntryPoint = "epoll_ctl", SetLastError = true)]
    public static unsafe partial int EpollCtl(int epollFd, int operation, int fd, byte* ev);

    /// <summary><c>epoll_wait(2)</c>.</summary>
    [LibraryImport("libc", EntryPoint = "epoll_wait", SetLastError = true)]
    public static unsafe partial int EpollWait(int epollFd, byte* events, int maxEvents, int timeout);

#pragma warning disable CA1051 // Native layouts: fields, in the kernel's order.
    /// <summary><c>struct iovec</c>.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct IoVec
    {
        public byte* Base;
        public nuint Length;
    }

    /// <summary><c>struct msghdr</c>.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct MsgHdr
    {
        public void* Name;
        public uint NameLength;
        public IoVec* Iov;
        public nuint IovLength;
        public byte* Control;
        public nuint ControlLength;
        public int Flags;
    }
#pragma warning restore CA1051
}
