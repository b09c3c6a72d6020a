# sandboxd shell runner: one persistent shell per session (see sandboxd_session.py for the
# framing). The shell runs in interactive mode (`-i`, prompts empty, no job control: there
# is no terminal) in its own process group, reading commands from a pipe; its stdout and
# stderr are two more pipes that stay apart. Each command is sent as
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
# Interrupts and timeouts work like Ctrl-C in a terminal: SIGINT to the shell's process
# group ends the foreground command and makes the interactive shell abandon the rest of
# the command line (background jobs ignore it). Some shells drop their buffered input on
# SIGINT, so the status line is asked for again. A command that has not ended after the
# grace time (it or the shell ignores SIGINT, a loop of builtins) ends with its shell: the
# shell and what the command started are killed, a new shell starts, and DONE says so.
# (Killing only the command's processes is not safe: a shell goes on with the rest of the
# line when a child dies of anything but SIGINT.)
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
from sandboxd_procfs import boot_ticks, kill_all, process_table  # noqa: E402

SIGINT_GRACE = 2.0  # seconds a command has to end after SIGINT before its shell is restarted
PROBE_AFTER = (0.2, 1.0)  # when to ask for the status line again after SIGINT


def quote(s):
    return "'" + s.replace("'", "'\\''") + "'"


class Command:
    def __init__(self, cell, req, token, stdin_path):
        self.cell = cell
        self.output = sx.CellOutput(cell, int(req.get("max_output") or 0))
        self.token = token
        self.stdin_path = stdin_path
        self.started = time.monotonic()
        self.start_tick = boot_ticks()  # processes started since then are the command's
        self.interrupted = None  # when SIGINT was sent
        self.probes = []  # times to ask for the status again


