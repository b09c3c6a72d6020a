"""The asyncio flavour: the core conformance scenarios through sandboxd.aio."""

from __future__ import annotations

import asyncio

import pytest

from sandboxd import LanguageNotSupportedError, SandboxStateError, SandboxTimeoutError
from sandboxd.aio import Client, SandboxSession
from sandboxd.v1 import common_pb2


async def test_c01_c02_run_and_streams() -> None:
    async with SandboxSession(lang="python") as s:
        hello = await s.run("print('hello')")
        assert (hello.stdout, hello.stderr, hello.exit_code) == ("hello\n", "", 0)
        r = await s.run("import sys\nprint('to out')\nprint('to err', file=sys.stderr)\nsys.exit(7)")
        assert (r.stdout, r.stderr, r.exit_code) == ("to out\n", "to err\n", 7)


async def test_c03_live_output_with_async_callback() -> None:
    async with SandboxSession(lang="python") as s:
        seen: list[str] = []

        async def on_stdout(text: str) -> None:
            seen.append(text)
            if "first" in text:
                assert (await s.execute_command("touch /tmp/go")).exit_code == 0

        code = "import os, time\nprint('first', flush=True)\nwhile not os.path.exists('/tmp/go'):\n    time.sleep(0.02)\nprint('second')"
        await s.run(code, timeout=20, on_stdout=on_stdout)
        assert "".join(seen) == "first\nsecond\n"


async def test_c06_timeout_and_c07_exec() -> None:
    async with SandboxSession(lang="python") as s:
        with pytest.raises(SandboxTimeoutError) as info:
            await s.run("import time\ntime.sleep(60)", timeout=1)
        assert info.value.timeout_duration == 1
        out = await s.execute_command("echo $FOO; exit 4", env={"FOO": "bar"})
        assert (out.stdout, out.exit_code) == ("bar\n", 4)


async def test_concurrent_runs_in_one_sandbox() -> None:
    async with SandboxSession(lang="python") as s:
        results = await asyncio.gather(*(s.run(f"print({i} * {i})") for i in range(4)))
        assert [r.stdout for r in results] == [f"{i * i}\n" for i in range(4)]


async def test_c09_c10_lifecycle_and_errors() -> None:
    async with Client() as c:
        sandbox = await c.create_sandbox(common_pb2.SandboxSpec(language="python"))
        assert (await c.destroy_sandbox(sandbox.id)).destroyed
        assert not (await c.destroy_sandbox(sandbox.id)).destroyed
    with pytest.raises(LanguageNotSupportedError):
        async with SandboxSession(lang="cobol"):
            pass


@pytest.mark.feature("files")
async def test_c13_files(tmp_path) -> None:  # noqa: ANN001
    src = tmp_path / "in.txt"
    src.write_text("data\n")
    async with SandboxSession(lang="python") as s:
        await s.copy_to_runtime(str(src), "/sandbox/in.txt")
        assert (await s.execute_command("cat /sandbox/in.txt")).stdout == "data\n"
        await s.copy_from_runtime("/sandbox/in.txt", str(tmp_path / "out.txt"))
        assert (tmp_path / "out.txt").read_text() == "data\n"


@pytest.mark.feature("interactive")
async def test_c15_c16_sessions() -> None:
    from sandboxd.aio import InteractiveSandboxSession

    async with InteractiveSandboxSession(lang="python") as ipy:
        await ipy.run("x = 41")
        assert (await ipy.run("print(x + 1)")).stdout == "42\n"
        async with ipy.session(shell="/bin/sh") as sh:
            await sh.exec("cd /tmp")
            assert (await sh.exec("pwd")).stdout == "/tmp\n"


