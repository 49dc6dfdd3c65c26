"""Spark Eval's Python check driver: runs one graded program as __main__ and, only when it ran to its end, writes the
harness's per-grade nonce as completion evidence (docs/sandbox.md, "Pass evidence").

Trusted code. Used in two ways:
- one-shot: `python3 -I -B pydriver.py prog.py program|tests` with the nonce as the first line on stdin (then stdin is
  /dev/null for the program); the evidence goes to stderr as `<nonce>:ok` (or `<nonce>:tampered`), which the harness
  looks for in the whole stream;
- inside the fork-server (forkserver.py imports this file): the nonce comes in the attempt header and the evidence goes
  to file descriptor 3, a pipe only the server reads.

A program passes only when the harness sees the evidence AND the exit status is 0. The evidence is written after the
whole program (answer, then the hidden checks) returned normally: an answer that ends the process early (os._exit(0),
sys.exit(0), a signal, killing its parent) leaves none. In program mode a SystemExit of any code is an early end (the
checks are last and never exit); in tests mode (unittest.main()) SystemExit(0) is the normal end. Program mode also
compares, before and after, the objects the checks rely on (builtins, math, operator, unittest's classes): an answer
that patches them is `tampered`, never passed.

Where the nonce lives while the program runs: only in the closure of an audit hook (PEP 578; it cannot be removed or
listed from Python). The driver's frames hold no copy, and the hook refuses what could reach the closure or rewrite the
program's control flow: gc.get_objects/get_referrers/get_referents, sys._current_frames, sys.settrace/setprofile, every
ctypes call, opening /proc/*/mem. The process is not dumpable, so a child process cannot read its memory either. The
hook releases the evidence only when the audit event comes from the driver's own frame, after the program returned.
"""

import builtins
import os
import sys
import traceback
import types

_write = os.write
_close = os.close
_exit = os._exit
_audit = sys.audit
_BLOCKED = ("gc.get_objects", "gc.get_referrers", "gc.get_referents", "sys._current_frames", "sys.settrace", "sys.setprofile")
SELF = os.path.abspath(__file__)
# Objects whose attributes the hidden checks call; replacing any of them (e.g. unittest.TestCase.assertEqual, builtins.sorted)
# could make wrong code pass.
_GUARDED_MODULES = ("builtins", "math", "operator", "unittest", "unittest.case", "unittest.main", "unittest.result",
                    "unittest.runner", "unittest.suite", "unittest.loader")
_GUARDED_CLASSES = (("unittest.case", "TestCase"), ("unittest.result", "TestResult"), ("unittest.runner", "TextTestRunner"),
                    ("unittest.runner", "TextTestResult"), ("unittest.main", "TestProgram"), ("unittest.suite", "TestSuite"),
                    ("unittest.loader", "TestLoader"))


def _snapshot(source):
    import math  # noqa: F401
    import operator  # noqa: F401
    # Checks that use unittest name it; importing it costs a one-shot program about 20-50 ms, so only then (the fork-server
    # has it loaded already).
    if "unittest" in sys.modules or b"unittest" in (source if isinstance(source, bytes) else source.encode("utf-8", "replace")):
        import unittest  # noqa: F401
    seen = {}
    for name in _GUARDED_MODULES:
        module = sys.modules.get(name)
        if module is not None:
            seen[name] = (module, dict(module.__dict__))
    for module_name, class_name in _GUARDED_CLASSES:
        module = sys.modules.get(module_name)
        cls = getattr(module, class_name, None) if module is not None else None
        if isinstance(cls, type):
            seen[module_name + "." + class_name] = (cls, dict(cls.__dict__))
    seen["sys.exit"] = (sys, {"exit": sys.exit})
    seen["os._exit"] = (os, {"_exit": os._exit})
    return seen


