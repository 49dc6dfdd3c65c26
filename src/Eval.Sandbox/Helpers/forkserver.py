"""Spark Eval Python fork-server: runs untrusted Python programs, one at a time, inside one long-lived bubblewrap sandbox.

Trusted code. Started by the harness as `python3 -I -B forkserver.py <uid>` under bubblewrap (own pid, net, ipc and
uts namespaces, read-only system, host root with only CAP_SETUID, CAP_SETGID, CAP_CHOWN and CAP_KILL kept, no new
privileges). Per attempt the server writes the program into a fresh directory /sandbox/aN (mode 0700, then handed to
the attempt uid with the file) and a child is forked that gets its own session, rlimits (CPU, FSIZE, NPROC, NOFILE, CORE, AS), stdin from /dev/null, stdout/stderr on pipes
the server reads with a cap, then drops to the attempt uid/gid (unique to this server, so it owns nothing else and
RLIMIT_NPROC counts only its processes) and runs the program. At the end everything that uid owns is killed and the
harness deletes the directory (from outside, before the server takes another attempt).

Two processes share the work, because in a paravirtualised guest every copy-on-write fault costs 20-40 us. The server
(JSON, pipes, output caps, the kill sweep) never forks attempts: a zygote, forked once from it after the warm imports,
does nothing but fork attempt children and reap them, so neither the server's working set nor its per-attempt garbage
is shared with (and faulted in by) each attempt. The zygote forks with fork(2) itself (CPython's after-fork
bookkeeping costs a do-nothing child about 190 faults more, a graded one about 50; both processes are single-threaded,
so that bookkeeping has nothing to repair).

Protocol (stdin/stdout of the server, little-endian): request = u32 length + JSON; response and greeting =
u32 magic + u32 length + JSON.
"""

import base64
import importlib.util
import json
import os
import resource
import select
import signal
import socket
import struct
import sys
import time
import traceback

# Warm the modules graded programs import most, so a forked child does not pay for them.
import atexit  # noqa: F401
import bisect  # noqa: F401
import collections  # noqa: F401
import copy  # noqa: F401
import decimal  # noqa: F401
import fractions  # noqa: F401
import functools  # noqa: F401
import hashlib  # noqa: F401
import heapq  # noqa: F401
import itertools  # noqa: F401
import math  # noqa: F401
import operator  # noqa: F401
import random
import re  # noqa: F401
import statistics  # noqa: F401
import string  # noqa: F401
import threading  # noqa: F401
import typing  # noqa: F401
import unittest  # noqa: F401

MAGIC = 0x59505053
# Server -> zygote -> child attempt header: CPU seconds, file size, process count, address space (0: none), exec flag,
# tests-mode flag, the per-grade nonce (ASCII hex); then the attempt directory (UTF-8). Binary, because a child's first
# json.loads alone costs it about 100 page faults.
HEADER = struct.Struct("<qqqq??32s")
THREE_FDS = struct.Struct("<iii")
FDS_SPACE = socket.CMSG_SPACE(THREE_FDS.size)
SELF = os.path.abspath(__file__)
DRIVER = os.path.join(os.path.dirname(SELF), "pydriver.py")
MAX_FD = 1024
EVIDENCE_FD = 3
EVIDENCE_KEEP = 256


