# sandboxd in-sandbox agent.
#
# The daemon starts this once per sandbox over one long-lived engine exec and sends its
# source on stdin (so nothing has to be copied into a read-only root). After that, stdin and
# stdout carry frames: >I length (of everything after it), >B kind, >I channel, payload.
# Each run is a child process group; the agent streams its output, applies its deadline,
# delivers signals and stdin, and reports how it ended. Stdlib only, Python 3.7+.
#
# No process outlives its run. The agent is a child subreaper, so whatever a run's processes
# orphan (a double fork, `setsid cmd &`, start_new_session) is re-parented to the agent, not
# to PID 1; the agent keeps each run's set of processes (the /proc ppid tree under its
# leader, rescanned on SIGCHLD, on a timer and before every kill) and kills the whole set
# when the run ends for any reason (exit, deadline, cancel, kill, the daemon going away).
#
# Flow control: a run started with a credit window sends at most that many output bytes the
# daemon has not acknowledged (K_CREDIT); at the window its pipes are no longer read, so the
# program blocks on write as on a terminal, while the other runs' output keeps flowing.
import errno
import fcntl
import heapq
import json
import os
import selectors
import signal
import socket
import struct
import subprocess
import sys
import time

from sandboxd_procfs import boot_ticks, kill_all, proc_stat, process_table  # sent along (src/runtime/python-modules.ts)

try:
    from sandboxd_forkserver_source import SOURCE as FORK_SERVER_SOURCE  # sent along (src/runtime/python-modules.ts)
except ImportError:  # an agent started without it: runs are always spawned
    FORK_SERVER_SOURCE = None

try:
    import termios
except ImportError:  # a Python built without it: no terminals (K_START with "pty" fails its run)
    termios = None

try:
    import ctypes
except ImportError:  # a Python built without ctypes: no subreaper, process groups only
    ctypes = None

VERSION = 1

# Frame kinds: the numbers of src/runtime/frame-kinds.json ("agent"), checked by
# src/runtime/frame-kinds.test.ts.
# daemon -> agent
K_START = 1
K_STDIN = 2
K_STDIN_CLOSE = 3
K_SIGNAL = 4
K_KILL = 5
K_REQUEST = 6
K_CREDIT = 7  # >I bytes of a run's output (or file read) the daemon consumed: the agent may send that many more
K_FILE_OPEN = 8  # {"path", "mode"}: a file write starts; K_FILE_DATA frames follow, then K_FILE_CLOSE
K_FILE_DATA = 9  # raw bytes of the file being written on this channel
K_FILE_CLOSE = 10  # the write is complete: K_RESULT answers
K_FILE_READ = 11  # {"path", "max_bytes", "credit_window"}: K_FILE_CHUNK frames, then K_RESULT
K_RESIZE = 13  # >HH rows, cols of a terminal run (one started with "pty"): TIOCSWINSZ, SIGWINCH follows
K_USAGE = 12  # {"paths"}: the sandbox's usage (its cgroup, seen from inside): one K_USAGE_SAMPLE answers
# agent -> daemon
K_HELLO = 16
K_STARTED = 17
K_STDOUT = 18
K_STDERR = 19
K_EXIT = 20
K_RESULT = 21
K_LOG = 22
K_FILE_CHUNK = 23  # raw bytes of a file being read on this channel
K_STDIN_CREDIT = 24  # >I bytes of a run's K_STDIN the agent is done with (written to its pipe, or dropped)
K_CAPTURED = 25  # {"name", "format", "width", "height", "dpi", "size"}: a plot the run's capture hook wrote
K_USAGE_SAMPLE = 26  # {"memory_bytes", "memory_peak_bytes", "cpu_usec", "processes", "paths", ...}
K_FILE_EVENT = 27  # {"type", "path", "old_path", "dir"}: a change under a watched path (K_REQUEST op "watch")

HEADER = struct.Struct(">IBI")
# Process groups of live runs, one empty file each: a restarted agent kills what a dead
# one left running (orphans would otherwise outlive the runs that owned them).
STATE_DIR = os.environ.pop("SANDBOXD_AGENT_STATE_DIR", "/tmp/.sandboxd")
PGROUP_DIR = os.path.join(STATE_DIR, "pgroups")
# The daemon's run ids of live runs, one empty file each. A run whose agent went away with
# the daemon (its channel closed) stays recorded, so that the agent a restarted daemon
# starts can say which runs were lost.
RUNS_DIR = os.path.join(STATE_DIR, "runs")
RUN_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
READ_CHUNK = 65536
# A run's output pipes hold this much (F_SETPIPE_SZ; the default is 64 KiB) and the agent reads
# up to this much at once: a program that writes faster than its output is sent fills the pipe,
# and each read then carries a larger chunk (fewer frames, events and gRPC messages per MiB).
# The kernel counts pipe pages per user (fs.pipe-user-pages-soft, 64 MiB by default): refused
# above it, and then the pipe keeps its default size.
OUTPUT_PIPE_BYTES = 262144
DRAIN_GRACE = 0.2  # seconds to wait for pipes after the leader exits
SCAN_EVERY = 0.5  # seconds between rescans of the process table while runs are live
SCAN_MIN_GAP = 0.02  # a burst of SIGCHLDs rescans at most this often
PR_SET_CHILD_SUBREAPER = 36
# Live plots: a run started with a capture_dir has its capture hook's manifest (one line per
# plot written, see src/artifacts/capture/python/sitecustomize.py) watched while it lives.
CAPTURE_POLL = 0.05  # seconds between looks at the manifests when inotify is not available
CAPTURE_MAX_PLOTS = 1000  # plots announced per run at most (the daemon's limit too)
CAPTURE_MAX_LINE = 4096  # a longer manifest line is not the hook's: skipped
IN_CLOSE_WRITE = 0x08
IN_MOVED_TO = 0x80
# File watching (WatchFiles): K_REQUEST {"op": "watch", "path", "recursive"} on a channel
# answers K_RESULT, then K_FILE_EVENT frames on it until K_KILL on that channel.
IN_MOVED_FROM = 0x40
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_DELETE_SELF = 0x400
IN_MOVE_SELF = 0x800
IN_Q_OVERFLOW = 0x4000
IN_IGNORED = 0x8000
IN_ISDIR = 0x40000000
WATCH_MASK = IN_CREATE | IN_CLOSE_WRITE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF
WATCH_MAX_DIRS = 1000  # directories one watch follows at most; more: an "overflow" event
WATCH_MAX = 16  # watches of one agent at most (each is an inotify instance)
INOTIFY_EVENT = struct.Struct("iIII")

SIGNALS = {
    "SIGINT": signal.SIGINT,
    "SIGTERM": signal.SIGTERM,
    "SIGKILL": signal.SIGKILL,
    "SIGHUP": signal.SIGHUP,
    "SIGUSR1": signal.SIGUSR1,
    "SIGUSR2": signal.SIGUSR2,
    "SIGQUIT": signal.SIGQUIT,
    "SIGSTOP": signal.SIGSTOP,
    "SIGCONT": signal.SIGCONT,
}


def set_nonblocking(fd):
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_NONBLOCK)


_file_counter = [0]


def next_file_number():
    """A number unique within this agent, for names of files being written."""
    _file_counter[0] += 1
    return _file_counter[0]


def write_all(fd, data):
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except InterruptedError:
            continue
        view = view[n:]


def close_quietly(fd):
    """Closes fd; one already closed (or never valid) is no error here."""
    try:
        os.close(fd)
    except OSError:
        pass


def send(kind, channel, payload=b""):
    write_all(1, HEADER.pack(len(payload) + 5, kind, channel) + payload)


def send_json(kind, channel, obj):
    send(kind, channel, json.dumps(obj, separators=(",", ":")).encode())


def take_fd(f):
    """A duplicate of a file object's fd, owned by the caller; the file object is closed."""
    fd = os.dup(f.fileno())
    f.close()
    return fd


def mark_pgroup(pgid):
    try:
        os.makedirs(PGROUP_DIR, exist_ok=True)
        os.close(os.open(os.path.join(PGROUP_DIR, str(pgid)), os.O_WRONLY | os.O_CREAT, 0o600))
    except OSError:
        pass


def unmark_pgroup(pgid):
    try:
        os.unlink(os.path.join(PGROUP_DIR, str(pgid)))
    except OSError:
        pass


def mark_escapee(pid, start):
    """Records a run process outside its run's process group (it called setsid), so that a
    restarted agent can kill it if this one dies without doing so."""
    mark_pgroup("%d.%d" % (pid, start))


