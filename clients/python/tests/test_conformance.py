"""The shared conformance scenarios (clients/CONFORMANCE.md), through the sync client."""

from __future__ import annotations

import base64
import os
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandboxd import (
    ArtifactSandboxSession,
    CellEvent,
    Client,
    InteractiveSandboxSession,
    LanguageNotSupportedError,
    SandboxError,
    SandboxNotFoundError,
    SandboxSession,
    SandboxStateError,
    SandboxTimeoutError,
    SecurityIssueSeverity,
    SecurityPattern,
    SecurityPolicy,
    SecurityPolicyViolation,
    Terminal,
    ValidationError,
)
from sandboxd._core import RunCollector
from sandboxd.v1 import common_pb2, sandbox_service_pb2


@pytest.fixture(scope="module")
def session(daemon) -> Iterator[SandboxSession]:  # noqa: ANN001
    with SandboxSession(lang="python", address=daemon.address) as s:
        yield s


def test_c01_hello(session: SandboxSession) -> None:
    result = session.run("print('hello')")
    assert result.stdout == "hello\n"
    assert result.stderr == ""
    assert result.exit_code == 0
    assert result.success()
    assert result.status == "EXITED"


def test_c02_streams_kept_apart_and_exit_code(session: SandboxSession) -> None:
    result = session.run("import sys\nprint('to out')\nprint('to err', file=sys.stderr)\nsys.exit(7)")
    assert result.stdout == "to out\n"
    assert result.stderr == "to err\n"
    assert result.exit_code == 7
    assert not result.success()


def test_c03_output_is_live_and_ordered(session: SandboxSession) -> None:
    code = "import os, time\nprint('first', flush=True)\nwhile not os.path.exists('/tmp/c03-go'):\n    time.sleep(0.02)\nprint('second', flush=True)"
    seen: list[str] = []

    def on_stdout(text: str) -> None:
        seen.append(text)
        if "first" in text:
            # The program waits for this file: buffered output would hang the run.
            assert session.execute_command("touch /tmp/c03-go").exit_code == 0

    result = session.run(code, timeout=20, on_stdout=on_stdout)
    assert "".join(seen) == "first\nsecond\n"
    assert result.stdout == "first\nsecond\n"


def test_c04_events_are_numbered_with_offsets(session: SandboxSession) -> None:
    code = "import sys\nfor i in range(30):\n    print('x' * 10, flush=True)\n    print('y' * 5, file=sys.stderr, flush=True)"
    events = list(session.stream(code))
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    offset = 0
    out = b""
    for e in events:
        if e.WhichOneof("event") == "output":
            assert e.output.offset == offset
            offset += len(e.output.data)
            if e.output.stream == common_pb2.STREAM_STDOUT:
                out += e.output.data
    assert out == b"xxxxxxxxxx\n" * 30
    assert events[-1].WhichOneof("event") == "exited"


def test_c05_death_by_signal(session: SandboxSession) -> None:
    result = session.run("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")
    assert result.status == "KILLED"
    assert result.signal == 9
    assert result.exit_code == 137


def test_c06_timeout_raises_and_sandbox_stays_usable(session: SandboxSession) -> None:
    started = time.monotonic()
    with pytest.raises(SandboxTimeoutError) as info:
        session.run("import time\nprint('before', flush=True)\ntime.sleep(60)", timeout=1)
    assert time.monotonic() - started < 15
    assert info.value.timeout_duration == 1
    assert info.value.result.stdout == "before\n"
    assert info.value.result.status == "TIMEOUT"
    assert session.run("print('still here')").stdout == "still here\n"


def test_c07_exec_argv_shell_workdir_env(session: SandboxSession) -> None:
    argv = session.execute_command(["sh", "-c", "echo $1-$FOO", "sh", "arg"], env={"FOO": "bar"})
    assert argv.stdout == "arg-bar\n"
    shell = session.execute_command("pwd; exit 3", workdir="/tmp")
    assert shell.stdout == "/tmp\n"
    assert shell.exit_code == 3


def test_c08_stdin_reaches_the_program(session: SandboxSession) -> None:
    result = session.run("import sys\nprint(sys.stdin.read().upper())", stdin=b"from stdin")
    assert result.stdout == "FROM STDIN\n"