@pytest.mark.feature("interactive")
@pytest.mark.feature("policy")
async def test_c20_execute_stream_aio() -> None:
    from sandboxd import SecurityIssueSeverity, SecurityPattern, SecurityPolicy, SecurityPolicyViolation
    from sandboxd.aio import InteractiveSandboxSession

    async with InteractiveSandboxSession(lang="python") as ipy:
        printed: list[str] = []

        async def on_stdout(text: str) -> None:
            printed.append(text)

        # Leaving the block while a cell runs interrupts it (the daemon would keep running it).
        async with ipy.execute() as stream:
            stream.send("x = 41")
            stream.send("import sys, time\nsys.stdout.write('sleeping\\n')\nsys.stdout.flush()\ntime.sleep(60)", on_stdout=on_stdout)
            stream.send("print('never')")
            async for ev in stream:
                if ev.cell_id == "cell-2" and ev.kind == "output":
                    break
        assert "".join(printed) == "sleeping\n"
        assert stream.finished
        assert (await stream.result("cell-2")).status == "CANCELLED"
        assert (await stream.result("cell-3")).status == "CANCELLED"
        assert (await stream.result("cell-3")).stdout == ""
        assert (await ipy.run("print(x)")).stdout == "41\n"

        # A shell session, its cells given up front: sent at once, then the stream half-closes.
        async with ipy.session(shell="/bin/sh") as sh:
            stream = sh.execute(["cd /tmp", "pwd", "echo oops >&2; (exit 3)"])
            with pytest.raises(SandboxStateError):
                stream.send("echo late")
            assert (await stream.result("cell-2")).stdout == "/tmp\n"
            failed = await stream.result("cell-3")
            assert (failed.exit_code, failed.stderr, failed.status) == (3, "oops\n", "EXITED")
            await stream.wait()
            assert stream.cell_ids == ["cell-1", "cell-2", "cell-3"]

    # A cell the policy refuses ends the stream with PERMISSION_DENIED; the one before it ran.
    policy = SecurityPolicy(
        severity_threshold=SecurityIssueSeverity.MEDIUM,
        patterns=[SecurityPattern(pattern=r"\bos\.system\s*\(", description="System command execution", severity=SecurityIssueSeverity.HIGH)],
    )
    async with InteractiveSandboxSession(lang="python", security_policy=policy) as guarded:
        stream = guarded.execute(["print('allowed')", "import os\nos.system('ls')"])
        assert (await stream.result("cell-1")).stdout == "allowed\n"
        with pytest.raises(SecurityPolicyViolation) as refused:
            await stream.result("cell-2")
        assert (refused.value.code.name, refused.value.reason) == ("PERMISSION_DENIED", "POLICY_VIOLATION")
        with pytest.raises(SecurityPolicyViolation):
            await stream.wait()
        await stream.close()


async def test_c21_pause_and_resume_aio() -> None:
    import os
    import time

    from sandboxd.v1 import sandbox_service_pb2 as svc

    from sandboxd import SandboxError
    from sandboxd._core import RunCollector

    counter = "i=0; while :; do i=$((i+1)); echo $i > /sandbox/count.tmp; mv /sandbox/count.tmp /sandbox/count; sleep 0.05; done"
    async with Client() as c:
        sandbox = await c.create_sandbox(common_pb2.SandboxSpec(language="python"))
        try:
            if os.environ.get("SANDBOXD_TEST_BACKEND") == "kubernetes":
                with pytest.raises(SandboxError) as refused:
                    await c.pause_sandbox(sandbox.id)
                assert (refused.value.code.name, refused.value.reason) == ("FAILED_PRECONDITION", "NOT_SUPPORTED_BY_BACKEND")
                return

            async def count() -> int:
                collector = RunCollector()
                async for event in c.exec(svc.ExecRequest(sandbox_id=sandbox.id, shell="cat /sandbox/count 2>/dev/null || echo 0")):
                    collector.feed(event)
                return int("".join(collector.stdout).strip())

            async def until(target: int) -> None:
                deadline = time.monotonic() + 60
                while await count() <= target:
                    assert time.monotonic() < deadline, "timed out waiting"
                    await asyncio.sleep(0.2)

            events = c.exec(svc.ExecRequest(sandbox_id=sandbox.id, shell=counter, timeout_ms=120_000, detach_on_cancel=True))
            async for event in events:
                if event.WhichOneof("event") == "started":
                    break
            await events.aclose()
            await until(3)
            before = await count()
            paused = await c.pause_sandbox(sandbox.id)
            assert paused.changed and paused.sandbox.state == common_pb2.SANDBOX_STATE_PAUSED
            assert not (await c.pause_sandbox(sandbox.id)).changed
            with pytest.raises(SandboxStateError) as info:
                await count()
            assert info.value.reason == "SANDBOX_PAUSED"
            await asyncio.sleep(1.5)
            resumed = await c.resume_sandbox(sandbox.id)
            assert resumed.changed and resumed.sandbox.state == common_pb2.SANDBOX_STATE_RUNNING
            assert not (await c.resume_sandbox(sandbox.id)).changed
            after = await count()
            assert after - before < 20
            await until(after + 3)
        finally:
            await c.destroy_sandbox(sandbox.id)