def kill_orphaned_pgroups():
    try:
        names = os.listdir(PGROUP_DIR)
    except OSError:
        return 0
    killed = 0
    for name in names:
        if name.isdigit() and int(name) != os.getpgrp():
            try:
                os.killpg(int(name), signal.SIGKILL)
                killed += 1
            except OSError:
                pass
        elif "." in name:
            # One process (pid.start time): killed only if it is still that process.
            pid, _, start = name.partition(".")
            st = proc_stat(int(pid)) if pid.isdigit() else None
            if st is not None and start.isdigit() and st[4] == int(start) and int(pid) != os.getpid():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                    killed += 1
                except OSError:
                    pass
        unmark_pgroup(name)
    return killed


def valid_run_id(run_id):
    return isinstance(run_id, str) and 0 < len(run_id) <= 64 and set(run_id) <= RUN_ID_CHARS


def record_run(run_id):
    try:
        os.makedirs(RUNS_DIR, exist_ok=True)
        os.close(os.open(os.path.join(RUNS_DIR, run_id), os.O_WRONLY | os.O_CREAT, 0o600))
    except OSError:
        pass


def unrecord_run(run_id):
    try:
        os.unlink(os.path.join(RUNS_DIR, run_id))
    except OSError:
        pass


def take_lost_runs():
    """Run ids a previous agent left recorded: runs that ended with their daemon's channel."""
    try:
        names = os.listdir(RUNS_DIR)
    except OSError:
        return []
    for name in names:
        unrecord_run(name)
    return sorted(n for n in names if valid_run_id(n))


def set_subreaper():
    """Makes the agent the reaper of its runs' orphans; False where the kernel says no."""
    if ctypes is None:
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def descendant_table(root):
    """Like process_table, for the processes below `root` only, found through the kernel's
    per-thread children lists (much cheaper when root has few descendants among many
    processes). None when the kernel has no such lists."""
    table = {}
    stack = [root]
    while stack:
        pid = stack.pop()
        try:
            tids = os.listdir("/proc/%d/task" % pid)
        except OSError:
            if pid == root:
                return None
            continue
        for tid in tids:
            try:
                with open("/proc/%d/task/%s/children" % (pid, tid), "rb") as f:
                    kids = f.read().split()
            except FileNotFoundError:
                if pid == root:
                    return None
                continue
            except OSError:
                continue
            for k in kids:
                c = int(k)
                if c in table:
                    continue
                st = proc_stat(c)
                if st is not None:
                    table[c] = st
                    stack.append(c)
    return table


def pipe_links(pid):
    """The pipes a process holds open ("pipe:[inode]"), best effort."""
    out = set()
    base = "/proc/%d/fd" % pid
    try:
        names = os.listdir(base)
    except OSError:
        return out
    for name in names:
        try:
            link = os.readlink(os.path.join(base, name))
        except OSError:
            continue
        if link.startswith("pipe:"):
            out.add(link)
    return out


def raise_oom_score():
    """In the child before exec: the kernel's OOM killer picks a run's processes before the
    agent (their children inherit it). Set here, not after the spawn, so that the program
    never runs a moment with the agent's score."""
    try:
        fd = os.open("/proc/self/oom_score_adj", os.O_WRONLY)
        try:
            os.write(fd, b"1000")
        finally:
            os.close(fd)
    except OSError:
        pass


OOM_SCORE_FILE = "/proc/self/oom_score_adj"
# The agent's own OOM score, and whether it may raise it around a spawn and lower it back
# (allowed down to the lowest value it ever had): decided once, on the first spawn.
_own_oom_score = None
_toggle_oom = None
_home_fd = None  # the agent's working directory, restored after a spawn with its own cwd


def _write_oom_score(value):
    fd = os.open(OOM_SCORE_FILE, os.O_WRONLY)
    try:
        os.write(fd, value)
    finally:
        os.close(fd)


def _find_program(name, env):
    """The path execvpe would run for `name` with the run's own PATH (not the agent's)."""
    if "/" in name:
        return name
    denied = None
    for d in os.get_exec_path(env):
        path = os.path.join(d, name)
        if os.path.isfile(path):
            if os.access(path, os.X_OK):
                return path
            denied = path
    if denied is not None:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), denied)
    raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), name)


def _can_toggle_oom():
    """Whether the agent may raise its own OOM score and lower it back (decided once)."""
    global _own_oom_score, _toggle_oom
    if _toggle_oom is None:
        try:
            with open(OOM_SCORE_FILE, "rb") as f:
                _own_oom_score = f.read().strip() or b"0"
            _write_oom_score(b"1000")
            _write_oom_score(_own_oom_score)
            _toggle_oom = True
        except OSError:
            _toggle_oom = False
    return _toggle_oom


def _run_pipes(stdin_pipe):
    """A run's stdio: the child's ends for its fds 0, 1, 2 (stdin /dev/null without a pipe),
    and the agent's ends (stdin_fd or None, stdout_fd, stderr_fd)."""
    if stdin_pipe:
        stdin_r, stdin_w = os.pipe()
    else:
        stdin_r, stdin_w = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC), None
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    for fd in (out_r, err_r):
        try:
            fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), OUTPUT_PIPE_BYTES)
        except OSError:
            pass
    return (stdin_r, out_w, err_w), (stdin_w, out_r, err_r)


def _close_all(fds):
    for fd in fds:
        if fd is not None:
            close_quietly(fd)


def spawn(argv, cwd, env, stdin_pipe):
    """Starts a run's leader in its own session with its own pipes; returns (pid, stdin_fd
    or None, stdout_fd, stderr_fd), the fds the agent's. posix_spawn (vfork and exec in the
    C library) where this Python has it: no copy of the agent's memory and no Python code in
    the child, which subprocess's preexec_fn forces (measured: several times the cost). The
    child's OOM score is the run's (raise_oom_score) from its first instruction on all the
    same: the agent raises its own score for the spawn and lowers it back, which the kernel
    allows (down to the lowest value the agent ever had). Every fd the agent opens is
    close-on-exec (PEP 446), so the child gets its three pipes and nothing else."""
    global _home_fd
    if not hasattr(os, "posix_spawn") or sys.version_info < (3, 8) or not _can_toggle_oom():
        return _popen(argv, cwd, env, stdin_pipe)
    env = dict(os.environ) if env is None else env
    program = _find_program(argv[0], env)
    child, mine = _run_pipes(stdin_pipe)
    raised = False
    try:
        if cwd is not None:
            if _home_fd is None:
                _home_fd = os.open(".", os.O_RDONLY | os.O_CLOEXEC)
            os.chdir(cwd)  # the agent is single-threaded: nothing else runs until fchdir back
        _write_oom_score(b"1000")
        raised = True
        pid = os.posix_spawn(
            program,
            list(argv),
            env,
            file_actions=[(os.POSIX_SPAWN_DUP2, fd, n) for n, fd in enumerate(child)],
            setsid=True,
            setsigdef=(signal.SIGPIPE, signal.SIGXFSZ),
        )
    except BaseException:
        _close_all(mine)
        raise
    finally:
        if raised:
            try:
                _write_oom_score(_own_oom_score)
            except OSError:
                pass
        if cwd is not None and _home_fd is not None:
            os.fchdir(_home_fd)
        _close_all(child)
    return (pid,) + mine


def _popen(argv, cwd, env, stdin_pipe):
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.PIPE if stdin_pipe else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        close_fds=True,
        bufsize=0,
        preexec_fn=raise_oom_score,
    )
    # The agent closes these fds itself (os.close) and reaps the process itself. Popen's file
    # objects would close the same numbers again when collected, possibly much later (the
    # cyclic GC runs at any allocation), when they may be another run's pipes; a Popen with
    # no return code would be polled (and reaped) by subprocess's own clean-up.
    fds = (take_fd(proc.stdin) if proc.stdin is not None else None, take_fd(proc.stdout), take_fd(proc.stderr))
    proc.stdin = proc.stdout = proc.stderr = None
    proc.returncode = 0
    return (proc.pid,) + fds



# -- terminals: a run started with "pty" {rows, cols} gets a pseudo-terminal ------------
PTY_MAX_SIDE = 1000