def test_c09_lifecycle(daemon) -> None:  # noqa: ANN001
    with Client(daemon.address) as c:
        label = f"c09-{time.time_ns()}"
        sandbox = c.create_sandbox(common_pb2.SandboxSpec(language="python", labels={"suite": label}))
        try:
            assert c.get_sandbox(sandbox.id).id == sandbox.id
            assert [s.id for s in c.list_sandboxes({"suite": label})] == [sandbox.id]
        finally:
            assert c.destroy_sandbox(sandbox.id).destroyed
        assert not c.destroy_sandbox(sandbox.id).destroyed
        with pytest.raises((SandboxNotFoundError, SandboxStateError)) as info:
            c.get_sandbox(sandbox.id)
        assert info.value.reason in {"SANDBOX_NOT_FOUND", "SANDBOX_DESTROYED"}


def test_c10_typed_errors(daemon) -> None:  # noqa: ANN001
    with pytest.raises(LanguageNotSupportedError) as info:
        with SandboxSession(lang="cobol", address=daemon.address):
            pass
    assert info.value.reason == "LANGUAGE_NOT_SUPPORTED"
    assert info.value.code.name == "INVALID_ARGUMENT"
    assert isinstance(info.value, ValidationError) is False  # its own class, as in llm-sandbox
    with pytest.raises(SandboxNotFoundError):
        with SandboxSession(sandbox_id="sbx_does_not_exist", address=daemon.address):
            pass


def test_c11_cancel_ends_the_run(session: SandboxSession) -> None:
    events = session.stream("import time\nprint('running', flush=True)\ntime.sleep(60)", timeout=120)
    run_id = ""
    for event in events:
        kind = event.WhichOneof("event")
        if kind == "started":
            run_id = event.started.run_id
        if kind == "output":
            break
    events.close()  # cancels the call; the daemon cancels the run
    collector = RunCollector()
    for event in session.client.attach(run_id):
        collector.feed(event)
    assert collector.exited is not None
    assert collector.exited.status == common_pb2.EXIT_STATUS_CANCELLED
    assert session.run("print('ok')").stdout == "ok\n"


def test_c12_attach_replays_from_an_offset(session: SandboxSession) -> None:
    result = session.run("print('abcdefghij', end='')")
    replayed = RunCollector()
    for event in session.client.attach(result.run_id, offset=3):
        replayed.feed(event)
    assert "".join(replayed.stdout) == "defghij"


@pytest.mark.feature("files")
def test_c13_files_round_trip(session: SandboxSession, tmp_path: Path) -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB, every byte value
    src = tmp_path / "data.bin"
    src.write_bytes(payload)
    session.copy_to_runtime(str(src), "/sandbox/in/data.bin")
    check = session.execute_command("sha256sum /sandbox/in/data.bin")
    import hashlib

    assert check.stdout.split()[0] == hashlib.sha256(payload).hexdigest()
    back = tmp_path / "back.bin"
    session.copy_from_runtime("/sandbox/in/data.bin", str(back))
    assert back.read_bytes() == payload

    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "a.txt").write_text("A")
    (tree / "sub" / "b.txt").write_text("B")
    session.copy_to_runtime(str(tree), "/sandbox/tree")
    assert session.execute_command("cat /sandbox/tree/a.txt /sandbox/tree/sub/b.txt").stdout == "AB"
    out = tmp_path / "out"
    session.copy_from_runtime("/sandbox/tree", str(out))  # as llm-sandbox: the directory lands under dest
    assert (out / "tree" / "a.txt").read_text() == "A"
    assert (out / "tree" / "sub" / "b.txt").read_text() == "B"


@pytest.mark.feature("artifacts")
def test_c14_artifacts(daemon) -> None:  # noqa: ANN001
    code = "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])\nplt.title('squares')\nplt.show()"
    with ArtifactSandboxSession(lang="python", address=daemon.address) as s:
        result = s.run(code)
        assert result.exit_code == 0, result.stderr
        assert len(result.plots) == 1
        plot = result.plots[0]
        assert plot.format.value == "png"
        assert base64.b64decode(plot.content_base64).startswith(b"\x89PNG\r\n\x1a\n")
        assert plot.width and plot.height
        assert "matplotlib" not in result.stdout
        s.clear_plots()
        assert s.list_plots() == []


