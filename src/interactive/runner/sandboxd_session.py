# sandboxd interactive sessions: what the IPython and shell runners share.
#
# A runner is one process inside the sandbox, started through the sandbox's process runner
# (the resident agent). The daemon and the runner speak frames over the runner's stdin and
# stdout:  >I length (of everything after it) | >B kind | >I cell | payload.
# STDOUT/STDERR carry the raw bytes the cell wrote; the other payloads are JSON. A payload
# with bytes beside its JSON (EXECUTE's stdin, a bundle's binary MIME values) is
#   >I length of the JSON | JSON | raw bytes
# where the JSON names each field's bytes as [offset, length] into the raw part: no hex or
# base64 on the wire. Stdlib only.
import json
import os
import struct
import sys
import threading

from sandboxd_procfs import kill_all, process_table

# Frame kinds: the numbers of src/runtime/frame-kinds.json ("runner"), checked by
# src/runtime/frame-kinds.test.ts; none is also an agent frame kind.
# daemon -> runner
K_EXECUTE = 32  # cell: {"code", "max_output", "stdin": [offset, length]} | stdin bytes
K_INTERRUPT = 33  # shell runner only: {"reason"}; the IPython runner is interrupted by SIGINT
K_SHUTDOWN = 34
# runner -> daemon
K_HELLO = 48  # {"pid", "sid", ...versions}
K_STDOUT = 49
K_STDERR = 50
K_DISPLAY = 51  # {"data": {mime: str}, "binary": {mime: [offset, length]}, "metadata": {...}} | bytes
K_RESULT = 52  # {"execution_count", "data", "binary", "metadata"} | bytes
K_ERROR = 53  # {"name", "value", "traceback": [str]}
K_DONE = 54  # {"status": ok|error|interrupted|exited, ...}

HEADER = struct.Struct(">IBI")
JSON_LENGTH = struct.Struct(">I")
# Every process of a session carries both in its environment (unless it clears it), so
# processes that left the runner's process session can still be found and killed.
SESSION_VAR = "SANDBOXD_SESSION_ID"
KERNEL_VAR = "SANDBOXD_KERNEL_ID"  # one runner's generation: reaping it spares its successor


class Channel:
    """Frames to and from the daemon over two file descriptors; writes are serialized."""

    def __init__(self, fd_in, fd_out):
        self.fd_in = fd_in
        self.fd_out = fd_out
        self.inbuf = bytearray()
        self.lock = threading.Lock()

    def send(self, kind, cell, payload=b""):
        data = HEADER.pack(len(payload) + 5, kind, cell) + payload
        with self.lock:
            view = memoryview(data)
            while view:
                try:
                    n = os.write(self.fd_out, view)
                except InterruptedError:
                    continue
                view = view[n:]

    def send_json(self, kind, cell, obj):
        self.send(kind, cell, dump_json(obj))

    def send_json_bytes(self, kind, cell, obj, raw):
        """JSON with raw bytes after it; `obj` names its fields' bytes by range into `raw`."""
        body = dump_json(obj)
        self.send(kind, cell, JSON_LENGTH.pack(len(body)) + body + raw)

    def frames(self):
        """Whole frames decoded from what is buffered."""
        out = []
        while len(self.inbuf) >= 4:
            (length,) = struct.unpack_from(">I", self.inbuf, 0)
            if len(self.inbuf) < 4 + length:
                break
            kind, cell = struct.unpack_from(">BI", self.inbuf, 4)
            out.append((kind, cell, bytes(self.inbuf[9 : 4 + length])))
            del self.inbuf[: 4 + length]
        return out

    def feed(self):
        """Reads what is available; False at EOF."""
        data = os.read(self.fd_in, 1 << 16)
        if not data:
            return False
        self.inbuf += data
        return True


def dump_json(obj):
    return json.dumps(obj, separators=(",", ":"), default=str).encode()