def set_winsize(fd, rows, cols):
    rows = max(1, min(PTY_MAX_SIDE, int(rows or 24)))
    cols = max(1, min(PTY_MAX_SIDE, int(cols or 80)))
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def _take_terminal():
    """In the child, after setsid and the dup2s: the terminal on fd 0 becomes the session's
    controlling terminal (the program is its session leader, its foreground job)."""
    raise_oom_score()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def spawn_pty(argv, cwd, env, pty):
    """Starts a run's leader on a new pseudo-terminal: its own session with the terminal's
    slave as stdin, stdout, stderr and controlling terminal. Returns (pid, input fd, output
    fd, None): both of the agent's fds are the master (two descriptors of it, closed apart).
    Forked, not posix_spawned: taking a controlling terminal needs code in the child."""
    if termios is None:
        raise OSError(errno.ENOTTY, "this Python has no termios: no terminals")
    env = dict(os.environ) if env is None else env
    program = _find_program(argv[0], env)
    master, slave = os.openpty()
    try:
        set_winsize(master, pty.get("rows"), pty.get("cols"))
        proc = subprocess.Popen(
            list(argv),
            executable=program,
            cwd=cwd,
            env=env,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
            close_fds=True,
            bufsize=0,
            preexec_fn=_take_terminal,
        )
    except BaseException:
        close_quietly(master)
        raise
    finally:
        close_quietly(slave)
    proc.returncode = 0  # reaped by the agent's waitpid loop, never by subprocess
    return proc.pid, os.dup(master), master, None


# -- the Python fork server (a run's spec has "fork_server" when the daemon has it on) ----
FORK_REPLY_TIMEOUT = 10.0  # seconds the server may take to fork a run before it is given up
# Environment variables that shape a Python start-up (sys.path, user site, hash seed, stdio
# encoding): a run whose values differ from the server's is spawned.
def _startup_env(env):
    return {k: v for k, v in env.items() if k.startswith("PYTHON") or k.startswith("LC_") or k in ("LANG", "HOME")}


def _capture_hook(env):
    """(hook file, env without the capture variables) when the run has the plot capture hook
    (a sitecustomize first on PYTHONPATH, SANDBOXD_CAPTURE_DIR set), else (None, env)."""
    if "SANDBOXD_CAPTURE_DIR" not in env:
        return None, env
    parts = env.get("PYTHONPATH", "").split(os.pathsep)
    hook = os.path.join(parts[0], "sitecustomize.py") if parts and parts[0] else ""
    if not hook or not os.path.isfile(hook):
        return None, env
    base = dict(env)
    del base["SANDBOXD_CAPTURE_DIR"]
    rest = [p for p in parts[1:] if p]
    if rest:
        base["PYTHONPATH"] = os.pathsep.join(rest)
    else:
        base.pop("PYTHONPATH", None)
    return hook, base


def _mtimes(dirs):
    out = []
    for d in dirs:
        try:
            out.append(os.stat(d).st_mtime_ns)
        except OSError:
            out.append(None)
    return out


class ForkServer:
    """One server process (src/agent/sandboxd_forkserver.py), started without waiting for it:
    runs are spawned until its hello arrived."""

    def __init__(self, program, env, preload):
        self.program = program
        self.key = _startup_env(env)
        self.preload = tuple(preload)
        self.ready = False
        self.dead = False
        self.site_dirs = []
        self.site_mtimes = []
        self.buf = b""
        # Only what shapes the start-up (equal for every run it forks) and PATH: the server's
        # initial environment stays readable in /proc/<pid>/environ of every run it forks, so
        # it must hold nothing of the run that happened to start it.
        env = dict(self.key, PATH=env.get("PATH", os.defpath))
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            proc = subprocess.Popen(
                [program, "-u", "-c", FORK_SERVER_SOURCE, str(theirs.fileno()), ",".join(self.preload)],
                env=env,
                cwd="/",
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                close_fds=True,
                pass_fds=(theirs.fileno(),),
            )
        finally:
            theirs.close()
        proc.returncode = 0  # reaped by the agent's waitpid loop, never by subprocess
        self.pid = proc.pid
        self.sock = mine
        mark_pgroup(self.pid)

    def fits(self, program, env, preload):
        return not self.dead and program == self.program and _startup_env(env) == self.key and tuple(preload) == self.preload

    def _message(self, block):
        """The next JSON message, or None when none is complete (block=False)."""
        self.sock.settimeout(FORK_REPLY_TIMEOUT if block else 0.0)
        while True:
            if len(self.buf) >= 4:
                (n,) = struct.unpack_from(">I", self.buf, 0)
                if len(self.buf) >= 4 + n:
                    msg = json.loads(self.buf[4 : 4 + n])
                    self.buf = self.buf[4 + n :]
                    return msg
            try:
                c = self.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                if not block:
                    return None
                continue
            if not c:
                raise EOFError("the fork server closed its socket")
            self.buf += c

    def poll_ready(self):
        if not self.ready and not self.dead:
            try:
                hello = self._message(False)
            except (OSError, ValueError, EOFError):
                self.stop()
                return False
            if hello is not None:
                self.site_dirs = list(hello.get("site_dirs") or [])
                # As the server saw them at its start (a later stat here would miss what was
                # installed while it started).
                self.site_mtimes = list(hello.get("site_mtimes") or [])
                self.ready = True
        return self.ready

    def stale(self):
        """A library was installed (or removed) since the server started."""
        return _mtimes(self.site_dirs) != self.site_mtimes

    def fork(self, argv, cwd, env, hook, fds):
        req = json.dumps({"argv": list(argv), "env": env, "cwd": cwd, "hook": hook}).encode()
        data = struct.pack(">I", len(req)) + req
        self.sock.settimeout(FORK_REPLY_TIMEOUT)
        self.sock.sendmsg([data[:1]], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("3i", *fds))])
        self.sock.sendall(data[1:])
        reply = self._message(True)
        if "pid" not in reply:
            raise OSError(errno.EIO, reply.get("error") or "the fork server refused the run")
        return int(reply["pid"])

    def stop(self):
        if not self.dead:
            self.dead = True
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except OSError:
                pass
            unmark_pgroup(str(self.pid))
            self.sock.close()


_fork_server = [None]
_subreaper = [False]  # forked runs must be re-parented to the agent: only with a subreaper


def fork_server_pid():
    fs = _fork_server[0]
    return fs.pid if fs is not None else None


def forked(argv, cwd, env, stdin_pipe, options):
    """Starts the run through the fork server when it is eligible and the server is ready;
    same result as spawn(). None: spawn it (not eligible, server not ready, or failing)."""
    if FORK_SERVER_SOURCE is None or not _subreaper[0] or len(argv) < 3 or argv[1] != "-u" or argv[2].startswith("-"):
        return None
    if os.path.basename(argv[0]) not in ("python3", "python"):
        return None
    env = dict(os.environ) if env is None else env
    try:
        program = os.path.realpath(_find_program(argv[0], env))
    except OSError:
        return None
    hook, base = _capture_hook(env)
    if "SANDBOXD_CAPTURE_DIR" in base:
        return None  # capture variables without the hook: whatever this is, start it fresh
    preload = [m for m in (options.get("preload") or []) if isinstance(m, str) and m]
    fs = _fork_server[0]
    if fs is not None and fs.poll_ready() and fs.stale():
        fs.stop()  # a library was installed since it started: a new one sees it
    if fs is not None and fs.dead:
        fs = _fork_server[0] = None
    if fs is None:
        try:
            _fork_server[0] = ForkServer(program, base, preload)
        except OSError:
            pass
        return None
    if not fs.ready or not fs.fits(program, base, preload):
        return None
    child, mine = _run_pipes(stdin_pipe)
    try:
        pid = fs.fork(argv, cwd, env, hook, child)
    except Exception:
        fs.stop()
        _close_all(mine)
        return None
    finally:
        _close_all(child)
    return (pid,) + mine


def oom_kill_count():
    # cgroup v2 first, then v1; the container sees its own cgroup at these paths.
    for path, key in (
        ("/sys/fs/cgroup/memory.events", "oom_kill"),
        ("/sys/fs/cgroup/memory/memory.oom_control", "oom_kill"),
    ):
        try:
            with open(path) as f:
                for line in f:
                    parts = line.split()
                    if len(parts) == 2 and parts[0] == key:
                        return int(parts[1])
        except OSError:
            continue
    return None


# -- usage: the sandbox's cgroup read from inside, the same on every engine -----------------
CGROUP_ROOT = "/sys/fs/cgroup"
DU_MAX_ENTRIES = 100000  # a writable path that is not a mount of its own is walked at most this far


def read_number(path):
    try:
        with open(path) as f:
            text = f.read().strip()
    except (OSError, ValueError):
        return None
    if text == "max":
        return 0
    try:
        return int(text)
    except ValueError:
        return None


def read_keyed(path, key):
    try:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 2 and parts[0] == key:
                    return int(parts[1])
    except (OSError, ValueError):
        pass
    return None


def cgroup_v2_dir():
    """The directory of this process's cgroup (v2), or None where there is none."""
    if os.path.exists(os.path.join(CGROUP_ROOT, "memory.current")):
        return CGROUP_ROOT  # a cgroup namespace: the root is the container's own cgroup
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                if line.startswith("0::"):
                    d = os.path.join(CGROUP_ROOT, line[3:].strip().lstrip("/"))
                    if os.path.exists(os.path.join(d, "memory.current")):
                        return d
    except OSError:
        pass
    return None