@pytest.mark.feature("interactive")
def test_c15_ipython_state(daemon) -> None:  # noqa: ANN001
    with InteractiveSandboxSession(lang="python", address=daemon.address) as s:
        assert s.run("x = 41").exit_code == 0
        assert s.run("print(x + 1)").stdout == "42\n"
        failed = s.run("1 / 0")
        assert failed.exit_code != 0
        assert "ZeroDivisionError" in failed.stderr + failed.stdout
        assert s.run("print(x)").stdout == "41\n"


@pytest.mark.feature("interactive")
def test_c16_shell_state(session: SandboxSession) -> None:
    with session.session(shell="/bin/sh", env={"GREETING": "hi"}) as sh:
        assert sh.exec("cd /tmp").exit_code == 0
        assert sh.exec("pwd").stdout == "/tmp\n"
        assert sh.exec("export FOO=bar").exit_code == 0
        assert sh.exec("echo $FOO $GREETING").stdout == "bar hi\n"
        failed = sh.exec("echo oops >&2; false")
        assert failed.exit_code == 1
        assert failed.stderr == "oops\n"
        assert failed.stdout == ""


@pytest.mark.feature("interactive")
def test_c20_execute_stream(daemon) -> None:  # noqa: ANN001
    with InteractiveSandboxSession(lang="python", address=daemon.address) as s, s.execute() as stream:
        ids = [
            stream.send("x = 41"),
            stream.send("x + 1"),
            stream.send("import sys, time\nsys.stdout.write('sleeping\\n')\nsys.stdout.flush()\ntime.sleep(60)"),
            stream.send("print('should not run')"),
            stream.send("print(x)", "last"),
        ]
        assert ids == ["cell-1", "cell-2", "cell-3", "cell-4", "last"]
        seen: list[CellEvent] = []
        interrupted = False
        for ev in stream:
            seen.append(ev)
            if ev.cell_id == "cell-3" and ev.kind == "output" and not interrupted:
                interrupted = True
                stream.interrupt("cell-4")  # queued: dropped without running
                stream.interrupt("cell-3")  # running: stopped
                stream.end()  # the stream ends once "last" has run
        assert stream.finished
        # Events come cell after cell, in the order sent, each tagged with its cell's id.
        order = [e.cell_id for i, e in enumerate(seen) if i == 0 or e.cell_id != seen[i - 1].cell_id]
        assert order == ids
        for cid in ids:
            assert [e.kind for e in seen if e.cell_id == cid][-1] == "exited"
        assert "keepalive" not in {e.kind for e in seen}
        assert stream.result("cell-2").results() == ["42"]
        slept = stream.result("cell-3")
        assert slept.stdout == "sleeping\n"
        assert slept.status == "CANCELLED"
        assert slept.duration_ms < 60_000
        dropped = stream.result("cell-4")
        assert dropped.status == "CANCELLED"
        assert dropped.stdout == ""
        assert stream.result("last").stdout == "41\n"
        stream.wait()
        with pytest.raises(SandboxStateError):
            stream.send("print('too late')")


@pytest.mark.feature("policy")
def test_c17_policy(daemon) -> None:  # noqa: ANN001
    policy = SecurityPolicy(
        severity_threshold=SecurityIssueSeverity.MEDIUM,
        patterns=[SecurityPattern(pattern=r"\bos\.system\s*\(", description="System command execution", severity=SecurityIssueSeverity.HIGH)],
    )
    with SandboxSession(lang="python", security_policy=policy, address=daemon.address) as s:
        safe, violations = s.is_safe("import os\n\nos.system('ls')")
        assert not safe
        assert violations[0].line == 3
        assert violations[0].severity == SecurityIssueSeverity.HIGH
        assert s.is_safe("print(1)") == (True, [])
        with pytest.raises(SecurityPolicyViolation) as info:
            s.run("import os\nos.system('ls')")
        assert info.value.reason == "POLICY_VIOLATION"
        assert info.value.code.name == "PERMISSION_DENIED"
        assert info.value.violations