def _load_driver():
    spec = importlib.util.spec_from_file_location("spark_pydriver", DRIVER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pydriver = _load_driver()


def loopback_down():
    """Takes the loopback interface of this sandbox's network namespace down (bubblewrap brought it up), then gives up
    CAP_NET_ADMIN for good. Returns an error text, or None when loopback is down and the capability gone."""
    import ctypes
    import fcntl
    siocgifflags, siocsifflags, iff_up, cap_net_admin = 0x8913, 0x8914, 0x1, 12
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            ifr = fcntl.ioctl(s, siocgifflags, struct.pack("16sH22x", b"lo", 0))
            flags = struct.unpack_from("16sH", ifr)[1]
            if flags & iff_up:
                fcntl.ioctl(s, siocsifflags, struct.pack("16sH22x", b"lo", flags & ~iff_up))
            # Remove 127.0.0.1 too (SIOCSIFADDR 0.0.0.0), as in a fresh namespace: a connect fails at once instead of timing out.
            try:
                fcntl.ioctl(s, 0x8916, struct.pack("16sHH4s16x", b"lo", socket.AF_INET, 0, bytes(4)))
            except OSError:
                pass
            flags = struct.unpack_from("16sH", fcntl.ioctl(s, siocgifflags, struct.pack("16sH22x", b"lo", 0)))[1]
        finally:
            s.close()
        if flags & iff_up:
            return "loopback is still up"

        class Header(ctypes.Structure):
            _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

        class Data(ctypes.Structure):
            _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]

        libc = ctypes.CDLL(None, use_errno=True)
        header = Header(0x20080522, 0)
        data = (Data * 2)()
        if libc.capget(ctypes.byref(header), data) != 0:
            return "capget failed"
        mask = ~(1 << cap_net_admin) & 0xFFFFFFFF
        data[0].effective &= mask
        data[0].permitted &= mask
        data[0].inheritable &= mask
        if libc.capset(ctypes.byref(header), data) != 0:
            return "capset failed"
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(("CapEff:", "CapPrm:")) and int(line.split()[1], 16) & (1 << cap_net_admin):
                    return "CAP_NET_ADMIN is still held"
        return None
    except (OSError, ImportError, AttributeError) as e:
        return "could not take loopback down: %s" % e


def _raw_fork():
    """fork(2) called directly with the GIL held, or os.fork where ctypes is missing."""
    try:
        import ctypes
        fork = ctypes.PyDLL(None, use_errno=True).fork
        fork.restype = ctypes.c_int
        fork.argtypes = []
    except (ImportError, OSError, AttributeError):
        return os.fork

    def raw():
        pid = fork()
        if pid < 0:
            raise OSError(ctypes.get_errno(), "fork failed")
        return pid

    return raw


raw_fork = _raw_fork()


def read_exact(fd, n):
    chunks = []
    while n > 0:
        chunk = os.read(fd, n)
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def send(fd, obj):
    data = json.dumps(obj).encode("utf-8")
    payload = struct.pack("<II", MAGIC, len(data)) + data
    while payload:
        payload = payload[os.write(fd, payload):]