def proc_cpu_usec():
    """CPU time of the processes in this PID namespace, live ones and the ones they reaped
    (utime + stime + cutime + cstime of each): where the cgroup's CPU accounting is not
    visible. Processes reaped by a parent that was itself reaped count in that one's."""
    tick = os.sysconf("SC_CLK_TCK") or 100
    total = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name, "rb") as f:
                data = f.read()
        except OSError:
            continue
        fields = data[data.rfind(b")") + 2 :].split()
        try:
            total += sum(int(x) for x in fields[11:15])
        except (ValueError, IndexError):
            continue
    return total * 1000000 // tick


def proc_count():
    n = 0
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                n += len(os.listdir("/proc/%s/task" % name))
            except OSError:
                pass
    return n


def cgroup_usage():
    """Memory, CPU and process count of the sandbox's cgroup: v2 files, else v1's; None for
    what neither shows."""
    out = {"memory_bytes": None, "memory_peak_bytes": None, "memory_limit_bytes": None, "cpu_usec": None, "processes": None, "processes_limit": None, "source": "none"}
    d = cgroup_v2_dir()
    if d is not None:
        out["source"] = "cgroup2"
        out["memory_bytes"] = read_number(os.path.join(d, "memory.current"))
        out["memory_peak_bytes"] = read_number(os.path.join(d, "memory.peak"))
        out["memory_limit_bytes"] = read_number(os.path.join(d, "memory.max"))
        out["cpu_usec"] = read_keyed(os.path.join(d, "cpu.stat"), "usage_usec")
        out["processes"] = read_number(os.path.join(d, "pids.current"))
        out["processes_limit"] = read_number(os.path.join(d, "pids.max"))
    elif os.path.exists(os.path.join(CGROUP_ROOT, "memory", "memory.usage_in_bytes")):
        out["source"] = "cgroup1"
        mem = os.path.join(CGROUP_ROOT, "memory")
        out["memory_bytes"] = read_number(os.path.join(mem, "memory.usage_in_bytes"))
        out["memory_peak_bytes"] = read_number(os.path.join(mem, "memory.max_usage_in_bytes"))
        limit = read_number(os.path.join(mem, "memory.limit_in_bytes"))
        out["memory_limit_bytes"] = 0 if limit is not None and limit >= 1 << 62 else limit
        for sub in ("cpuacct", "cpu,cpuacct", "cpu"):
            ns = read_number(os.path.join(CGROUP_ROOT, sub, "cpuacct.usage"))
            if ns is not None:
                out["cpu_usec"] = ns // 1000
                break
        out["processes"] = read_number(os.path.join(CGROUP_ROOT, "pids", "pids.current"))
        out["processes_limit"] = read_number(os.path.join(CGROUP_ROOT, "pids", "pids.max"))
    if out["cpu_usec"] is None:
        out["cpu_usec"] = proc_cpu_usec()
        out["cpu_source"] = "proc"
    if out["processes"] is None:
        out["processes"] = proc_count()
    return out


def path_usage(path):
    """Bytes used under a writable path: its file system's own count when it is a mount of
    its own (a tmpfs, an emptyDir), else the blocks of its files (a bounded walk)."""
    try:
        st = os.stat(path)
        parent = os.stat(os.path.dirname(path.rstrip("/")) or "/")
    except OSError as e:
        return {"path": path, "error": str(e)}
    if st.st_dev != parent.st_dev or path == "/":
        vfs = os.statvfs(path)
        total = vfs.f_blocks * vfs.f_frsize
        return {"path": path, "used_bytes": (vfs.f_blocks - vfs.f_bfree) * vfs.f_frsize, "total_bytes": total, "mount": True}
    used, seen, entries, complete = 0, set(), 0, True
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            entries += 1
            if entries > DU_MAX_ENTRIES:
                complete = False
                break
            try:
                s = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            if s.st_dev != st.st_dev:
                continue
            if s.st_nlink > 1:
                if (s.st_dev, s.st_ino) in seen:
                    continue
                seen.add((s.st_dev, s.st_ino))
            used += s.st_blocks * 512
        if not complete:
            break
        dirs[:] = [x for x in dirs if not os.path.islink(os.path.join(root, x))]
    return {"path": path, "used_bytes": used, "total_bytes": 0, "mount": False, "complete": complete}


def usage_sample(paths):
    out = cgroup_usage()
    out["paths"] = [path_usage(str(p)) for p in paths[:16]]
    return out


class Run:
    def __init__(self, channel, spec):
        self.channel = channel
        self.max_output = int(spec.get("max_output") or 0)
        self.output_bytes = 0
        self.counts = {K_STDOUT: 0, K_STDERR: 0}
        self.truncated = False
        self.outcome = None  # "timeout" | "cancelled" set by the agent
        self.status = None  # waitpid status once the leader exited
        # Reaped with wait4: the leader's rusage (its own and its waited-for descendants'),
        # plus that of the run's orphans the agent reaped. maxrss in KiB, CPU in seconds.
        self.maxrss_kib = 0
        self.cpu_seconds = 0.0
        self.leader_exited_at = None
        self.stdin_fd = None
        self.stdin_pending = bytearray()
        self.stdin_close_pending = False
        self.fds = {}
        # Flow control: output bytes sent and not yet acknowledged, and the most allowed (0: no limit).
        self.window = int(spec.get("credit_window") or 0)
        self.unacked = 0
        self.paused = False
        self.started = time.monotonic()
        self.start_tick = boot_ticks()  # processes started before this are not the run's
        self.procs = set()  # (pid, start time) of every process seen in the run
        self.pipes = set()  # "pipe:[inode]" of its stdio pipes: held open by its processes
        self.marked = set()  # (pid, start) of processes recorded in PGROUP_DIR (they left the group)
        self.run_id = None  # the daemon's run id, recorded in RUNS_DIR while the run lives
        self.oom_before = oom_kill_count()
        timeout_ms = int(spec.get("timeout_ms") or 0)
        self.deadline = self.started + timeout_ms / 1000.0 if timeout_ms > 0 else None
        env = spec.get("env")
        if env is not None:
            merged = dict(os.environ)
            merged.update(env)
            env = merged
        argv, cwd, pipe = spec["argv"], spec.get("cwd") or None, spec.get("stdin", "none") == "pipe"
        self.pty = spec.get("pty") if isinstance(spec.get("pty"), dict) else None
        started = None
        if self.pty is not None:
            started = spawn_pty(argv, cwd, env, self.pty)
        elif spec.get("fork_server") is not None:
            started = forked(argv, cwd, env, pipe, spec["fork_server"])
        self.pid, self.stdin_fd, out_fd, err_fd = started or spawn(argv, cwd, env, pipe)
        self.forked = started is not None and self.pty is None
        mark_pgroup(self.pid)
        for fd, kind in ((out_fd, K_STDOUT), (err_fd, K_STDERR)):
            if fd is None:
                continue
            set_nonblocking(fd)
            self.fds[fd] = kind
            if self.pty is None:
                self.pipes.add("pipe:[%d]" % os.fstat(fd).st_ino)
        if self.stdin_fd is not None:
            set_nonblocking(self.stdin_fd)
            if self.pty is None:
                self.pipes.add("pipe:[%d]" % os.fstat(self.stdin_fd).st_ino)
        self.pty_fd = out_fd if self.pty is not None else None

    def resize(self, rows, cols):
        """A terminal run's new window size; the kernel sends SIGWINCH to its foreground job."""
        if self.pty_fd is not None and self.status is None and self.pty_fd in self.fds:
            set_winsize(self.pty_fd, rows, cols)

    def signal_foreground(self, sig):
        """A terminal run's signals go to its terminal's foreground job (what Ctrl-C reaches);
        other runs' to their process group."""
        pgrp = None
        if self.pty_fd is not None and self.pty_fd in self.fds:
            try:
                pgrp = os.tcgetpgrp(self.pty_fd)
            except OSError:
                pgrp = None
        if pgrp is None or pgrp <= 0:
            self.killpg(sig)
            return
        try:
            os.killpg(pgrp, sig)
        except OSError:
            self.killpg(sig)

    def killpg(self, sig):
        try:
            os.killpg(self.pid, sig)
        except OSError:
            pass


class Capture:
    """One run's plot spool: how far its manifest was read, and what was announced."""

    def __init__(self, directory):
        self.directory = directory
        self.manifest = os.path.join(directory, "manifest.tsv")
        self.offset = 0
        self.partial = b""
        self.sent = 0
        self.wd = None


