# sandboxd Python fork server (issue 17; daemon setting --python.fork-server, off by default).
#
# The agent starts this as `python3 -u -c <this source> sandboxd-forkserver <fd> <preload>`
# with the environment of a plain Python run (minus the per-run capture variables), in its
# own session. It imports the preload list, says hello on the socket <fd>, then serves
# requests: one JSON message (argv, env, cwd, capture hook) with the run's three pipe ends
# (SCM_RIGHTS). For each it forks; that child forks the run and exits at once, so the run
# is re-parented to the agent (a child subreaper) and is the agent's direct child, as a
# spawned run is. The reply carries the run's pid, sent after the intermediate child exited.
# The run then becomes a fresh `python3 -u FILE ARGS...`: its own session, stdio, env, cwd,
# argv, __main__, and a fresh interpreter's end (SystemExit codes, thread joins, atexit,
# open files flushed) without its teardown.
# Known differences from a fresh interpreter: the hash seed is the server's, and what the
# preload list imported is already in sys.modules (imported with the server's environment).
import io
import json
import os
import signal
import socket
import struct
import sys

_SOCK = socket.socket(fileno=int(sys.argv[1]))
_PRELOAD = [m for m in (sys.argv[2] if len(sys.argv) > 2 else "").split(",") if m]
_LEN = struct.Struct(">I")


def _set_oom_score():
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")
    except OSError:
        pass


def _recv_exact(n):
    b = b""
    while len(b) < n:
        c = _SOCK.recv(n - len(b))
        if not c:
            raise EOFError
        b += c
    return b


def _send(obj):
    data = json.dumps(obj).encode()
    _SOCK.sendall(_LEN.pack(len(data)) + data)