def test_c19_image_build(daemon, tmp_path: Path) -> None:  # noqa: ANN001
    tag = uuid.uuid4().hex[:12]
    (tmp_path / "note.txt").write_text(tag)
    (tmp_path / "Dockerfile").write_text(f"FROM sandboxd/base:latest\nCOPY note.txt /note.txt\nRUN echo built-{tag}\n")
    output: list[str] = []
    with Client(daemon.address) as client:
        if os.environ.get("SANDBOXD_TEST_BACKEND") == "kubernetes":
            with pytest.raises(SandboxError) as refused:
                client.build_image(tmp_path, on_output=output.append)
            assert (refused.value.code.name, refused.value.reason) == ("FAILED_PRECONDITION", "NOT_SUPPORTED_BY_BACKEND")
            return
        built = client.build_image(tmp_path, on_output=output.append)
        assert f"\nbuilt-{tag}\n" in "\n" + "".join(output)
        assert built.image.startswith("sandboxd-build/")
        assert not built.cached
        with SandboxSession(lang="bash", image=built.image, address=daemon.address) as s:
            assert s.execute_command("cat /note.txt").stdout == tag
        again: list[str] = []
        assert client.build_image(tmp_path / "Dockerfile", on_output=again.append).image == built.image
        assert again == []
        bad = common_pb2.Dockerfile(content=f"FROM sandboxd/base:latest\nRUN echo no-{tag} && exit 4\n")
        with pytest.raises(SandboxError) as failed:
            client.build_image(bad, on_output=output.append)
        assert (failed.value.code.name, failed.value.reason) == ("INVALID_ARGUMENT", "IMAGE_BUILD_FAILED")
        assert f"\nno-{tag}\n" in "".join(output)


COUNTER = "i=0; while :; do i=$((i+1)); echo $i > /sandbox/count.tmp; mv /sandbox/count.tmp /sandbox/count; sleep 0.05; done"


def _count(c: Client, sandbox_id: str) -> int:
    collector = RunCollector()
    for event in c.exec(sandbox_service_pb2.ExecRequest(sandbox_id=sandbox_id, shell="cat /sandbox/count 2>/dev/null || echo 0")):
        collector.feed(event)
    return int("".join(collector.stdout).strip())


def _until(check) -> None:  # noqa: ANN001
    deadline = time.monotonic() + 60
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.2)


def test_c21_pause_and_resume(daemon) -> None:  # noqa: ANN001
    with Client(daemon.address) as c:
        sandbox = c.create_sandbox(common_pb2.SandboxSpec(language="python"))
        try:
            if os.environ.get("SANDBOXD_TEST_BACKEND") == "kubernetes":
                with pytest.raises(SandboxError) as refused:
                    c.pause_sandbox(sandbox.id)
                assert (refused.value.code.name, refused.value.reason) == ("FAILED_PRECONDITION", "NOT_SUPPORTED_BY_BACKEND")
                return
            # A counter in a detached run: it goes on after this call ends.
            events = c.exec(sandbox_service_pb2.ExecRequest(sandbox_id=sandbox.id, shell=COUNTER, timeout_ms=120_000, detach_on_cancel=True))
            for event in events:
                if event.WhichOneof("event") == "started":
                    break
            events.close()
            _until(lambda: _count(c, sandbox.id) > 3)
            before = _count(c, sandbox.id)
            paused = c.pause_sandbox(sandbox.id)
            assert paused.changed
            assert paused.sandbox.state == common_pb2.SANDBOX_STATE_PAUSED
            assert not c.pause_sandbox(sandbox.id).changed
            assert c.get_sandbox(sandbox.id).state == common_pb2.SANDBOX_STATE_PAUSED
            with pytest.raises(SandboxStateError) as info:
                _count(c, sandbox.id)
            assert (info.value.code.name, info.value.reason) == ("FAILED_PRECONDITION", "SANDBOX_PAUSED")
            time.sleep(1.5)
            resumed = c.resume_sandbox(sandbox.id)
            assert resumed.changed
            assert resumed.sandbox.state == common_pb2.SANDBOX_STATE_RUNNING
            assert not c.resume_sandbox(sandbox.id).changed
            after = _count(c, sandbox.id)
            # 1.5 s at 20 steps a second would be 30 steps: frozen, it made only the few around the calls.
            assert after - before < 20
            _until(lambda: _count(c, sandbox.id) > after + 3)
        finally:
            c.destroy_sandbox(sandbox.id)


def test_c21_session_pause_and_resume(daemon) -> None:  # noqa: ANN001
    with SandboxSession(lang="python", address=daemon.address) as s:
        if os.environ.get("SANDBOXD_TEST_BACKEND") == "kubernetes":
            with pytest.raises(SandboxError) as refused:
                s.pause()
            assert refused.value.reason == "NOT_SUPPORTED_BY_BACKEND"
            return
        s.run("open('/sandbox/kept', 'w').write('yes')")
        assert s.pause()
        assert not s.pause()
        with pytest.raises(SandboxStateError) as info:
            s.run("print(1)")
        assert info.value.reason == "SANDBOX_PAUSED"
        assert s.resume()
        assert not s.resume()
        assert s.run("print(open('/sandbox/kept').read())").stdout == "yes\n"