class Inotify:
    """The kernel's inotify through ctypes (stdlib only); the constructor raises where there
    is none (no ctypes, a libc without it, a seccomp profile refusing it)."""

    def __init__(self):
        if ctypes is None:
            raise OSError("no ctypes")
        libc = ctypes.CDLL(None, use_errno=True)
        self._add = libc.inotify_add_watch
        self._add.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        self._rm = libc.inotify_rm_watch
        self._rm.argtypes = [ctypes.c_int, ctypes.c_int]
        fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        self.fd = fd

    def add(self, path, mask):
        wd = self._add(self.fd, os.fsencode(path), mask)
        if wd < 0:
            raise OSError(ctypes.get_errno(), "inotify_add_watch failed")
        return wd

    def remove(self, wd):
        self._rm(self.fd, wd)

    def events(self):
        """The queued events (drained) as (wd, mask, cookie, name)."""
        out = []
        while True:
            try:
                data = os.read(self.fd, 65536)
            except (BlockingIOError, InterruptedError):
                break
            if not data:
                break
            pos = 0
            while pos + INOTIFY_EVENT.size <= len(data):
                wd, mask, cookie, length = INOTIFY_EVENT.unpack_from(data, pos)
                raw = data[pos + INOTIFY_EVENT.size : pos + INOTIFY_EVENT.size + length]
                out.append((wd, mask, cookie, os.fsdecode(raw.rstrip(b"\0"))))
                pos += INOTIFY_EVENT.size + length
        return out

    def close(self):
        close_quietly(self.fd)

    def read(self):
        """The watch descriptors that have events (drains what is queued)."""
        return {wd for wd, _mask, _cookie, _name in self.events()}


class FileWatch:
    """One WatchFiles call: an inotify instance of its own, on a path (and, recursive, on
    every directory below it, at most WATCH_MAX_DIRS), its events sent on its channel."""

    def __init__(self, channel, path, recursive):
        self.channel = channel
        self.root = os.path.normpath(path)
        self.recursive = recursive
        if not os.path.isdir(self.root) and not os.path.exists(self.root):
            raise FileNotFoundError(errno.ENOENT, "no such file or directory", self.root)
        self.inotify = Inotify()
        self.dirs = {}  # wd -> path
        self.overflowed = False
        try:
            self.add(self.root)
            if recursive and os.path.isdir(self.root):
                self.add_tree(self.root)
        except BaseException:
            self.inotify.close()
            raise

    def add(self, path):
        if len(self.dirs) >= WATCH_MAX_DIRS:
            if not self.overflowed:
                self.overflowed = True
                self.send("overflow", path, message="more than %d directories: %s and what is below it are not watched" % (WATCH_MAX_DIRS, path))
            return
        try:
            wd = self.inotify.add(path, WATCH_MASK)
        except OSError:
            return  # gone meanwhile, or not readable
        self.dirs[wd] = path

    def add_tree(self, top):
        for root, dirs, _files in os.walk(top):
            for name in list(dirs):
                full = os.path.join(root, name)
                if os.path.islink(full):
                    dirs.remove(name)
                    continue
                self.add(full)

    def send(self, kind, path, old_path=None, is_dir=False, message=None):
        ev = {"type": kind, "path": path, "dir": is_dir}
        if old_path is not None:
            ev["old_path"] = old_path
        if message is not None:
            ev["message"] = message
        send_json(K_FILE_EVENT, self.channel, ev)

    def ready(self):
        moved = {}  # cookie -> (path, is_dir): a rename's first half
        for wd, mask, cookie, name in self.inotify.events():
            if mask & IN_Q_OVERFLOW:
                self.send("overflow", self.root, message="the kernel's event queue overflowed: events were lost")
                continue
            base = self.dirs.get(wd)
            if base is None:
                continue
            if mask & IN_IGNORED:
                self.dirs.pop(wd, None)
                continue
            path = os.path.join(base, name) if name else base
            is_dir = bool(mask & IN_ISDIR)
            if mask & IN_CREATE:
                self.send("create", path, is_dir=is_dir)
                if is_dir and self.recursive:
                    self.add(path)
                    self.add_tree(path)
            elif mask & IN_CLOSE_WRITE:
                self.send("write", path)
            elif mask & IN_DELETE:
                self.send("remove", path, is_dir=is_dir)
            elif mask & IN_MOVED_FROM:
                moved[cookie] = (path, is_dir)
            elif mask & IN_MOVED_TO:
                before = moved.pop(cookie, None)
                if before is not None:
                    self.send("rename", path, old_path=before[0], is_dir=is_dir)
                else:
                    self.send("create", path, is_dir=is_dir)  # moved in from outside
                if is_dir and self.recursive:
                    self.add(path)
                    self.add_tree(path)
            elif mask & (IN_DELETE_SELF | IN_MOVE_SELF) and base == self.root:
                self.send("remove", self.root, is_dir=True)
        for path, is_dir in moved.values():
            self.send("remove", path, is_dir=is_dir)  # moved out of what is watched

    def close(self):
        self.inotify.close()


class FileRead:
    """A file being sent to the daemon, at most `window` bytes ahead of its credit."""

    def __init__(self, fd, window, limit):
        self.fd = fd
        self.window = window
        self.limit = limit
        self.unacked = 0
        self.sent = 0


