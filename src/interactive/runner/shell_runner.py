# sandboxd shell runner: one persistent shell per session (see sandboxd_session.py for the
# framing). The shell reads commands from a pipe; its stdout and stderr are two more pipes
# that stay apart. Each command is sent as
#
#     { command eval '<command>'
#     } <stdin-file-or-/dev/null 3>&-
#     printf '%s %d\n' <token> "$?" >&3
#
# so it runs in the shell itself (cd, export, aliases, functions and background jobs
# persist), gets EOF on stdin unless the caller sent bytes, cannot see fd 3, and its exit
# status arrives on fd 3 tagged with a random per-command token that its output can
# neither contain nor forge. `command eval` keeps a syntax error from ending the shell.
#
# Interrupts and timeouts: the processes the command started (found in /proc: this
# runner's process session, minus what existed before the command) get SIGINT, then
# SIGKILL; a command that still has not ended (a loop of builtins) ends with its shell,
# which is restarted, and the DONE frame says so.
import errno
import json
import os
import secrets
import selectors
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sandboxd_session as sx  # noqa: E402

SIGINT_GRACE = 1.0  # seconds between SIGINT and SIGKILL of the command's processes
KILL_GRACE = 1.0  # seconds after SIGKILL before the shell itself is restarted


def quote(s):
    return "'" + s.replace("'", "'\\''") + "'"


class Command:
    def __init__(self, cell, req, token, stdin_path):
        self.cell = cell
        self.output = sx.CellOutput(cell, int(req.get("max_output") or 0))
        self.token = token
        self.stdin_path = stdin_path
        self.started = time.monotonic()
        self.before = set()  # (pid, starttime) that existed when it started
        self.interrupted = None  # reason
        self.stage = 0
        self.deadline = None  # next escalation step