def test_c25_volumes(daemon) -> None:  # noqa: ANN001
    """llm-sandbox's runtime_configs ``volumes`` (docker-py's dict and list forms) onto a
    named volume; a host bind the operator did not allow is refused by the daemon."""
    with pytest.raises(SandboxError) as refused, SandboxSession(lang="python", address=daemon.address, runtime_configs={"volumes": {"/etc": {"bind": "/data/etc", "mode": "ro"}}}):
        pass
    assert (refused.value.code.name, refused.value.reason) == ("PERMISSION_DENIED", "VOLUME_HOST_PATH_NOT_ALLOWED")
    name = f"c25-py-{uuid.uuid4().hex[:12]}"
    with Client(daemon.address) as client:
        if os.environ.get("SANDBOXD_TEST_BACKEND") == "kubernetes":
            with pytest.raises(SandboxError) as unsupported:
                client.create_volume(name)
            assert (unsupported.value.code.name, unsupported.value.reason) == ("FAILED_PRECONDITION", "NOT_SUPPORTED_BY_BACKEND")
            return
        volume = client.create_volume(name, 16 * 1024 * 1024)
        try:
            assert volume.name == name
            with SandboxSession(lang="python", address=daemon.address, runtime_configs={"volumes": {name: {"bind": "/data/c25", "mode": "rw"}}}) as writer:
                assert writer.execute_command("sh -c 'echo persisted > /data/c25/note.txt'").exit_code == 0
            with SandboxSession(lang="python", address=daemon.address, runtime_configs={"volumes": [f"{volume.id}:/mnt/c25:ro"]}) as reader:
                assert reader.execute_command("cat /mnt/c25/note.txt").stdout == "persisted\n"
                assert reader.execute_command("sh -c 'echo x > /mnt/c25/other.txt'").exit_code != 0
                assert volume.id in [v.id for v in client.list_volumes()]
                with pytest.raises(SandboxError) as busy:
                    client.delete_volume(name)
                assert (busy.value.code.name, busy.value.reason) == ("FAILED_PRECONDITION", "VOLUME_IN_USE")
            assert client.delete_volume(name) is True
            with pytest.raises(SandboxError) as gone:
                client.get_volume(volume.id)
            assert (gone.value.code.name, gone.value.reason) == ("NOT_FOUND", "VOLUME_NOT_FOUND")
        finally:
            client.delete_volume(volume.id)


def test_c27_egress_allow_list(daemon) -> None:  # noqa: ANN001
    import http.server
    import socket
    import threading

    # Two servers of this machine: the listed one (its address as a CIDR, its port) and one whose port is not listed.
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # no packet is sent: the kernel picks the outgoing address
        host_ip = probe.getsockname()[0]
    finally:
        probe.close()
    assert not host_ip.startswith("127.")

    def serve(name: str) -> http.server.ThreadingHTTPServer:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = f"{name} server\n".encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("0.0.0.0", 0), Handler)  # noqa: S104 - a test server the sandbox must not reach directly
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    listed, unlisted = serve("listed"), serve("unlisted")
    try:
        egress = {"cidrs": [f"{host_ip}/32"], "ports": [listed.server_address[1]]}
        if os.environ.get("SANDBOXD_TEST_BACKEND") == "kubernetes":
            with pytest.raises(SandboxError) as refused, SandboxSession(lang="python", address=daemon.address, egress=egress):
                pass
            assert (refused.value.code.name, refused.value.reason) == ("FAILED_PRECONDITION", "NOT_SUPPORTED_BY_BACKEND")
            return
        with SandboxSession(lang="python", address=daemon.address, egress=egress) as s:
            code = "\n".join(
                [
                    "import urllib.request, urllib.error",
                    f"for port in ({listed.server_address[1]}, {unlisted.server_address[1]}):",
                    "    try:",
                    f"        print(urllib.request.urlopen('http://{host_ip}:%d/' % port, timeout=10).read().decode().strip())",
                    "    except urllib.error.HTTPError as e:",
                    "        print('refused', e.code)",
                ]
            )
            result = s.run(code)
            assert result.stderr == ""
            assert result.stdout == "listed server\nrefused 403\n"
    finally:
        listed.shutdown()
        unlisted.shutdown()