class Agent:
    def __init__(self):
        self.sel = selectors.DefaultSelector()
        self.runs = {}
        self.writes = {}  # channel -> fd of a file being written (or the error that stopped it)
        self.reads = {}  # channel -> FileRead
        self.fd_owner = {}  # output fd -> run
        self.inbuf = bytearray()
        self.timers = []  # (when, channel)
        self.pid = os.getpid()
        self.subreaper = set_subreaper()
        _subreaper[0] = bool(self.subreaper)
        self.children_lists = True  # /proc/<pid>/task/<tid>/children, until it is missing
        self.leaders = {}  # pid -> run, until its exit status is collected
        self.exited = []  # runs whose leader's status was collected, to finish
        self.last_scan = 0.0
        self.captures = {}  # channel -> Capture of a live run with plot capture
        self.inotify = False  # Inotify once created; None where it cannot be (then: polling)
        self.watches = {}  # channel -> FileWatch
        rfd, wfd = os.pipe()
        set_nonblocking(rfd)
        set_nonblocking(wfd)
        self.wake_r = rfd
        signal.set_wakeup_fd(wfd)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        set_nonblocking(0)
        self.sel.register(0, selectors.EVENT_READ, "stdin")
        self.sel.register(rfd, selectors.EVENT_READ, "wake")

    # -- daemon messages --------------------------------------------------------------
    def handle(self, kind, channel, payload):
        if kind == K_START:
            # >I length of the JSON spec, the spec, then the bytes of its files, in order.
            (n,) = struct.unpack_from(">I", payload, 0)
            self.start(channel, json.loads(payload[4 : 4 + n]), memoryview(payload)[4 + n :])
        elif kind == K_FILE_DATA:
            self.file_data(channel, payload)
        elif kind == K_FILE_OPEN:
            self.file_open(channel, json.loads(payload))
        elif kind == K_FILE_CLOSE:
            self.file_close(channel)
        elif kind == K_FILE_READ:
            self.file_read(channel, json.loads(payload))
        elif kind == K_STDIN:
            run = self.runs.get(channel)
            if run is not None and run.stdin_fd is not None:
                run.stdin_pending += payload
                self.flush_stdin(run)
            elif run is not None and payload:
                # Its stdin is closed: the bytes are dropped, and the daemon's window frees.
                send(K_STDIN_CREDIT, channel, struct.pack(">I", len(payload)))
        elif kind == K_STDIN_CLOSE:
            run = self.runs.get(channel)
            if run is not None and run.stdin_fd is not None:
                run.stdin_close_pending = True
                self.flush_stdin(run)
        elif kind == K_SIGNAL:
            run = self.runs.get(channel)
            sig = SIGNALS.get(payload.decode())
            if run is not None and sig is not None and run.status is None:
                run.signal_foreground(sig)
        elif kind == K_RESIZE:
            run = self.runs.get(channel)
            if run is not None and len(payload) >= 4:
                rows, cols = struct.unpack_from(">HH", payload, 0)
                run.resize(rows, cols)
        elif kind == K_KILL and channel in self.watches:
            watch = self.watches.pop(channel)
            self.unwatch(watch.inotify.fd)
            watch.close()
        elif kind == K_KILL:
            run = self.runs.get(channel)
            if run is not None:
                if run.status is None and run.outcome is None:
                    run.outcome = payload.decode() or "cancelled"
                self.kill_tree(run)
                self.release_flow(run)
        elif kind == K_REQUEST:
            self.request(channel, json.loads(payload))
        elif kind == K_USAGE:
            try:
                sample = usage_sample(json.loads(payload).get("paths") or [])
            except Exception as e:  # report, never die on one request
                sample = {"error": str(e) or type(e).__name__}
            send_json(K_USAGE_SAMPLE, channel, sample)
        elif kind == K_CREDIT:
            (n,) = struct.unpack(">I", payload)
            run = self.runs.get(channel)
            if run is not None:
                run.unacked = max(0, run.unacked - n)
                self.update_flow(run)
            reading = self.reads.get(channel)
            if reading is not None:
                reading.unacked = max(0, reading.unacked - n)
                self.pump_read(channel, reading)

    # -- files: bytes as frames of their own (no hex, no JSON around them) ---------------
    def file_open(self, channel, req):
        try:
            path = req["path"]
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            self.writes[channel] = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, int(req.get("mode", 0o644)))
        except Exception as e:  # reported at K_FILE_CLOSE; the data frames meanwhile are dropped
            self.writes[channel] = str(e) or type(e).__name__

    def file_data(self, channel, payload):
        fd = self.writes.get(channel)
        if not isinstance(fd, int):
            return
        try:
            write_all(fd, payload)
        except Exception as e:
            os.close(fd)
            self.writes[channel] = str(e) or type(e).__name__

    def file_close(self, channel):
        fd = self.writes.pop(channel, None)
        if isinstance(fd, int):
            try:
                os.close(fd)
                send_json(K_RESULT, channel, {"ok": True})
            except OSError as e:
                send_json(K_RESULT, channel, {"ok": False, "error": str(e)})
        else:
            send_json(K_RESULT, channel, {"ok": False, "error": fd or "no such write"})

    def file_read(self, channel, req):
        try:
            fd = os.open(req["path"], os.O_RDONLY | os.O_NONBLOCK)
        except FileNotFoundError as e:
            send_json(K_RESULT, channel, {"ok": False, "missing": True, "error": str(e)})
            return
        except Exception as e:
            send_json(K_RESULT, channel, {"ok": False, "error": str(e)})
            return
        try:
            st = os.fstat(fd)
            limit = int(req.get("max_bytes") or 0)
            if not (st.st_mode & 0o170000 == 0o100000):
                raise OSError("%s is not a regular file" % req["path"])
            if limit and st.st_size > limit:
                raise OSError("%s is %d bytes, more than %d" % (req["path"], st.st_size, limit))
        except Exception as e:
            os.close(fd)
            send_json(K_RESULT, channel, {"ok": False, "error": str(e)})
            return
        reading = FileRead(fd, int(req.get("credit_window") or 0), int(req.get("max_bytes") or 0))
        self.reads[channel] = reading
        self.pump_read(channel, reading)

    def pump_read(self, channel, reading):
        """Sends the file's chunks while the daemon's credit allows; Result after the last."""
        try:
            while reading.window <= 0 or reading.unacked < reading.window:
                size = READ_CHUNK * 4
                if reading.window > 0:
                    size = max(1, min(size, reading.window - reading.unacked))
                data = os.read(reading.fd, size)
                if not data:
                    break
                reading.sent += len(data)
                if reading.limit and reading.sent > reading.limit:
                    raise OSError("the file grew past %d bytes while it was read" % reading.limit)
                send(K_FILE_CHUNK, channel, data)
                if reading.window > 0:
                    reading.unacked += len(data)
            else:
                return  # waiting for credit
        except Exception as e:
            del self.reads[channel]
            os.close(reading.fd)
            send_json(K_RESULT, channel, {"ok": False, "error": str(e)})
            return
        del self.reads[channel]
        os.close(reading.fd)
        send_json(K_RESULT, channel, {"ok": True, "size": reading.sent})

    def request(self, channel, req):
        try:
            op = req.get("op")
            if op == "ping":
                send_json(K_RESULT, channel, {"ok": True, "runs": len(self.runs)})
            elif op == "watch":
                if len(self.watches) >= WATCH_MAX:
                    send_json(K_RESULT, channel, {"ok": False, "exhausted": True, "error": "more than %d file watches" % WATCH_MAX})
                    return
                try:
                    watch = FileWatch(channel, str(req["path"]), bool(req.get("recursive")))
                except FileNotFoundError as e:
                    send_json(K_RESULT, channel, {"ok": False, "missing": True, "error": str(e)})
                    return
                self.watches[channel] = watch
                self.sel.register(watch.inotify.fd, selectors.EVENT_READ, ("watch", channel))
                send_json(K_RESULT, channel, {"ok": True})
            else:
                send_json(K_RESULT, channel, {"ok": False, "error": "unknown op %r" % (op,)})
        except Exception as e:  # report, never die on one request
            send_json(K_RESULT, channel, {"ok": False, "error": str(e)})

    def write_files(self, files, blob):
        # Program files written just before the spawn: one frame instead of two round trips.
        # Their bytes follow the spec in the frame, in order, each `size` long.
        pos = 0
        for f in files:
            path = f["path"]
            size = int(f.get("size", 0))
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            # Written aside and renamed over: a run starting meanwhile (the same capture hook,
            # written for every run) reads the old file or the new one, never half of one.
            tmp = "%s.sandboxd-%d-%d" % (path, os.getpid(), next_file_number())
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, int(f.get("mode", 0o644)))
            try:
                write_all(fd, blob[pos : pos + size])
            finally:
                os.close(fd)
            try:
                os.chmod(tmp, int(f.get("mode", 0o644)))
                os.replace(tmp, path)
            except BaseException:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
                raise
            pos += size

    def start(self, channel, spec, blob=b""):
        try:
            self.write_files(spec.get("files") or (), blob)
            run = Run(channel, spec)
        except Exception as e:  # a bad spec must fail its run, never the agent
            # Same convention as a shell: 127 for not found, 126 for not executable.
            code = 127 if getattr(e, "errno", None) == errno.ENOENT else 126
            argv0 = (spec.get("argv") or ["?"])[0]
            msg = ("sandboxd: %s: %s\n" % (argv0, getattr(e, "strerror", None) or e)).encode()
            # Every run starts with a started event, even one that never got a process.
            send_json(K_STARTED, channel, {"pid": 0})
            send(K_STDERR, channel, msg)
            send_json(K_EXIT, channel, {
                "status": "exited", "code": code, "signal": 0, "duration_ms": 0,
                "stdout_bytes": 0, "stderr_bytes": len(msg), "truncated": False,
                "error": str(e),
            })
            return
        self.runs[channel] = run
        self.leaders[run.pid] = run
        if spec.get("capture_dir"):
            self.watch_capture(channel, str(spec["capture_dir"]))
        run_id = spec.get("run_id")
        if valid_run_id(run_id):
            run.run_id = run_id
            record_run(run_id)
        st = proc_stat(run.pid)
        if st is not None:
            run.procs.add((run.pid, st[4]))
        for fd in run.fds:
            self.fd_owner[fd] = run
            self.sel.register(fd, selectors.EVENT_READ, "out")
        if run.deadline is not None:
            heapq.heappush(self.timers, (run.deadline, channel))
        send_json(K_STARTED, channel, {"pid": run.pid})
        initial = spec.get("stdin_hex")
        if initial:
            run.stdin_pending += bytes.fromhex(initial)
        if spec.get("stdin_close"):
            run.stdin_close_pending = True
        if run.stdin_fd is not None:
            self.flush_stdin(run)

    def flush_stdin(self, run):
        """Writes what the run's stdin holds as far as its pipe takes it, never blocking the
        loop (the rest waits for the pipe to be writable), and gives the daemon credit for
        every byte done with: the daemon keeps at most a window of stdin unacknowledged, so
        stdin_pending stays bounded however fast it sends."""
        fd = run.stdin_fd
        if fd is None:
            return
        done = 0
        while run.stdin_pending:
            try:
                n = os.write(fd, run.stdin_pending)
            except BlockingIOError:
                break
            except OSError:  # the child closed its stdin: drop what it will never read
                done += len(run.stdin_pending)
                run.stdin_pending.clear()
                run.stdin_close_pending = True
                break
            del run.stdin_pending[:n]
            done += n
        if done:
            send(K_STDIN_CREDIT, run.channel, struct.pack(">I", done))
        registered = fd in self.sel.get_map()
        if run.stdin_pending:
            if not registered:
                self.sel.register(fd, selectors.EVENT_WRITE, "stdin-child")
            return
        if registered:
            self.sel.unregister(fd)
        if run.stdin_close_pending:
            os.close(fd)
            run.stdin_fd = None

    # -- child output and exits -------------------------------------------------------
    def update_flow(self, run):
        """Stops reading a run's pipes at its credit window and resumes below it."""
        held = run.window > 0 and run.unacked >= run.window and not self.capped(run)
        if held == run.paused:
            return
        run.paused = held
        for fd in run.fds:
            try:
                if held:
                    self.sel.unregister(fd)
                else:
                    self.sel.register(fd, selectors.EVENT_READ, "out")
            except (KeyError, ValueError):
                pass
        if not held and run.status is not None and run.outcome is None:
            # The leader exited while the output was held: the drain grace starts again now
            # that it flows (a stalled reader may hold a run until its deadline, not lose output).
            run.leader_exited_at = time.monotonic()
            heapq.heappush(self.timers, (run.leader_exited_at + DRAIN_GRACE, run.channel))

    def release_flow(self, run):
        # A killed run's output is drained whatever the credit: it ends with what its pipes hold.
        run.window = 0
        self.update_flow(run)

    @staticmethod
    def capped(run):
        # Past the output cap nothing more is sent: reading only drops, it needs no credit.
        return run.max_output > 0 and run.output_bytes >= run.max_output

    def read_output(self, fd):
        run = self.fd_owner.get(fd)
        if run is None:
            return
        if run.paused:  # selected in the same round as the read that used up the credit
            return
        kind = run.fds[fd]
        size = OUTPUT_PIPE_BYTES
        if run.window > 0 and not self.capped(run):
            size = max(1, min(OUTPUT_PIPE_BYTES, run.window - run.unacked))
        try:
            data = os.read(fd, size)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.close_output(run, fd)
            return
        self.forward(run, kind, data)

    def forward(self, run, kind, data):
        if run.channel in self.captures:
            # What the program wrote after a plot comes after the plot's announcement.
            self.check_capture(run.channel)
        if run.max_output:
            room = run.max_output - run.output_bytes
            if room <= 0:
                run.truncated = True
                return
            if len(data) > room:
                data = data[:room]
                run.truncated = True
        run.output_bytes += len(data)
        run.counts[kind] += len(data)
        send(kind, run.channel, data)
        if run.window > 0:
            run.unacked += len(data)
            self.update_flow(run)

    def close_output(self, run, fd):
        self.release_output(run, fd)
        self.maybe_finish(run)

    def release_output(self, run, fd):
        """Stops listening on one of a run's output pipes and closes it."""
        self.unwatch(fd)
        self.fd_owner.pop(fd, None)
        run.fds.pop(fd, None)
        close_quietly(fd)

    def unwatch(self, fd):
        """Stops listening on fd, if it was listened on."""
        try:
            self.sel.unregister(fd)
        except (KeyError, ValueError):
            pass

    # -- live plots ----------------------------------------------------------------------
    def watch_capture(self, channel, directory):
        """Announces the run's plots as its capture hook writes them: inotify wakes the loop
        when the manifest is written (else it looks every CAPTURE_POLL seconds), and every
        output chunk of the run is preceded by a look, so a plot is announced before what
        the program printed after it."""
        cap = Capture(directory)
        self.captures[channel] = cap
        if self.inotify is False:
            try:
                self.inotify = Inotify()
                self.sel.register(self.inotify.fd, selectors.EVENT_READ, "inotify")
            except Exception:
                self.inotify = None
        try:
            os.makedirs(directory, exist_ok=True)
            if self.inotify is not None:
                cap.wd = self.inotify.add(directory, IN_CLOSE_WRITE | IN_MOVED_TO)
        except Exception:
            cap.wd = None

    def unwatch_capture(self, channel):
        cap = self.captures.pop(channel, None)
        if cap is not None and cap.wd is not None and self.inotify is not None:
            if not any(c.wd == cap.wd for c in self.captures.values()):
                try:
                    self.inotify.remove(cap.wd)
                except Exception:
                    pass

    def polling_captures(self):
        return any(c.wd is None for c in self.captures.values())

    def inotify_ready(self):
        wds = self.inotify.read() if self.inotify else set()
        for channel, cap in list(self.captures.items()):
            if cap.wd in wds:
                self.check_capture(channel)

    def poll_captures(self):
        for channel, cap in list(self.captures.items()):
            if cap.wd is None:
                self.check_capture(channel)

    def check_capture(self, channel):
        """Sends K_CAPTURED for each manifest line written since the last look."""
        cap = self.captures.get(channel)
        if cap is None:
            return
        try:
            size = os.stat(cap.manifest).st_size
        except OSError:
            return
        if size <= cap.offset or cap.sent >= CAPTURE_MAX_PLOTS:
            return
        try:
            with open(cap.manifest, "rb") as f:
                f.seek(cap.offset)
                data = f.read(min(size - cap.offset, 1 << 20))
        except OSError:
            return
        cap.offset += len(data)
        lines = (cap.partial + data).split(b"\n")
        cap.partial = lines.pop()
        if len(cap.partial) > CAPTURE_MAX_LINE:
            cap.partial = b""
        for line in lines:
            if cap.sent >= CAPTURE_MAX_PLOTS:
                break
            plot = self.manifest_plot(cap, line)
            if plot is not None:
                cap.sent += 1
                send_json(K_CAPTURED, channel, plot)

    @staticmethod
    def manifest_plot(cap, line):
        # name, format, mime, width, height, dpi, source (tab-separated, as the hook writes)
        if len(line) > CAPTURE_MAX_LINE:
            return None
        fields = line.decode("utf-8", "replace").split("\t")
        if len(fields) < 6:
            return None
        name = fields[0]
        if not name or "/" in name or name.startswith(".") or name == "manifest.tsv":
            return None
        try:
            st = os.stat(os.path.join(cap.directory, name))
            dims = [int(f or 0) for f in fields[3:6]]
        except (OSError, ValueError):
            return None
        if st.st_mode & 0o170000 != 0o100000:
            return None
        return {"name": name, "format": fields[1], "width": dims[0], "height": dims[1], "dpi": dims[2], "size": st.st_size}

    # -- the processes of runs ---------------------------------------------------------
    def collect_children(self):
        """Reaps every exited child: a run leader's status is kept for its run, adopted
        orphans (the agent is their subreaper) just go. True when an orphan was reaped (a
        leader's end rescans anyway, when its run is finished)."""
        reaped = False
        while True:
            try:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
            except InterruptedError:
                continue
            except ChildProcessError:
                # No children at all: a leader nobody can wait for any more is done.
                for run in list(self.leaders.values()):
                    self.leader_exited(run, 0)
                break
            if pid == 0:
                break
            run = self.leaders.get(pid)
            if run is not None:
                self.account(run, usage)
                self.leader_exited(run, status)
            else:
                for r in self.runs.values():
                    if any(p == pid for p, _ in r.procs):
                        self.account(r, usage)
                if pid == fork_server_pid():
                    _fork_server[0].stop()  # it died: the next eligible run starts another
                reaped = True
        return reaped

    @staticmethod
    def account(run, usage):
        run.maxrss_kib = max(run.maxrss_kib, usage.ru_maxrss)
        run.cpu_seconds += usage.ru_utime + usage.ru_stime

    def leader_exited(self, run, status):
        self.leaders.pop(run.pid, None)
        if run.status is not None:
            return
        run.status = status
        run.leader_exited_at = time.monotonic()
        heapq.heappush(self.timers, (run.leader_exited_at + DRAIN_GRACE, run.channel))
        self.exited.append(run)

    def reap(self):
        if self.collect_children() and self.runs and time.monotonic() - self.last_scan >= SCAN_MIN_GAP:
            self.track()
        self.finish_exited()

    def finish_exited(self):
        while self.exited:
            run = self.exited.pop(0)
            if self.runs.get(run.channel) is run:
                self.maybe_finish(run)

    def track(self):
        """Scans /proc and adds every descendant of the agent to the runs it belongs to:
        below a run's leader, or an orphan the agent adopted that an earlier scan saw in a
        run. An orphan never seen before belongs to the live runs started before it; of
        several, to those whose process group or session it is in, else to those whose
        pipes it holds, else to all of them (it dies with the last). Processes that belong
        to no live run are left over from one that ended: they are killed."""
        table = descendant_table(self.pid) if self.subreaper and self.children_lists else None
        if table is None:
            # No children lists (or no subreaper: orphans are not below the agent): all of /proc.
            self.children_lists = False
            table = process_table()
        self.last_scan = time.monotonic()
        runs = list(self.runs.values())
        me = self.pid
        alive = {(pid, st[4]) for pid, st in table.items()}
        owners_of = {}
        leader_of = {}
        for r in runs:
            r.procs &= alive
            for key in r.marked - alive:
                unmark_pgroup("%d.%d" % key)
            r.marked &= alive
            for k in r.procs:
                owners_of.setdefault(k, []).append(r)
            leader_of[r.pid] = r
        top = {}

        def find_top(pid):
            chain = []
            p, found = pid, None
            while True:
                if p in top:
                    found = top[p]
                    break
                st = table.get(p)
                if st is None or len(chain) > 100000:
                    break
                chain.append(p)
                if st[1] == me:
                    found = p
                    break
                if st[1] <= 1:
                    break
                p = st[1]
            for c in chain:
                top[c] = found
            return found

        groups = {}
        server = fork_server_pid()
        for pid in table:
            if pid == me:
                continue
            t = find_top(pid)
            if t is not None and t != server:  # the fork server (and a run it is forking) is no run's
                groups.setdefault(t, []).append(pid)
        leftovers = []
        for t, members in groups.items():
            tst = table[t]
            tkey = (t, tst[4])
            r = leader_of.get(t)
            if r is not None and (tkey in r.procs or not r.procs):
                owners = [r]
            elif tkey in owners_of:
                owners = owners_of[tkey]
            else:
                owners = self.orphan_owners(t, tst, runs)
            if not owners:
                leftovers.extend(members)
                continue
            for pid in members:
                st = table[pid]
                key = (pid, st[4])
                for o in owners:
                    o.procs.add(key)
                    if st[2] != o.pid and key not in o.marked:
                        # It left the run's process group: a restarted agent finds it here.
                        o.marked.add(key)
                        mark_escapee(*key)
        for pid in leftovers:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        return table

    @staticmethod
    def orphan_owners(pid, st, runs):
        cands = [r for r in runs if r.start_tick <= st[4]]
        if len(cands) <= 1:
            return cands
        grouped = [r for r in cands if r.pid in (st[2], st[3])]
        if grouped:
            return grouped
        pipes = pipe_links(pid)
        piped = [r for r in cands if r.pipes & pipes]
        return piped or cands

    def kill_tree(self, run):
        """SIGKILLs every process of a run (except what another live run claims too) and
        waits until they are gone; whatever they forked meanwhile is found by the rescan."""
        run.killpg(signal.SIGKILL)
        for _ in range(200):
            table = self.track()
            others = set()
            for r in self.runs.values():
                if r is not run:
                    others |= r.procs
            doomed = [
                pid for (pid, start) in run.procs
                if pid != self.pid and (pid, start) not in others
                and pid in table and table[pid][4] == start and table[pid][0] != b"Z"
            ]
            if not doomed:
                return
            kill_all(doomed)
            self.collect_children()
            time.sleep(0.002)

    def maybe_finish(self, run, force=False):
        if run.status is None:
            return
        if run.fds and not force:
            return
        # The run is over: none of its processes outlives it.
        self.kill_tree(run)
        for fd in list(run.fds):
            # Drain what is already buffered, then stop listening.
            while True:
                try:
                    data = os.read(fd, READ_CHUNK)
                except OSError:
                    break
                if not data:
                    break
                self.forward(run, run.fds[fd], data)
            self.release_output(run, fd)
        if run.stdin_fd is not None:
            self.unwatch(run.stdin_fd)
            close_quietly(run.stdin_fd)
            run.stdin_fd = None
        st = run.status
        code, sig = 0, 0
        if os.WIFSIGNALED(st):
            sig = os.WTERMSIG(st)
            status = "killed"
        else:
            code = os.WEXITSTATUS(st)
            status = "exited"
        if run.outcome is not None and (sig != 0 or run.outcome == "cancelled"):
            status = run.outcome
        elif sig == signal.SIGKILL:
            after = oom_kill_count()
            if after is not None and run.oom_before is not None and after > run.oom_before:
                status = "oom"
        if run.channel in self.captures:
            # Plots written at the end (figures left open, captured at exit) come before the exit.
            self.check_capture(run.channel)
            self.unwatch_capture(run.channel)
        elapsed = int((time.monotonic() - run.started) * 1000)
        send_json(K_EXIT, run.channel, {
            "status": status, "code": code, "signal": sig, "duration_ms": elapsed,
            "stdout_bytes": run.counts[K_STDOUT], "stderr_bytes": run.counts[K_STDERR],
            "truncated": run.truncated,
            "peak_memory_bytes": run.maxrss_kib * 1024, "cpu_time_ms": int(run.cpu_seconds * 1000),
        })
        del self.runs[run.channel]
        self.forget(run)

    def forget(self, run, lost=False):
        self.leaders.pop(run.pid, None)
        unmark_pgroup(run.pid)
        if run.run_id is not None and not lost:
            unrecord_run(run.run_id)
        for key in run.marked:
            unmark_pgroup("%d.%d" % key)

    def fire_timers(self):
        now = time.monotonic()
        while self.timers and self.timers[0][0] <= now:
            _, channel = heapq.heappop(self.timers)
            run = self.runs.get(channel)
            if run is None:
                continue
            if run.status is None:
                if run.deadline is not None and run.deadline <= now and run.outcome is None:
                    run.outcome = "timeout"
                    self.kill_tree(run)
            elif run.leader_exited_at is not None and now - run.leader_exited_at >= DRAIN_GRACE:
                # Output held for credit waits for the daemon (update_flow restarts the grace);
                # a cancelled or timed-out run ends now with what its pipes hold.
                if run.paused and run.outcome is None and (run.deadline is None or now < run.deadline):
                    continue
                self.maybe_finish(run, force=True)

    # -- main loop ----------------------------------------------------------------------
    def read_stdin(self):
        try:
            data = os.read(0, READ_CHUNK * 4)
        except BlockingIOError:
            return True
        if not data:
            return False
        self.inbuf += data
        while len(self.inbuf) >= 4:
            (length,) = struct.unpack_from(">I", self.inbuf, 0)
            if len(self.inbuf) < 4 + length:
                break
            kind, channel = struct.unpack_from(">BI", self.inbuf, 4)
            payload = bytes(self.inbuf[9 : 4 + length])
            del self.inbuf[: 4 + length]
            try:
                self.handle(kind, channel, payload)
            except Exception as e:  # one bad message must not take the other runs down
                send_json(K_LOG, channel, {"error": "frame %d rejected: %s" % (kind, e)})
        return True

    def loop(self):
        orphans = kill_orphaned_pgroups()
        send_json(K_HELLO, 0, {
            "version": VERSION, "pid": os.getpid(), "python": sys.version.split()[0],
            "orphans_killed": orphans, "lost_runs": take_lost_runs(),
        })
        while True:
            timeout = None
            if self.timers:
                timeout = max(0.0, self.timers[0][0] - time.monotonic())
            if self.runs:
                rescan = max(0.0, self.last_scan + SCAN_EVERY - time.monotonic())
                timeout = rescan if timeout is None else min(timeout, rescan)
            polling = self.captures and self.polling_captures()
            if polling:
                timeout = CAPTURE_POLL if timeout is None else min(timeout, CAPTURE_POLL)
            ready = self.sel.select(timeout)
            if polling:
                self.poll_captures()
            for key, _ in ready:
                tag = key.data
                if tag == "inotify":
                    self.inotify_ready()
                elif isinstance(tag, tuple) and tag[0] == "watch":
                    watch = self.watches.get(tag[1])
                    if watch is not None:
                        watch.ready()
                elif tag == "stdin":
                    if not self.read_stdin():
                        self.shutdown()
                        return
                elif tag == "wake":
                    try:
                        while os.read(self.wake_r, 512):
                            pass
                    except BlockingIOError:
                        pass
                elif tag == "out":
                    self.read_output(key.fd)
                elif tag == "stdin-child":
                    run = next((r for r in self.runs.values() if r.stdin_fd == key.fd), None)
                    if run is not None:
                        self.flush_stdin(run)
            self.reap()
            self.fire_timers()
            self.finish_exited()
            if self.runs and time.monotonic() - self.last_scan >= SCAN_EVERY:
                self.track()

    def shutdown(self):
        # The daemon went away: no run outlives the channel that reports it. Their records
        # stay, for the next agent to report them lost.
        for run in list(self.runs.values()):
            self.kill_tree(run)
            del self.runs[run.channel]
            self.forget(run, lost=True)
        if _fork_server[0] is not None:
            _fork_server[0].stop()


def release_compile_memory():
    """Gives back to the kernel what compiling this source left free in the C heap.

    The daemon sends the agent as source, so python compiles it at every start; the
    compiler's memory is freed when it is done, but glibc keeps it (about 2 MiB of an idle
    agent's ~7 MiB). Elsewhere (musl, no ctypes) this does nothing.
    """
    if ctypes is None:
        return
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass


def main():
    os.umask(0o022)
    Agent().loop()


release_compile_memory()
main()