class Runner:
    def __init__(self, config):
        self.config = config
        self.directory = config.get("dir", "")
        self.shell_argv = config.get("argv") or ["/bin/sh", "-i"]
        self.cwd = config.get("cwd") or None
        self.channel = sx.Channel(0, 1)
        self.sel = selectors.DefaultSelector()
        self.proc = None
        self.status_r = None
        self.status_buf = b""
        self.startup_token = None  # the shell is ready once this status arrives
        self.hello_sent = False
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
            os.setpgid(0, 0)
            os.dup2(status_w, 3)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGPIPE, signal.SIG_DFL)

        env = dict(os.environ)
        # An interactive shell would source $ENV at start; the user's ENV is set afterwards.
        user_env_file = env.pop("ENV", None)
        env.update({"PS1": "", "PS2": "", "PROMPT": "", "RPROMPT": "", "HISTFILE": ""})
        env.pop("PROMPT_COMMAND", None)
        try:
            self.proc = subprocess.Popen(
                self.shell_argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=self.cwd,
                env=env,
                close_fds=False,  # every fd but 0-2 is close-on-exec; fd 3 is made in child_setup
                preexec_fn=child_setup,
                bufsize=0,
            )
        finally:
            os.close(status_w)
        self.status_r = status_r
        self.status_buf = b""
        for f, tag in ((self.proc.stdout, sx.K_STDOUT), (self.proc.stderr, sx.K_STDERR)):
            os.set_blocking(f.fileno(), False)
            self.sel.register(f.fileno(), selectors.EVENT_READ, tag)
        os.set_blocking(status_r, False)
        self.sel.register(status_r, selectors.EVENT_READ, "status")
        name = os.path.basename(self.shell_argv[0])
        setup = []
        if name == "bash":
            setup.append("set +H +o history; shopt -s expand_aliases")
        elif name == "zsh":
            setup.append("unsetopt BANG_HIST; setopt INTERACTIVE_COMMENTS")
        if user_env_file is not None:
            setup.append("export ENV=%s" % quote(user_env_file))
        # What the shell says while starting (no job control, ...) is nobody's output: the
        # session is ready when the startup status arrives, and output until then is dropped.
        self.startup_token = secrets.token_hex(16)
        self.write_shell("".join(s + " 2>/dev/null\n" for s in setup) + "printf '%%s %%d\\n' %s \"$?\" >&3\n" % self.startup_token)

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

    def stop_shell(self, doomed=()):
        """Kills the shell (and `doomed` processes) and forgets its pipes."""
        if self.proc is None:
            return
        kill_all(doomed)
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
        self.startup_token = None

    @property
    def ready(self):
        return self.proc is not None and self.startup_token is None

    def on_ready(self):
        if not self.hello_sent:
            self.hello_sent = True
            self.channel.send_json(sx.K_HELLO, 0, {
                "pid": os.getpid(),
                "sid": self.sid,
                "shell_pid": self.proc.pid,
                "python": sys.version.split()[0],
            })
        if self.pending and self.command is None:
            self.execute(*self.pending.pop(0))

    # -- commands ---------------------------------------------------------------------
    def execute(self, cell, req, stdin):
        if self.proc is None:
            self.start_shell()
        if not self.ready:
            self.pending.append((cell, req, stdin))
            return
        token = secrets.token_hex(16)
        stdin_path = "/dev/null"
        if stdin:
            stdin_path = os.path.join(self.directory, "stdin-%d" % cell)
            fd = os.open(stdin_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, stdin)
            finally:
                os.close(fd)
        cmd = Command(cell, req, token, stdin_path)
        self.command = cmd
        script = "{ command eval %s\n} <%s 3>&-\n%s" % (quote(req.get("code", "")), quote(stdin_path), self.status_line(token))
        if not self.write_shell(script):
            self.shell_ended()

    @staticmethod
    def status_line(token):
        return "printf '%%s %%d\\n' %s \"$?\" >&3\n" % token

    def command_processes(self):
        """Processes the running command started: in this runner's process session or
        below the shell, and started since the command did. Start times have a resolution
        of one clock tick (10 ms): a background job started by the previous command in the
        same tick counts as this command's (this only matters when a shell is restarted)."""
        cmd = self.command
        table = process_table()
        shell_pid = self.proc.pid if self.proc else -1
        mine = {pid for pid, st in table.items() if st[3] == self.sid}
        mine |= sx.descendants(table, {shell_pid})
        return [pid for pid in mine if pid not in (os.getpid(), shell_pid) and table[pid][4] >= cmd.start_tick]

    def interrupt(self):
        cmd = self.command
        if cmd is None or cmd.interrupted is not None:
            return
        now = time.monotonic()
        cmd.interrupted = now
        cmd.probes = [now + t for t in PROBE_AFTER]
        try:
            os.killpg(self.proc.pid, signal.SIGINT)
        except OSError:
            pass

    def next_deadline(self):
        cmd = self.command
        if cmd is None or cmd.interrupted is None:
            return None
        return min(cmd.probes + [cmd.interrupted + SIGINT_GRACE])

    def on_timer(self):
        cmd = self.command
        if cmd is None or cmd.interrupted is None:
            return
        now = time.monotonic()
        if cmd.probes and cmd.probes[0] <= now:
            cmd.probes.pop(0)
            self.write_shell(self.status_line(cmd.token))
        if now >= cmd.interrupted + SIGINT_GRACE:
            # Still running: end it with its shell; the session gets a fresh one.
            self.stop_shell(self.command_processes())
            self.finish({"status": "interrupted", "exit_code": -1, "restarted": True})
            self.start_shell()

    def drain(self, fd, kind):
        for data in sx.read_available(fd):
            self.forward(kind, data)

    def drain_all(self):
        if self.proc is not None:
            self.drain(self.proc.stdout.fileno(), sx.K_STDOUT)
            self.drain(self.proc.stderr.fileno(), sx.K_STDERR)

    def forward(self, kind, data):
        cmd = self.command
        if cmd is None:
            return  # the shell starting, or a background job writing between commands
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
            if len(parts) != 2:
                continue
            if self.startup_token is not None and parts[0] == self.startup_token:
                self.drain_all()  # startup chatter, dropped
                self.startup_token = None
                self.on_ready()
                continue
            cmd = self.command
            if cmd is None or parts[0] != cmd.token:
                continue  # not ours: a repeated status, or forged
            # The shell wrote the status after the command ended: all of its output is in
            # the pipes already.
            self.drain_all()
            code = int(parts[1])
            self.finish({"status": "interrupted" if cmd.interrupted is not None else "ok", "exit_code": code})
            self.on_ready()

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
        starting = self.startup_token is not None and not self.hello_sent
        self.stop_shell()
        if starting:
            raise SystemExit("the shell exited while starting (exit status %s)" % code)
        if self.command is not None:
            status = "interrupted" if self.command.interrupted is not None else "exited"
            self.finish({"status": status, "exit_code": code if code >= 0 else 128 - code, "shell_exited": True})
        if self.pending:
            self.start_shell()

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
            self.channel.send_json(sx.K_HELLO, 0, {"error": "cannot start the shell %s: %s" % (self.shell_argv[0], e.strerror or e)})
            return
        while True:
            deadline = self.next_deadline()
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            for key, _ in self.sel.select(timeout):
                tag = key.data
                if tag == "daemon":
                    if not self.channel.feed():
                        return
                    for kind, cell, payload in self.channel.frames():
                        if kind == sx.K_EXECUTE:
                            req, raw = sx.load_json_bytes(payload)
                            self.execute(cell, req, sx.byte_field(raw, req.get("stdin")))
                        elif kind == sx.K_INTERRUPT:
                            self.interrupt()
                        elif kind == sx.K_SHUTDOWN:
                            return
                elif tag == "wake":
                    for _ in sx.read_available(self.wake_r):
                        pass
                    if self.proc is not None and self.proc.poll() is not None:
                        # Output and status still buffered are read first.
                        self.drain_all()
                        if self.status_r is not None:
                            self.read_status()
                        self.shell_ended()
                elif tag == "status":
                    if self.status_r is not None:
                        self.read_status()
                elif self.proc is not None:
                    self.drain(key.fd, tag)
            self.on_timer()

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
