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