def _recv_request():
    """One request: >I length and JSON, the three fds with its first byte."""
    fds = []
    head = b""
    while len(head) < 4:
        msg, anc, _flags, _addr = _SOCK.recvmsg(4 - len(head), socket.CMSG_SPACE(3 * 4))
        if not msg:
            raise EOFError
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.extend(struct.unpack("%di" % (len(data) // 4), data[: len(data) - len(data) % 4]))
        head += msg
    (n,) = _LEN.unpack(head)
    return json.loads(_recv_exact(n)), fds


def _site_dirs():
    import site

    dirs = []
    try:
        dirs.extend(site.getsitepackages())
    except Exception:
        pass
    try:
        dirs.append(site.getusersitepackages())
    except Exception:
        pass
    return dirs


def _mtimes(dirs):
    out = []
    for d in dirs:
        try:
            out.append(os.stat(d).st_mtime_ns)
        except OSError:
            out.append(None)
    return out


def _serve():
    """Returns (in the run's process only) the request it is to run; never in the server."""
    # The site directories as `site` just saw them, before anything else happens: a library
    # installed from here on changes one of these mtimes, and the agent restarts the server.
    site_dirs = _site_dirs()
    site_mtimes = _mtimes(site_dirs)
    sys.path[:] = [p for p in sys.path if p]  # -c put the server's cwd first: not the run's
    for name in _PRELOAD:
        try:
            __import__(name)
        except BaseException:
            pass
    import gc

    gc.collect()
    gc.freeze()  # the server's objects: never walked by a run's collector (nor copied for it)
    _send({"hello": True, "pid": os.getpid(), "executable": sys.executable, "site_dirs": site_dirs, "site_mtimes": site_mtimes})
    while True:
        try:
            req, fds = _recv_request()
        except EOFError:
            os._exit(0)
        if len(fds) != 3:
            for fd in fds:
                os.close(fd)
            _send({"error": "expected 3 fds, got %d" % len(fds)})
            continue
        r, w = os.pipe()
        try:
            mid = os.fork()
        except OSError as e:
            for fd in fds + [r, w]:
                os.close(fd)
            _send({"error": "fork: %s" % e})
            continue
        if mid == 0:
            try:
                os.close(r)
                pid = os.fork()
                if pid != 0:
                    os.write(w, b"%d" % pid)
            except BaseException:
                os._exit(1)
            if pid != 0:
                os._exit(0)
            os.close(w)
            return req, fds
        os.close(w)
        for fd in fds:
            os.close(fd)
        data = b""
        while True:
            c = os.read(r, 64)
            if not c:
                break
            data += c
        os.close(r)
        os.waitpid(mid, 0)  # the run is the agent's child from here on
        _send({"pid": int(data)} if data else {"error": "the run's process was not forked"})


def _become_run(req, fds):
    os.setsid()
    for target, fd in enumerate(fds):
        if fd != target:
            os.dup2(fd, target)  # dup2 clears close-on-exec: the run's children inherit 0, 1, 2
    for fd in fds:
        if fd > 2:
            os.close(fd)
    _SOCK.close()
    # Signals as a fresh interpreter has them (Python ignores SIGPIPE and SIGXFSZ itself).
    for sig in range(1, signal.NSIG):
        if sig in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            if sig == signal.SIGINT:
                signal.signal(sig, signal.default_int_handler)
            elif sig in (signal.SIGPIPE, getattr(signal, "SIGXFSZ", -1)):
                signal.signal(sig, signal.SIG_IGN)
            else:
                signal.signal(sig, signal.SIG_DFL)
        except (OSError, ValueError, RuntimeError):
            pass
    argv = req["argv"]
    env = req["env"]
    os.environ.clear()
    os.environ.update(env)
    if req.get("cwd"):
        os.chdir(req["cwd"])
    # Fresh stdio on the run's fds, built as CPython does for `python3 -u`.
    enc, errs = sys.stdout.encoding, sys.stdout.errors
    sys.stdin = sys.__stdin__ = io.TextIOWrapper(
        io.BufferedReader(io.FileIO(0, "r", closefd=False)), encoding=sys.stdin.encoding, errors=sys.stdin.errors, newline=None, line_buffering=False
    )
    sys.stdout = sys.__stdout__ = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding=enc, errors=errs, newline="\n", write_through=True)
    sys.stderr = sys.__stderr__ = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding=enc, errors="backslashreplace", newline="\n", write_through=True)
    for s, name in ((sys.stdin, "<stdin>"), (sys.stdout, "<stdout>"), (sys.stderr, "<stderr>")):
        try:
            s.buffer.name = name if not isinstance(s.buffer, io.FileIO) else s.buffer.name
        except (AttributeError, TypeError):
            pass
    path = argv[2]
    sys.argv = list(argv[2:])
    if hasattr(sys, "orig_argv"):
        sys.orig_argv = list(argv)
    sys.path.insert(0, os.path.dirname(os.path.realpath(path)))
    hook = req.get("hook")
    if hook:
        # What `site` does in a plain run: the capture hook as `sitecustomize`, with the run's
        # environment. Whatever it chains to (the image's own) the server already ran: an
        # empty sys.path while it runs keeps it from running twice.
        import types

        real = sys.path
        sys.path = []
        try:
            mod = types.ModuleType("sitecustomize")
            mod.__file__ = hook
            sys.modules["sitecustomize"] = mod
            with open(hook, "rb") as f:
                exec(compile(f.read(), hook, "exec"), mod.__dict__)
        except Exception:
            pass
        finally:
            sys.path = real
    try:
        import importlib

        importlib.invalidate_caches()
    except Exception:
        pass
    if "numpy.random" in sys.modules:
        try:
            sys.modules["numpy.random"].seed()
        except Exception:
            pass
    import random

    random.seed()
    import types
    from importlib.machinery import SourceFileLoader

    main = types.ModuleType("__main__")
    main.__file__ = path
    main.__cached__ = None
    main.__loader__ = SourceFileLoader("__main__", path)
    main.__builtins__ = __builtins__
    sys.modules["__main__"] = main
    with open(path, "rb") as f:
        source = f.read()
    return compile(source, path, "exec", dont_inherit=True), main.__dict__


def _flush_files():
    """Flushes the files the run opened and left open (a fresh interpreter's teardown would,
    when it collects them): gc.freeze() in the server keeps its own objects out of this."""
    import gc

    for o in gc.get_objects():
        if isinstance(o, io.IOBase):
            try:
                if not o.closed and o.writable():
                    o.flush()
            except Exception:
                pass


def _finish(code, sig=0):
    """The end of a fresh interpreter, without its teardown (which, with a big preload, walks
    and so copies every page the run shares with the server): non-daemon threads joined,
    atexit handlers run, files and stdio flushed; then the exit status, or death by `sig`."""
    threading = sys.modules.get("threading")
    if threading is not None:
        try:
            threading._shutdown()
        except BaseException:
            pass
    try:
        import atexit

        atexit._run_exitfuncs()
    except BaseException:
        pass
    _flush_files()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    if sig:
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    os._exit(code)


def _exit_code(e):
    """SystemExit's status as CPython computes it (None: 0, an int, anything else printed: 1)."""
    code = e.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    try:
        sys.stderr.write(str(code) + "\n")
    except Exception:
        pass
    return 1


_set_oom_score()
_job = _serve()
_code, _globals = _become_run(*_job)
del _job
try:
    exec(_code, _globals)
except SystemExit as _e:
    _finish(_exit_code(_e))
except BaseException as _e:
    _tb = _e.__traceback__.tb_next if _e.__traceback__ is not None else None  # this module's frame is not the run's
    _e.__traceback__ = _tb  # the default hook prints the exception's own traceback
    try:
        sys.excepthook(type(_e), _e, _tb)
    except BaseException:
        pass
    # CPython ends an uncaught KeyboardInterrupt by dying of SIGINT.
    _finish(1, signal.SIGINT if isinstance(_e, KeyboardInterrupt) else 0)
_finish(0)