def child(box, uid, null, out_w, err_w, ev_w):
    """The attempt process: never returns. The program is already in directory/prog.py, owned by the attempt uid; the
    server's start left the environment and signal dispositions as a fresh interpreter under bubblewrap has them."""
    try:
        # The header (nonce included) leaves every frame here: the driver's audit hook becomes its only holder.
        msg = box.pop()
        cpu, fsize, nproc, address_space, execv, tests_mode, raw = HEADER.unpack_from(msg)
        secret = [raw.decode("ascii")]
        directory = msg[HEADER.size:].decode("utf-8")
        del msg, raw
        os.setsid()
        try:
            fd = os.open("/proc/self/oom_score_adj", os.O_WRONLY)
            os.write(fd, b"1000")
            os.close(fd)
        except OSError:
            pass
        os.dup2(null, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        # The evidence pipe: written by the driver (pydriver.run) only when the program ran to its end.
        os.dup2(ev_w, EVIDENCE_FD)
        os.closerange(EVIDENCE_FD + 1, MAX_FD)
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
        if address_space:
            resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
        if os.getuid() != uid or os.geteuid() != uid or os.getgid() != uid or os.getgroups():
            os._exit(125)
        os.chdir(directory)
        os.umask(0o022)
        os.environ["HOME"] = directory
        os.environ["TMPDIR"] = directory
        # A fresh interpreter seeds random from the OS; the zygote's raw fork skipped CPython's after-fork reseed.
        random.seed(int.from_bytes(os.urandom(32), "little"))
        path = os.path.join(directory, "prog.py")
        fd = os.open(path, os.O_RDONLY)
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
        os.close(fd)
        source = b"".join(chunks)
    except BaseException:
        try:
            traceback.print_exc()
            sys.stderr.flush()
        except BaseException:
            pass
        os._exit(125)
    if execv:
        try:
            r, w = os.pipe()
            os.write(w, secret.pop().encode("ascii") + b"\n")
            os.close(w)
            os.dup2(r, 0)
            os.close(r)
            os.execv(sys.executable, [sys.executable, "-I", "-B", DRIVER, "prog.py", "tests" if tests_mode else "program", str(EVIDENCE_FD)])
        except BaseException:
            os._exit(126)
    pydriver.run(path, source, secret, tests_mode, EVIDENCE_FD, hidden_files=(SELF,))


def ipc_objects(uid):
    """SysV shared memory, queues and semaphores the uid created: they outlive processes, so they would let one attempt
    pass data to the next in this server's IPC namespace. Any of them makes the server not reusable."""
    count = 0
    for kind in ("shm", "msg", "sem"):
        try:
            with open("/proc/sysvipc/" + kind) as f:
                header = f.readline().split()
                column = header.index("uid")
                for line in f:
                    fields = line.split()
                    if len(fields) > column and fields[column] == str(uid):
                        count += 1
        except (OSError, ValueError):
            pass
    return count


def sweep(uid):
    """Kills every process whose real uid is the attempt uid (the server holds CAP_KILL; only attempt processes have that
    uid) until none is left, zombies reaped. Returns 1 when anything was left behind (processes or IPC objects), else 0."""
    found = 0
    me = os.getpid()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        live = zombies = 0
        for name in os.listdir("/proc"):
            if not name.isdigit() or int(name) == me:
                continue
            try:
                with open("/proc/%s/status" % name) as f:
                    state = ruid = None
                    for line in f:
                        if line.startswith("State:"):
                            state = line.split()[1]
                        elif line.startswith("Uid:"):
                            ruid = int(line.split()[1])
                            break
            except (OSError, ValueError, IndexError):
                continue
            if ruid != uid:
                continue
            if state == "Z":
                zombies += 1
                continue
            live += 1
            try:
                os.kill(int(name), signal.SIGKILL)
            except OSError:
                pass
        if live:
            found = 1
        if live == 0 and zombies == 0:
            break
        time.sleep(0.001)
    return 1 if found or ipc_objects(uid) else 0


def zygote(sock, uid):
    """Forks one attempt child per request and reaps it; never returns. Request: a JSON header (parsed by the child) with
    fds [stdout, stderr] write ends; replies: i32 pid, then once the child is reaped i32 pid, i32 wait status, f64 CPU
    seconds. It touches as little memory as it can: every page it writes is copied again by the next child."""
    null = os.open("/dev/null", os.O_RDONLY)
    while True:
        try:
            msg, ancillary, _, _ = sock.recvmsg(1 << 16, FDS_SPACE)
        except OSError:
            os._exit(0)
        if not msg or len(ancillary) != 1 or len(ancillary[0][2]) != THREE_FDS.size:
            os._exit(0)
        out_w, err_w, ev_w = THREE_FDS.unpack(ancillary[0][2])
        box = [msg]
        del msg
        pid = raw_fork()
        if pid == 0:
            child(box, uid, null, out_w, err_w, ev_w)
        box.clear()
        os.close(out_w)
        os.close(err_w)
        os.close(ev_w)
        sock.send(struct.pack("<i", pid))
        _, status, rusage = os.wait4(pid, 0)
        sock.send(struct.pack("<iid", pid, status, rusage.ru_utime + rusage.ru_stime))


def start_zygote(uid, server_fds):
    server_end, zygote_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    pid = os.fork()
    if pid == 0:
        # The harness must see the protocol channel close when the server ends, so only the server holds it.
        for fd in server_fds:
            os.close(fd)
        server_end.close()
        try:
            zygote(zygote_end, uid)
        except BaseException:
            traceback.print_exc()
        os._exit(1)
    zygote_end.close()
    return server_end, pid


def attempt(req, uid, n, zsock):
    while True:
        directory = "/sandbox/a%d" % n
        try:
            os.mkdir(directory, 0o700)
            break
        except FileExistsError:
            n += 1000
    # Written while the directory is still root's (the server has no CAP_DAC_OVERRIDE), then handed over.
    path = os.path.join(directory, "prog.py")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    data = req["source"].encode("utf-8", "surrogatepass")
    while data:
        data = data[os.write(fd, data):]
    os.fchown(fd, uid, uid)
    os.close(fd)
    os.chown(directory, uid, uid)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    ev_r, ev_w = os.pipe()
    header = HEADER.pack(int(req["cpu"]), int(req["fsize"]), int(req["nproc"]), int(req.get("as") or 0), bool(req.get("execv")),
                         bool(req.get("tests")), str(req["nonce"]).encode("ascii"))
    socket.send_fds(zsock, [header + directory.encode("utf-8")], [out_w, err_w, ev_w])
    os.close(out_w)
    os.close(err_w)
    os.close(ev_w)
    reply = zsock.recv(64)
    if len(reply) != 4:
        raise OSError("the zygote ended")
    (pid,) = struct.unpack("<i", reply)
    keep, kill = req["keep"], req["kill"]
    kept = {out_r: bytearray(), err_r: bytearray(), ev_r: bytearray()}
    total = {out_r: 0, err_r: 0, ev_r: 0}
    open_fds = [out_r, err_r, ev_r]
    status = None
    cpu = 0.0
    stopped = None

    def pump(fd):
        chunk = os.read(fd, 65536)
        if not chunk:
            open_fds.remove(fd)
            return
        room = (EVIDENCE_KEEP if fd == ev_r else keep) - len(kept[fd])
        if room > 0:
            kept[fd] += chunk[:room]
        total[fd] += len(chunk)

    while status is None:
        ready, _, _ = select.select(open_fds + [zsock], [], [])
        for fd in ready:
            if fd is zsock:
                reply = zsock.recv(64)
                if len(reply) != 16:
                    raise OSError("the zygote ended")
                _, status, cpu = struct.unpack("<iid", reply)
            else:
                pump(fd)
        if stopped is None and total[out_r] + total[err_r] > kill:
            stopped = "output_limit"
            for kill_one in (os.killpg, os.kill):
                try:
                    kill_one(pid, signal.SIGKILL)
                except OSError:
                    pass
    leftovers = sweep(uid)
    # Everything holding the pipes is dead now; take what is still buffered.
    deadline = time.monotonic() + 2
    while open_fds and time.monotonic() < deadline:
        ready, _, _ = select.select(open_fds, [], [], 0.1)
        for fd in ready:
            pump(fd)
    for fd in (out_r, err_r, ev_r):
        os.close(fd)
    return {
        "exited": os.WIFEXITED(status),
        "code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
        "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
        "stdout": base64.b64encode(bytes(kept[out_r])).decode("ascii"),
        "stderr": base64.b64encode(bytes(kept[err_r])).decode("ascii"),
        "stdoutTotal": total[out_r],
        "stderrTotal": total[err_r],
        "evidence": bytes(kept[ev_r]).decode("ascii", "replace"),
        "stoppedBy": stopped,
        "leftovers": leftovers,
        "dir": os.path.basename(directory),
        "cpu": cpu,
    }


def main():
    uid = int(sys.argv[1])
    proto_in = os.dup(0)
    proto_out = os.dup(1)
    # Nothing but the protocol may reach the harness's channel: stray prints go to stderr.
    os.dup2(2, 1)
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    if os.getuid() != 0:
        send(proto_out, {"ready": False, "error": "the fork-server needs root with CAP_SETUID inside its sandbox"})
        return 1
    if len(sys.argv) > 2 and sys.argv[2] == "loopback-down":
        error = loopback_down()
        if error is not None:
            send(proto_out, {"ready": False, "error": error})
            return 1
    # What a fresh `python3 -I -B prog.py` under this bubblewrap would have; attempts only change HOME and TMPDIR.
    os.environ.clear()
    os.environ.update({"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/sandbox", "LANG": "C.UTF-8", "TMPDIR": "/tmp",
                       "PYTHONHASHSEED": "0", "PYTHONIOENCODING": "utf-8"})
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP, signal.SIGALRM, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, signal.SIG_DFL)
    import gc
    gc.collect()
    gc.freeze()
    zsock, _ = start_zygote(uid, (proto_in, proto_out))
    send(proto_out, {"ready": True, "python": sys.version.split()[0], "uid": uid})
    n = 0
    while True:
        header = read_exact(proto_in, 4)
        if header is None:
            return 0
        (length,) = struct.unpack("<I", header)
        req = json.loads(read_exact(proto_in, length).decode("utf-8"))
        n += 1
        send(proto_out, attempt(req, uid, n, zsock))


if __name__ == "__main__":
    sys.exit(main())
