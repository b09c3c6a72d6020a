# sandboxd IPython runner: one persistent IPython shell per session (see sandboxd_session.py
# for the framing). The user's code never sees the protocol: the runner keeps duplicates of
# its original stdin/stdout for frames, points fd 0 at /dev/null and fds 1/2 at pipes that a
# drain thread forwards live as STDOUT/STDERR frames of the running cell. So `print`,
# `!cmd`, `%pip` and C extensions writing to fd 1 all stream, and stay apart from frames.
#
# The daemon interrupts a cell with SIGINT to the runner's process group (which also
# reaches `!cmd` children); the handler raises KeyboardInterrupt only while a cell runs.
import base64
import importlib
import io
import json
import os
import selectors
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sandboxd_session as sx  # noqa: E402

CARRY_MAX = 64 * 1024  # output written between cells, handed to the next cell


class Runner:
    def __init__(self, config):
        self.config = config
        self.session_id = config.get("session_id", "")
        self.directory = config.get("dir", "")
        # Keep the protocol fds away from the user's code.
        proto_in = os.dup(0)
        proto_out = os.dup(1)
        self.diag = os.dup(2)  # the runner's own errors, for the daemon's log
        self.channel = sx.Channel(proto_in, proto_out)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        self.out_r, out_w = os.pipe()
        self.err_r, err_w = os.pipe()
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        os.close(out_w)
        os.close(err_w)
        for fd in (self.out_r, self.err_r):
            os.set_blocking(fd, False)
        self.lifeline = start_crash_drainer(proto_out, self.out_r, self.err_r)
        sys.stdin = io.TextIOWrapper(io.BytesIO(b""), encoding="utf-8")
        # Unbuffered text streams: every write reaches the pipe at once, so output is live
        # and ordered with what child processes write to the same fds.
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8", errors="backslashreplace", write_through=True)
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8", errors="backslashreplace", write_through=True)
        self.io_lock = threading.Lock()
        self.current = None  # CellOutput of the running cell
        self.carry = []  # (kind, bytes) written while no cell ran
        self.carry_bytes = 0
        self.executing = False
        self.sigint_seen = False
        self.shell = None

    # -- output -----------------------------------------------------------------------
    def forward(self, kind, data):
        cell = self.current
        if cell is None:
            room = CARRY_MAX - self.carry_bytes
            if room > 0:
                self.carry.append((kind, data[:room]))
                self.carry_bytes += min(room, len(data))
            return
        data = cell.admit(kind, data)
        if data:
            self.channel.send(kind, cell.cell, data)

    def drain_loop(self):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        sel = selectors.DefaultSelector()
        sel.register(self.out_r, selectors.EVENT_READ, sx.K_STDOUT)
        sel.register(self.err_r, selectors.EVENT_READ, sx.K_STDERR)
        while True:
            for key, _ in sel.select():
                with self.io_lock:
                    try:
                        data = os.read(key.fd, 1 << 16)
                    except BlockingIOError:
                        continue
                    if data:
                        self.forward(key.data, data)

    def sync(self):
        """Forwards everything the cell wrote so far, so frames that follow keep their order."""
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        with self.io_lock:
            for fd, kind in ((self.out_r, sx.K_STDOUT), (self.err_r, sx.K_STDERR)):
                for data in sx.read_available(fd):
                    self.forward(kind, data)

    # -- rich output ------------------------------------------------------------------
    def send_bundle(self, kind, data, metadata, **fields):
        """A DISPLAY or RESULT frame: text values in the JSON, binary ones as raw bytes."""
        cell = self.current
        if cell is None:
            return
        self.sync()
        text, binary, raw = {}, {}, bytearray()
        for mime, value in (data or {}).items():
            if isinstance(value, str) and mime.startswith("image/") and mime != "image/svg+xml":
                # IPython hands PNG/JPEG over base64-encoded: the wire carries the bytes.
                try:
                    value = base64.b64decode(value)
                except ValueError:
                    pass
            if isinstance(value, (bytes, bytearray)):
                binary[mime] = [len(raw), len(value)]
                raw += value
            elif isinstance(value, str):
                text[mime] = value
            else:
                text[mime] = json.dumps(value, default=str)
        body = {"data": text, "binary": binary, "metadata": metadata or {}, **fields}
        self.channel.send_json_bytes(kind, cell.cell, body, bytes(raw))

    def send_display(self, data, metadata):
        self.send_bundle(sx.K_DISPLAY, data, metadata)

    def send_result(self, count, data, metadata):
        self.send_bundle(sx.K_RESULT, data, metadata, execution_count=count)

    def send_error(self, name, value, traceback):
        cell = self.current
        if cell is None:
            return
        self.sync()
        self.channel.send_json(sx.K_ERROR, cell.cell, {"name": name, "value": value, "traceback": traceback})

    # -- IPython ----------------------------------------------------------------------
    def start_shell(self):
        from IPython.core.displayhook import DisplayHook
        from IPython.core.displaypub import DisplayPublisher
        from IPython.core.interactiveshell import InteractiveShell
        from traitlets.config import Config

        runner = self

        class Hook(DisplayHook):
            # A cell's value is output twice: its text form on stdout exactly as a plain
            # IPython shell prints it (`Out[n]: 42`, IPython's own prompt and layout, what
            # llm-sandbox's runner captures), then the whole MIME bundle as a RESULT frame.
            # The frame drains stdout first, so the text comes before the result event.
            def write_format_data(self, format_dict, md_dict=None):
                DisplayHook.write_format_data(self, format_dict, md_dict)
                runner.send_result(self.prompt_count, format_dict, md_dict)

            def finish_displayhook(self):
                sys.stdout.flush()

        class Publisher(DisplayPublisher):
            def publish(self, data, metadata=None, source=None, *, transient=None, update=False, **kwargs):
                runner.send_display(data, metadata)

            def clear_output(self, wait=False):
                pass

        class Shell(InteractiveShell):
            def _showtraceback(self, etype, evalue, stb):
                text = self.InteractiveTB.stb2text(stb)
                sys.stderr.write(text + "\n")
                runner.send_error(getattr(etype, "__name__", str(etype)), str(evalue), list(stb))

        cfg = Config()
        cfg.HistoryManager.enabled = False  # no sqlite file in the workdir
        shell = Shell.instance(config=cfg, displayhook_class=Hook, display_pub_class=Publisher, colors="NoColor")
        # `!cmd` and %pip inherit fds 1/2 (the drain pipes): live and with stderr apart.
        def system(cmd):
            shell.system_raw(cmd)
            # system_raw swallows the KeyboardInterrupt of an interrupted command; an
            # interrupt stops the whole cell.
            if runner.sigint_seen:
                raise KeyboardInterrupt

        shell.system = system
        self.shell = shell

    # -- cells ------------------------------------------------------------------------
    def on_sigint(self, signum, frame):
        if self.executing:
            self.sigint_seen = True
            raise KeyboardInterrupt

    def run_cell(self, cell, req, stdin):
        shell = self.shell
        with self.io_lock:
            self.current = sx.CellOutput(cell, int(req.get("max_output") or 0))
            os.write(self.lifeline, cell.to_bytes(4, "big"))
            carry, self.carry, self.carry_bytes = self.carry, [], 0
            for kind, data in carry:
                self.forward(kind, data)
        started = time.monotonic()
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
        self.sigint_seen = False
        status = "ok"
        try:
            # A package installed by %pip into a new directory becomes importable.
            importlib.invalidate_caches()
            self.executing = True
            try:
                result = shell.run_cell(req.get("code", ""), store_history=True)
            finally:
                self.executing = False
            err = result.error_in_exec or result.error_before_exec
            if isinstance(err, KeyboardInterrupt):
                status = "interrupted"
            elif err is not None:
                status = "error"
        except KeyboardInterrupt:
            status = "interrupted"
        except BaseException as e:  # the shell itself failed: report, keep serving
            status = "error"
            self.send_error(type(e).__name__, str(e), [])
        self.sync()
        done = {
            "status": status,
            "interrupted": self.sigint_seen,
            "execution_count": shell.execution_count - 1,
            "duration_ms": int((time.monotonic() - started) * 1000),
            "exit_requested": bool(getattr(shell, "exit_now", False)),
        }
        with self.io_lock:
            done.update(self.current.summary())
            self.current = None
        self.channel.send_json(sx.K_DONE, cell, done)

    def serve(self):
        signal.signal(signal.SIGINT, self.on_sigint)
        threading.Thread(target=self.drain_loop, name="drain", daemon=True).start()
        add_user_site()
        try:
            self.start_shell()
        except ImportError as e:
            self.channel.send_json(sx.K_HELLO, 0, {"error": "IPython is not available: %s" % e})
            return
        import IPython

        self.channel.send_json(sx.K_HELLO, 0, {
            "pid": os.getpid(),
            "sid": os.getsid(0),
            "python": sys.version.split()[0],
            "ipython": IPython.__version__,
        })
        while True:
            try:
                frames = self.channel.frames()
                if not frames:
                    if not self.channel.feed():
                        return
                    continue
            except KeyboardInterrupt:
                continue  # an interrupt that arrived after its cell ended
            for kind, cell, payload in frames:
                if kind == sx.K_EXECUTE:
                    req, raw = sx.load_json_bytes(payload)
                    self.run_cell(cell, req, sx.byte_field(raw, req.get("stdin")))
                    if self.shell.exit_now:
                        return  # exit() in a cell: the next cell starts a fresh kernel
                elif kind == sx.K_SHUTDOWN:
                    return

    def shutdown(self):
        sx.kill_session_processes(sx.kernel_marker(), os.getsid(0))