def _screen_until(term: Terminal, screen: list[bytes], pattern: str) -> None:
    """Reads the terminal until its output so far matches ``pattern``."""
    while not re.search(pattern, b"".join(screen).decode(errors="replace"), re.MULTILINE):
        chunk = term.read()
        assert chunk, f"the terminal ended before {pattern!r}: {b''.join(screen)[-300:]!r}"
        screen.append(chunk)


def test_c26_terminal(session: SandboxSession) -> None:
    screen: list[bytes] = []
    term = Terminal.open(session.client, session.sandbox_id, ["/bin/sh"], rows=30, cols=100)
    assert term.id
    term.write("tty; stty size\n")
    _screen_until(term, screen, r"/dev/pts/\d+")
    _screen_until(term, screen, r"^30 100\r?$")
    term.resize(40, 120)
    term.write("stty size; echo mark-$((6*7))\n")
    _screen_until(term, screen, r"^40 120\r?$")
    _screen_until(term, screen, r"mark-42")
    term.detach()
    with Terminal.attach(session.client, term.id) as again:
        replay: list[bytes] = []
        _screen_until(again, replay, r"mark-42")
        again.write("exit 3\n")
        exit_ = again.wait()
    assert exit_.status == "EXITED"
    assert exit_.exit_code == 3


def test_c23_usage(daemon) -> None:  # noqa: ANN001
    mib = 1024 * 1024
    with SandboxSession(lang="python", address=daemon.address) as s, Client(daemon.address) as client:
        result = s.run("b = bytearray(50 * 1024 * 1024)\nprint(len(b))")
        assert result.stdout == f"{50 * mib}\n"
        assert result.peak_memory_bytes >= 50 * mib
        assert result.cpu_time_ms > 0
        assert s.execute_command("head -c 3000000 /dev/zero > /tmp/c23").exit_code == 0
        usage = client.get_usage(s.sandbox_id)
        assert usage.available
        assert usage.memory_peak_bytes >= 50 * mib
        assert usage.memory_bytes > 0
        assert usage.cpu_time_ms > 0
        assert usage.processes >= 1
        tmp = next(p for p in usage.paths if p.path == "/tmp")
        assert tmp.used_bytes >= 3_000_000
        with pytest.raises(ValidationError):
            next(iter(client.watch_sandbox(s.sandbox_id, interval_ms=50)))
        samples = 0
        for sample in client.watch_sandbox(s.sandbox_id, interval_ms=100):
            assert sample.available
            samples += 1
            if samples == 2:
                client.destroy_sandbox(s.sandbox_id)
            assert samples < 50, "the stream did not end after the sandbox was destroyed"
        assert samples >= 2


def test_c24_watch_files(daemon) -> None:  # noqa: ANN001
    from sandboxd.v1 import sandbox_service_pb2 as svc

    with SandboxSession(lang="python", address=daemon.address) as s, Client(daemon.address) as client:
        workdir = s.sandbox.spec.workdir

        def change() -> None:
            assert s.execute_command("sh -c 'echo hi > c24.txt && mv c24.txt c24-renamed.txt && rm c24-renamed.txt'").exit_code == 0

        seen: list[str] = []
        events = client.watch_files(s.sandbox_id, "", on_ready=change)
        try:
            for e in events:
                name = svc.FileEventType.Name(e.type).removeprefix("FILE_EVENT_TYPE_")
                seen.append(f"{name} {e.old_path + ' -> ' if e.old_path else ''}{e.path}")
                if e.type == svc.FILE_EVENT_TYPE_REMOVE:
                    break
        finally:
            events.close()
        assert seen == [
            f"CREATE {workdir}/c24.txt",
            f"WRITE {workdir}/c24.txt",
            f"RENAME {workdir}/c24.txt -> {workdir}/c24-renamed.txt",
            f"REMOVE {workdir}/c24-renamed.txt",
        ]
        with pytest.raises(SandboxError) as missing:
            next(iter(client.watch_files(s.sandbox_id, "/no/such/dir")))
        assert (missing.value.code.name, missing.value.reason) == ("NOT_FOUND", "FILE_WATCH_PATH_NOT_FOUND")