def load_json_bytes(payload):
    """(JSON, raw bytes) of a payload that carries bytes beside its JSON."""
    (n,) = JSON_LENGTH.unpack_from(payload, 0)
    return json.loads(payload[4 : 4 + n]), payload[4 + n :]


def byte_field(raw, where):
    """The bytes a field names by [offset, length] in a payload's raw part (b"" for none)."""
    if not where:
        return b""
    offset, length = where
    if offset < 0 or length < 0 or offset + length > len(raw):
        raise ValueError("byte range %r outside the payload's %d bytes" % (where, len(raw)))
    return raw[offset : offset + length]


def read_available(fd):
    """What a non-blocking fd holds now, in chunks, until it would block, ends or fails."""
    while True:
        try:
            data = os.read(fd, 1 << 16)
        except OSError:
            return
        if not data:
            return
        yield data


class CellOutput:
    """Byte counts and the per-cell output cap."""

    def __init__(self, cell, max_output):
        self.cell = cell
        self.max_output = max_output
        self.counts = {K_STDOUT: 0, K_STDERR: 0}
        self.total = 0
        self.truncated = False

    def admit(self, kind, data):
        if self.max_output:
            room = self.max_output - self.total
            if room <= 0:
                self.truncated = True
                return b""
            if len(data) > room:
                data = data[:room]
                self.truncated = True
        self.total += len(data)
        self.counts[kind] += len(data)
        return data

    def summary(self):
        return {
            "stdout_bytes": self.counts[K_STDOUT],
            "stderr_bytes": self.counts[K_STDERR],
            "truncated": self.truncated,
        }


# -- processes ----------------------------------------------------------------------------
def descendants(table, roots):
    """Pids below `roots` in a process_table()."""
    children = {}
    for pid, st in table.items():
        children.setdefault(st[1], []).append(pid)
    out = set()
    stack = list(roots)
    while stack:
        for c in children.get(stack.pop(), ()):
            if c not in out:
                out.add(c)
                stack.append(c)
    return out


def has_marker(pid, marker):
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            return marker in f.read().split(b"\0")
    except OSError:
        return False


def kill_session_processes(marker, sid, keep=()):
    """SIGKILLs every process of a runner: its process session, the descendants of those,
    and anything still carrying `marker` (VAR=value) in its environment (a process that
    called setsid itself). Repeats until nothing is left, since a dying parent may have
    forked just before."""
    marker = marker.encode()
    me = os.getpid()
    keep = set(keep) | {me}
    for _ in range(20):
        table = process_table()
        doomed = {pid for pid, st in table.items() if sid and st[3] == sid}
        doomed |= descendants(table, doomed | ({sid} if sid else set()))
        doomed |= {pid for pid in table if pid not in doomed and pid not in keep and has_marker(pid, marker)}
        doomed -= keep
        doomed.discard(1)
        if not doomed:
            return
        kill_all(doomed)
        # Give the kernel a moment to reap before looking again.
        threading.Event().wait(0.02)


def remove_tree(path):
    if not path or not os.path.isdir(path):
        return
    for root, dirs, files in os.walk(path, topdown=False):
        for name in files:
            try:
                os.unlink(os.path.join(root, name))
            except OSError:
                pass
        for name in dirs:
            try:
                os.rmdir(os.path.join(root, name))
            except OSError:
                pass
    try:
        os.rmdir(path)
    except OSError:
        pass


def set_memory_limit(limit):
    """Best effort: caps the address space of the runner and everything it starts."""
    if not limit:
        return
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):
        pass


def kernel_marker():
    return "%s=%s" % (KERNEL_VAR, os.environ.get(KERNEL_VAR, ""))


def reap_main(argv):
    # reap <VAR=value> <sid or 0> <directory to remove or "">
    marker, sid, directory = argv[0], int(argv[1] or 0), argv[2]
    kill_session_processes(marker, sid)
    remove_tree(directory)


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "reap":
    reap_main(sys.argv[2:])