async def test_c27_egress_allow_list_aio() -> None:
    import http.server
    import os
    import socket
    import threading

    from sandboxd import SandboxError

    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # no packet is sent: the kernel picks the outgoing address
        host_ip = probe.getsockname()[0]
    finally:
        probe.close()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = f"server {self.server.server_address[1]}\n".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    servers = [http.server.ThreadingHTTPServer(("0.0.0.0", 0), Handler) for _ in range(2)]  # noqa: S104 - test servers on this machine
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    listed, unlisted = (s.server_address[1] for s in servers)
    try:
        egress = {"cidrs": [f"{host_ip}/32"], "ports": [listed]}
        if os.environ.get("SANDBOXD_TEST_BACKEND") == "kubernetes":
            with pytest.raises(SandboxError) as refused:
                async with SandboxSession(lang="python", egress=egress):
                    pass
            assert (refused.value.code.name, refused.value.reason) == ("FAILED_PRECONDITION", "NOT_SUPPORTED_BY_BACKEND")
            return
        async with SandboxSession(lang="python", egress=egress) as sb:
            code = (
                "import urllib.request, urllib.error\n"
                f"for port in ({listed}, {unlisted}):\n"
                "    try:\n"
                f"        print(urllib.request.urlopen('http://{host_ip}:%d/' % port, timeout=10).read().decode().strip())\n"
                "    except urllib.error.HTTPError as e:\n"
                "        print('refused', e.code)\n"
            )
            result = await sb.run(code)
            assert result.stderr == ""
            assert result.stdout == f"server {listed}\nrefused 403\n"
    finally:
        for s in servers:
            s.shutdown()


async def test_c26_terminal_aio() -> None:
    from sandboxd.aio import Terminal

    async with SandboxSession(lang="python") as session:
        term = await Terminal.open(session.client, session.sandbox_id, ["/bin/sh"], rows=30, cols=100)
        screen = b""
        term.write("tty; stty size\n")
        while b"30 100" not in screen:
            chunk = await term.read()
            assert chunk, screen
            screen += chunk
        assert b"/dev/pts/" in screen
        term.write("echo mark-$((6*7))\n")
        while b"mark-42" not in screen:
            screen += await term.read()
        term.detach()
        async with await Terminal.attach(session.client, term.id) as again:
            replay = b""
            while b"mark-42" not in replay:
                replay += await again.read()
            again.write("exit 3\n")
            exit_ = await again.wait()
        assert exit_.exit_code == 3


async def test_c23_usage_aio() -> None:
    async with SandboxSession(lang="python") as s, Client() as client:
        r = await s.run("b = bytearray(50 * 1024 * 1024)")
        assert r.peak_memory_bytes >= 50 * 1024 * 1024
        assert r.cpu_time_ms > 0
        usage = await client.get_usage(s.sandbox_id)
        assert usage.available
        assert usage.memory_peak_bytes >= 50 * 1024 * 1024
        samples = 0
        async for sample in client.watch_sandbox(s.sandbox_id, interval_ms=100):
            assert sample.available
            samples += 1
            if samples == 2:
                await client.destroy_sandbox(s.sandbox_id)
            assert samples < 50
        assert samples >= 2


async def test_c24_watch_files_aio() -> None:
    async with SandboxSession(lang="python") as s, Client() as client:

        async def change() -> None:
            assert (await s.execute_command("sh -c 'echo hi > c24.txt && mv c24.txt c24b.txt && rm c24b.txt'")).exit_code == 0

        kinds: list[int] = []
        events = client.watch_files(s.sandbox_id, "", on_ready=change)
        try:
            async for e in events:
                kinds.append(e.type)
                if e.type == 3:
                    break
        finally:
            await events.aclose()
        assert kinds == [1, 2, 4, 3]  # CREATE, WRITE, RENAME, REMOVE