def add_user_site():
    """Puts the user site directory on sys.path even before it exists, so a package that
    `%pip install` puts there is importable without restarting the kernel."""
    import site

    if not site.ENABLE_USER_SITE:
        return
    user_site = site.getusersitepackages()
    if user_site in sys.path:
        return
    at = next((i for i, p in enumerate(sys.path) if p.endswith(("site-packages", "dist-packages"))), len(sys.path))
    sys.path.insert(at, user_site)


def start_crash_drainer(proto_out, out_r, err_r):
    """Forks a helper that holds copies of the output pipes' read ends. It does nothing while
    the runner lives; when the runner dies (os._exit, a crash in C code), it forwards what
    the cell wrote just before and the runner never read, tagged with the last cell number
    it was told. Returns the write end of the lifeline (cell numbers go through it)."""
    life_r, life_w = os.pipe()
    pid = os.fork()
    if pid != 0:
        os.close(life_r)
        return life_w
    try:
        os.close(life_w)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        channel = sx.Channel(-1, proto_out)
        cell, buf = 0, b""
        while True:
            data = os.read(life_r, 64)
            if not data:
                break
            buf += data
            while len(buf) >= 4:
                cell, buf = int.from_bytes(buf[:4], "big"), buf[4:]
        # The runner is gone: whatever is left in the pipes belongs to the cell it ran.
        if cell:
            for fd, kind in ((out_r, sx.K_STDOUT), (err_r, sx.K_STDERR)):
                for data in sx.read_available(fd):
                    channel.send(kind, cell, data)
    finally:
        os._exit(0)


def main():
    config = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    sx.set_memory_limit(int(config.get("memory_limit") or 0))
    diag = 2
    try:
        runner = Runner(config)
        diag = runner.diag
        try:
            runner.serve()
        finally:
            runner.shutdown()
    except BaseException:
        import traceback

        os.write(diag, traceback.format_exc().encode(errors="replace"))
        raise SystemExit(1)


main()