def _changed(seen):
    """The first guarded name whose object changed identity, was added or removed; None when all is as before."""
    for label, (owner, before) in seen.items():
        now = owner.__dict__ if label not in ("sys.exit", "os._exit") else {k: getattr(owner, k, None) for k in before}
        if sys.modules.get(label, owner) is not owner:
            return label
        for key, value in before.items():
            if key in ("__dict__", "__weakref__"):
                continue
            if key not in now or now[key] is not value:
                return label + "." + key
        if label not in ("sys.exit", "os._exit"):
            for key in now:
                # Importing a submodule (unittest.mock) adds it to its package: that is not a patch.
                if key not in before and not isinstance(now[key], types.ModuleType) and not (label == "builtins" and key == "_") \
                        and not (label == "unittest" and key == "IsolatedAsyncioTestCase" and now[key] is getattr(
                            sys.modules.get("unittest.async_case"), "IsolatedAsyncioTestCase", None)):
                    return label + "." + key
    return None


def exit_code(e):
    code = e.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    try:
        print(code, file=sys.stderr)
    except Exception:
        pass
    return 1


def finish(code):
    """Ends the process as an interpreter would: non-daemon threads joined, atexit run, stdio flushed."""
    import atexit
    import threading
    try:
        threading._shutdown()
    except BaseException:
        pass
    try:
        atexit._run_exitfuncs()
    except BaseException:
        pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass
    _exit(code)


def _arm(secret, evidence_fd):
    """Moves the nonce out of `secret` (a one-item list) into the audit hook, the only holder from here on."""
    nonce = secret.pop()
    anchor = sys._getframe(1)
    getframe = sys._getframe
    fired = []

    def hook(event, args):
        if event == "spark.evidence":
            if not fired and getframe(1) is anchor:
                fired.append(True)
                data = ("\n%s:%s\n" % (nonce, args[0])).encode("ascii")
                try:
                    while data:
                        data = data[_write(evidence_fd, data):]
                    if evidence_fd > 2:
                        _close(evidence_fd)
                except OSError:
                    pass
            return
        if event.startswith("ctypes.") or event in _BLOCKED:
            raise RuntimeError("spark-eval sandbox: %s is not allowed in graded programs" % event)
        if event == "open" and isinstance(args[0], (str, bytes)):
            name = os.fsdecode(args[0])
            if name.startswith("/proc/") and name.rstrip("/").endswith("/mem"):
                raise PermissionError("spark-eval sandbox: reading process memory is not allowed")

    sys.addaudithook(hook)


def run(path, source, secret, tests_mode, evidence_fd, hidden_files=()):
    """Runs the program as `python3 -I -B prog.py` would; never returns. The evidence goes to evidence_fd when it ran to its end.
    `secret` is a one-item list holding the nonce; it is emptied before the program starts."""
    seen = None if tests_mode else _snapshot(source)
    _arm(secret, evidence_fd)
    sys.argv = [os.path.basename(path)]
    main = types.ModuleType("__main__")
    main.__file__ = path
    main.__cached__ = None
    main.__builtins__ = builtins
    sys.modules["__main__"] = main
    code = 0
    completed = False
    try:
        exec(compile(source, path, "exec", dont_inherit=True), main.__dict__)
        completed = True
    except SystemExit as e:
        code = exit_code(e)
        completed = tests_mode and code == 0
    except BaseException as e:
        tb = e.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename in hidden_files + (SELF,):
            tb = tb.tb_next
        try:
            traceback.print_exception(type(e), e, tb)
        except BaseException:
            pass
        code = 1
    if completed:
        status = "ok"
        changed = _changed(seen) if seen is not None else None
        if changed is not None:
            status = "tampered"
            try:
                _write(2, ("\nspark-eval: the program replaced %s, which the hidden checks rely on\n" % changed).encode())
            except OSError:
                pass
        _audit("spark.evidence", status)
    finish(code)


def _not_dumpable():
    """PR_SET_DUMPABLE 0: no other process of this uid (a child the program starts) may read this one's memory."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)
    except (ImportError, OSError, AttributeError):
        pass


def _read_secret():
    line = bytearray()
    while not line.endswith(b"\n") and len(line) < 256:
        chunk = os.read(0, 1)
        if not chunk:
            break
        line += chunk
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    return [line.decode("ascii", "replace").strip()]


def main():
    _not_dumpable()
    path, mode = sys.argv[1], sys.argv[2]
    evidence_fd = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    with open(path, "rb") as f:
        source = f.read()
    run(os.path.abspath(path), source, _read_secret(), mode == "tests", evidence_fd)


if __name__ == "__main__":
    main()