class Runner:
    def __init__(self, config):
        self.config = config
        self.session_id = config.get("session_id", "")
        self.directory = config.get("dir", "")
        self.shell_argv = config.get("argv") or ["/bin/sh"]
        self.cwd = config.get("cwd") or None
        self.channel = sx.Channel(0, 1)
        self.sel = selectors.DefaultSelector()
        self.proc = None
        self.status_r = None
        self.status_buf = b""
        self.command = None
        self.pending = []  # commands that arrived while the shell (re)started
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        self.wake_r = wake_r
        self.sel.register(0, selectors.EVENT_READ, "daemon")
        self.sel.register(wake_r, selectors.EVENT_READ, "wake")
        self.sid = os.getsid(0)

    # -- the shell --------------------------------------------------------------------
    def start_shell(self):
        status_r, status_w = os.pipe()

        def child_setup():
            os.dup2(status_w, 3)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGPIPE, signal.SIG_DFL)

        self.proc = subprocess.Popen(
            self.shell_argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=self.cwd,
            close_fds=False,  # every fd but 0-2 is close-on-exec; fd 3 is made in child_setup
            preexec_fn=child_setup,
            bufsize=0,
        )
        os.close(status_w)
        self.status_r = status_r
        self.status_buf = b""
        for f, tag in ((self.proc.stdout, sx.K_STDOUT), (self.proc.stderr, sx.K_STDERR)):
            os.set_blocking(f.fileno(), False)
            self.sel.register(f.fileno(), selectors.EVENT_READ, tag)
        os.set_blocking(status_r, False)
        self.sel.register(status_r, selectors.EVENT_READ, "status")
        name = os.path.basename(self.shell_argv[0])
        if name == "bash":
            self.write_shell("shopt -s expand_aliases\n")

    def write_shell(self, text):
        data = text.encode()
        fd = self.proc.stdin.fileno()
        while data:
            try:
                n = os.write(fd, data)
            except InterruptedError:
                continue
            except OSError as e:
                if e.errno == errno.EPIPE:
                    return False
                raise
            data = data[n:]
        return True

    def stop_shell(self):
        if self.proc is None:
            return
        try:
            self.proc.kill()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        for f, kind in ((self.proc.stdout, sx.K_STDOUT), (self.proc.stderr, sx.K_STDERR)):
            self.drain(f.fileno(), kind)
            try:
                self.sel.unregister(f.fileno())
            except (KeyError, ValueError):
                pass
            f.close()
        if self.status_r is not None:
            try:
                self.sel.unregister(self.status_r)
            except (KeyError, ValueError):
                pass
            os.close(self.status_r)
            self.status_r = None
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        self.proc = None

    # -- commands ---------------------------------------------------------------------
    def execute(self, cell, req):
        if self.proc is None:
            self.start_shell()
        token = secrets.token_hex(16)
        stdin_path = "/dev/null"
        stdin = bytes.fromhex(req.get("stdin_hex") or "")
        if stdin:
            stdin_path = os.path.join(self.directory, "stdin-%d" % cell)
            fd = os.open(stdin_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, stdin)
            finally:
                os.close(fd)
        cmd = Command(cell, req, token, stdin_path)
        table = sx.processes()
        cmd.before = {(pid, st[2]) for pid, st in table.items()}
        self.command = cmd
        script = "{ command eval %s\n} <%s 3>&-\nprintf '%%s %%d\\n' %s \"$?\" >&3\n" % (
            quote(req.get("code", "")),
            quote(stdin_path),
            token,
        )
        if not self.write_shell(script):
            self.shell_ended()

    def command_processes(self):
        """Processes the running command started: in this runner's process session or
        below the shell, and not there before the command."""
        cmd = self.command
        table = sx.processes()
        shell_pid = self.proc.pid if self.proc else -1
        mine = {pid for pid, (_, sid, _) in table.items() if sid == self.sid}
        mine |= sx.descendants(table, {shell_pid})
        out = []
        for pid in mine:
            if pid in (os.getpid(), shell_pid):
                continue
            if (pid, table[pid][2]) in cmd.before:
                continue
            out.append(pid)
        return out

    def interrupt(self, reason):
        cmd = self.command
        if cmd is None or cmd.interrupted is not None:
            return
        cmd.interrupted = reason
        self.escalate()

    def escalate(self):
        cmd = self.command
        if cmd is None:
            return
        cmd.stage += 1
        if cmd.stage == 1:
            pids = self.command_processes()
            for pid in pids:
                self.signal(pid, signal.SIGINT)
            # No process to interrupt: the shell itself is busy (builtins); a short wait
            # lets a command that is just ending report its own status first.
            cmd.deadline = time.monotonic() + (SIGINT_GRACE if pids else 0.2)
            if not pids:
                cmd.stage = 2
        elif cmd.stage == 2:
            for pid in self.command_processes():
                self.signal(pid, signal.SIGKILL)
            cmd.deadline = time.monotonic() + KILL_GRACE
        else:
            # Still running: end it with its shell; the session gets a fresh one.
            for pid in self.command_processes():
                self.signal(pid, signal.SIGKILL)
            self.stop_shell()
            self.finish({"status": "interrupted", "exit_code": -1, "restarted": True})
            self.start_shell()

    @staticmethod
    def signal(pid, sig):
        try:
            os.kill(pid, sig)
        except OSError:
            pass

    def drain(self, fd, kind):
        while True:
            try:
                data = os.read(fd, 1 << 16)
            except (BlockingIOError, OSError):
                return
            if not data:
                return
            self.forward(kind, data)

    def drain_all(self):
        if self.proc is not None:
            self.drain(self.proc.stdout.fileno(), sx.K_STDOUT)
            self.drain(self.proc.stderr.fileno(), sx.K_STDERR)

    def forward(self, kind, data):
        cmd = self.command
        if cmd is None:
            return  # a background job wrote while no command ran
        data = cmd.output.admit(kind, data)
        if data:
            self.channel.send(kind, cmd.cell, data)

    def read_status(self):
        try:
            data = os.read(self.status_r, 4096)
        except BlockingIOError:
            return
        if not data:
            self.shell_ended()
            return
        self.status_buf += data
        while b"\n" in self.status_buf:
            line, self.status_buf = self.status_buf.split(b"\n", 1)
            parts = line.decode(errors="replace").split()
            cmd = self.command
            if cmd is None or len(parts) != 2 or parts[0] != cmd.token:
                continue  # not ours: stale or forged
            # The shell wrote the status after the command ended: all of its output is in
            # the pipes already.
            self.drain_all()
            done = {"status": "ok", "exit_code": int(parts[1])}
            if cmd.interrupted is not None:
                done["status"] = "interrupted"
            self.finish(done)

    def shell_ended(self):
        """The shell exited (`exit`, `exec`, a signal): report the running command."""
        if self.proc is None:
            return
        proc = self.proc
        try:
            code = proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        self.stop_shell()
        if self.command is not None:
            status = "interrupted" if self.command.interrupted is not None else "exited"
            self.finish({"status": status, "exit_code": code if code >= 0 else 128 - code, "shell_exited": True})

    def finish(self, done):
        cmd = self.command
        if cmd is None:
            return
        self.command = None
        if cmd.stdin_path != "/dev/null":
            try:
                os.unlink(cmd.stdin_path)
            except OSError:
                pass
        done.update(cmd.output.summary())
        done["interrupted"] = cmd.interrupted is not None
        done["duration_ms"] = int((time.monotonic() - cmd.started) * 1000)
        self.channel.send_json(sx.K_DONE, cmd.cell, done)

    # -- main loop --------------------------------------------------------------------
    def serve(self):
        try:
            self.start_shell()
        except OSError as e:
            self.channel.send_json(sx.K_HELLO, 0, {"error": "cannot start %s: %s" % (self.shell_argv[0], e.strerror or e)})
            return
        self.channel.send_json(sx.K_HELLO, 0, {
            "pid": os.getpid(),
            "sid": self.sid,
            "shell_pid": self.proc.pid,
            "python": sys.version.split()[0],
        })
        while True:
            timeout = None
            if self.command is not None and self.command.deadline is not None:
                timeout = max(0.0, self.command.deadline - time.monotonic())
            for key, _ in self.sel.select(timeout):
                tag = key.data
                if tag == "daemon":
                    if not self.channel.feed():
                        return
                    for kind, cell, payload in self.channel.frames():
                        if kind == sx.K_EXECUTE:
                            self.execute(cell, json.loads(payload))
                        elif kind == sx.K_INTERRUPT:
                            self.interrupt(json.loads(payload or b"{}").get("reason", "cancelled"))
                        elif kind == sx.K_SHUTDOWN:
                            return
                elif tag == "wake":
                    try:
                        while os.read(self.wake_r, 512):
                            pass
                    except BlockingIOError:
                        pass
                    if self.proc is not None and self.proc.poll() is not None:
                        # Output and status still buffered are read first.
                        self.drain_all()
                        if self.status_r is not None:
                            self.read_status()
                        self.shell_ended()
                elif tag == "status":
                    self.read_status()
                elif self.proc is not None:
                    self.drain(key.fd, tag)
            cmd = self.command
            if cmd is not None and cmd.deadline is not None and time.monotonic() >= cmd.deadline:
                cmd.deadline = None
                self.escalate()

    def shutdown(self):
        sx.kill_session_processes(sx.kernel_marker(), self.sid)


def main():
    config = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    sx.set_memory_limit(int(config.get("memory_limit") or 0))
    runner = Runner(config)
    try:
        runner.serve()
    finally:
        runner.shutdown()


main()
