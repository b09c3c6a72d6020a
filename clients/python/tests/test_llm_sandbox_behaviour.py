"""llm-sandbox's behaviour, against a live daemon: code written from llm-sandbox's documented
usage (its docstrings and docs) gets what llm-sandbox gives it (issue 15).

Plots accumulate until cleared; a directory copied out lands under ``dest``; ``container.id``
is the engine's id and attaches; a session past ``session_timeout`` raises
``SandboxTimeoutError``; llm-sandbox's module paths and arguments; its exceptions; output
callbacks and ``encoding_errors``.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
import shutil
import subprocess
import time
import warnings
from pathlib import Path

import pytest

import sandboxd
import sandboxd.aio
from conftest import start_daemon, stop_daemon
from sandboxd import (
    ArtifactSandboxSession,
    Client,
    InteractiveSandboxSession,
    LanguageNotSupportPlotError,
    NotOpenSessionError,
    SandboxBackend,
    SandboxError,
    SandboxNotFoundError,
    SandboxSession,
    SandboxStateError,
    SandboxTimeoutError,
    UnsupportedBackendError,
    ValidationError,
)
from sandboxd.v1 import common_pb2

BACKEND = os.environ.get("SANDBOXD_BACKEND", os.environ.get("SANDBOXD_TEST_BACKEND", "docker"))

TWO_PLOTS = "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()\nplt.plot([3, 2, 1])\nplt.show()"
ONE_PLOT = "import matplotlib.pyplot as plt\nplt.bar(['a', 'b'], [1, 2])\nplt.show()"


# ---------------------------------------------------------------------------- 1. plots accumulate


@pytest.mark.feature("artifacts")
def test_plots_accumulate_across_runs_until_cleared() -> None:
    # llm-sandbox's ArtifactSandboxSession.run docstring ("Clearing plots between runs").
    with ArtifactSandboxSession(lang="python") as session:
        first = session.run(TWO_PLOTS)
        assert first.exit_code == 0, first.stderr
        assert len(first.plots) == 2
        assert len(first.run_plots) == 2
        second = session.run(ONE_PLOT)
        assert len(second.plots) == 3, "every plot since the last clear, as llm-sandbox returns them"
        assert [p.id for p in second.plots[:2]] == [p.id for p in first.plots]
        assert [p.id for p in second.run_plots] == [second.plots[2].id]
        assert [p.index for p in second.plots] == [1, 2, 3]
        for plot in second.plots:
            assert base64.b64decode(plot.content_base64).startswith(b"\x89PNG")

        cleared = session.run("print('hello world')", clear_plots=True)
        assert cleared.plots == [] and cleared.run_plots == []
        assert len(session.run(ONE_PLOT).plots) == 1
        assert len(session.run(ONE_PLOT, clear_plots=True).plots) == 1, "clear_plots=True clears before the run"
        session.clear_plots()
        third = session.run(ONE_PLOT)
        assert len(third.plots) == 1 and third.plots[0].index == 1
        assert "run_plots" not in json.loads(third.to_json())
        as_json = json.loads(third.to_json(include_plots=True))
        assert len(as_json["plots"]) == 1 and "run_plots" not in as_json


@pytest.mark.feature("artifacts")
def test_plotting_off_returns_no_plots() -> None:
    with ArtifactSandboxSession(lang="python", enable_plotting=False) as session:
        result = session.run(ONE_PLOT)
        assert result.exit_code == 0, result.stderr
        assert result.plots == [] and result.run_plots == []


# ---------------------------------------------------------------------------- 3. copy_from_runtime


@pytest.mark.feature("files")
def test_copy_from_runtime_puts_a_directory_under_dest_and_a_file_at_dest(tmp_path: Path) -> None:
    with SandboxSession(lang="python") as session:
        session.execute_command("mkdir -p /sandbox/results/sub && echo A > /sandbox/results/a.txt && echo B > /sandbox/results/sub/b.txt")
        session.copy_from_runtime("/sandbox/results", str(tmp_path / "out"))
        assert (tmp_path / "out" / "results" / "a.txt").read_text() == "A\n"
        assert (tmp_path / "out" / "results" / "sub" / "b.txt").read_text() == "B\n"
        assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["results"]
        session.copy_from_runtime("/sandbox/results/", str(tmp_path / "slash"))  # a trailing slash names the same directory
        assert (tmp_path / "slash" / "results" / "a.txt").read_text() == "A\n"
        session.copy_from_runtime("/sandbox/results/sub/b.txt", str(tmp_path / "copy" / "renamed.txt"))
        assert (tmp_path / "copy" / "renamed.txt").read_text() == "B\n"
        assert sorted(p.name for p in (tmp_path / "copy").iterdir()) == ["renamed.txt"]


# ---------------------------------------------------------------------------- 4. container ids


def _engine(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BACKEND, *args], capture_output=True, text=True, check=True, timeout=120)


def test_container_id_is_the_engines_and_attaches_to_own_sandbox() -> None:
    with SandboxSession(lang="python") as owner:
        assert owner.container is not None
        assert owner.container.id == owner.container_id == owner.sandbox.container_id
        assert owner.container.id != owner.sandbox_id
        assert owner.container.sandbox.id == owner.sandbox_id and owner.container.status == "running"
        if BACKEND in ("docker", "podman") and shutil.which(BACKEND):
            assert _engine("inspect", "-f", "{{.Id}}", owner.container.id).stdout.strip() == owner.container.id
        owner.execute_command("echo from-owner > /sandbox/owner.txt")
        # llm-sandbox: SandboxSession(container_id=...) connects to an existing container and leaves it running.
        with SandboxSession(lang="python", container_id=owner.container.id) as guest:
            assert guest.sandbox_id == owner.sandbox_id
            assert guest.container.id == owner.container.id
            assert guest.execute_command("cat /sandbox/owner.txt").stdout == "from-owner\n"
        assert owner.run("print('owner still here')").stdout == "owner still here\n"


@pytest.mark.skipif(BACKEND != "docker" or not shutil.which("docker"), reason="makes a plain container with the docker CLI")
def test_container_id_attaches_to_a_foreign_container_where_the_daemon_allows_it() -> None:
    name = f"py-attach-{secrets.token_hex(4)}"
    container_id = _engine("run", "-d", "--name", name, "--user", "1000:1000", "--network", "none", "sandboxd/python:latest", "sleep", "infinity").stdout.strip()
    proc, d = start_daemon(["--attach.tenants", "*"])
    try:
        with SandboxSession(lang="python", container_id=container_id, address=d.address) as session:
            assert session.container.id == container_id
            assert session.run("import socket\nprint(socket.gethostname())").stdout == container_id[:12] + "\n"
        assert _engine("inspect", "-f", "{{.State.Running}}", container_id).stdout.strip() == "true", "left running, as llm-sandbox does"
        # The session's own daemon does not allow attaching: the same answer as a missing container.
        with pytest.raises(SandboxNotFoundError):
            SandboxSession(lang="python", container_id=container_id).open()
    finally:
        left = stop_daemon(proc, d)
        _engine("rm", "-f", container_id)
    assert not left, f"left containers behind: {left}"


# ---------------------------------------------------------------------------- 5. session_timeout


def test_session_past_its_timeout_raises_timeout_then_not_open() -> None:
    started = time.monotonic()
    session = SandboxSession(lang="python", session_timeout=5)
    session.open()
    try:
        assert session.run("print(1)").stdout == "1\n"
        # A second handle on the same sandbox, without a lifetime of its own: it hears the daemon's expiry.
        guest = SandboxSession(sandbox_id=session.sandbox_id)
        guest.open()
        time.sleep(max(0.0, started + 7.5 - time.monotonic()))  # past the lifetime, and past the daemon's reaper (every second)
        for operation in (lambda: session.run("print(2)"), lambda: session.execute_command("true"), lambda: session.copy_from_runtime("/sandbox", "/tmp/x")):
            with pytest.raises(SandboxTimeoutError) as info:
                operation()
            assert info.value.timeout_duration == 5
            assert not isinstance(info.value, SandboxStateError)
        with pytest.raises(SandboxTimeoutError) as expired:
            guest.run("print(3)")
        assert expired.value.reason == "SANDBOX_EXPIRED"
        assert not isinstance(expired.value, SandboxStateError)
        guest.close()
    finally:
        session.close()
    with pytest.raises(NotOpenSessionError):
        session.run("print(4)")


@pytest.mark.feature("interactive")
def test_interactive_session_past_its_timeout_raises_timeout() -> None:
    started = time.monotonic()
    with InteractiveSandboxSession(lang="python", session_timeout=10) as session:  # starting a kernel takes a few seconds
        assert session.run("x = 1").exit_code == 0
        time.sleep(max(0.0, started + 10.5 - time.monotonic()))
        with pytest.raises(SandboxTimeoutError):
            session.run("print(x)")
    with pytest.raises(NotOpenSessionError):
        session.run("print(x)")


# ---------------------------------------------------------------------------- 8. module paths and arguments


def test_llm_sandbox_module_paths() -> None:
    from sandboxd.const import DefaultImage, EncodingErrorsType, SandboxBackend as B, SupportedLanguage  # noqa: F401
    from sandboxd.core.config import SessionConfig
    from sandboxd.core.session_base import BaseSession
    from sandboxd.data import ConsoleOutput, ExecutionResult, FileType, PlotOutput, StreamCallback  # noqa: F401
    from sandboxd.exceptions import ImagePullError, LanguageHandlerNotInitializedError, PackageManagerError  # noqa: F401
    from sandboxd.interactive import InteractiveSandboxSession as I, InteractiveSettings, KernelType  # noqa: F401
    from sandboxd.security import RestrictedModule, SecurityIssueSeverity, SecurityPattern, SecurityPolicy  # noqa: F401

    assert isinstance(sandboxd.create_session(lang="python"), BaseSession)
    assert issubclass(ArtifactSandboxSession, BaseSession) and issubclass(I, BaseSession)
    assert isinstance(SandboxSession(lang="python").config, SessionConfig)
    assert SandboxSession(lang="python", execution_timeout=5).config.get_execution_timeout() == 5
    assert json.loads(ExecutionResult(exit_code=0, stdout="x").to_json())["stdout"] == "x"
    assert sandboxd.DefaultImage is DefaultImage and sandboxd.SessionConfig is SessionConfig


def test_engine_client_arguments_are_accepted_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    class DockerClient:  # what llm-sandbox users pass: docker.from_env()
        pass

    with caplog.at_level(logging.INFO, logger="sandboxd"):
        session = SandboxSession(lang="python", client=DockerClient(), stream=True, kube_namespace="ml")
    lines = [r.getMessage() for r in caplog.records if "engine client" in r.getMessage()]
    assert len(lines) == 1 and all(word in lines[0] for word in ("client", "stream", "kube_namespace"))
    with session:  # the foreign client is not used: the session reaches the daemon
        assert session.run("print('ok')").stdout == "ok\n"
    with caplog.at_level(logging.INFO, logger="sandboxd"):
        caplog.clear()
        SandboxSession(lang="python")
    assert not [r for r in caplog.records if "engine client" in r.getMessage()]


@pytest.mark.parametrize(
    "configs",
    [{"network_mode": "host"}, {"network_mode": "container:abc123"}, {"network_mode": "my-network"}, {"privileged": True}, {"cap_add": ["SYS_ADMIN"]}],
    ids=["host", "container", "named", "privileged", "cap_add"],
)
def test_runtime_configs_the_daemon_will_not_grant_are_refused(configs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=next(iter(configs))) as info:
        SandboxSession(lang="python", runtime_configs=configs)
    assert isinstance(info.value, ValidationError) and isinstance(info.value, SandboxError)
    with pytest.raises(ValueError):
        ArtifactSandboxSession(lang="python", runtime_configs=configs)


def test_runtime_configs_keep_llm_sandbox_meaning() -> None:
    configs = {"mem_limit": "300m", "environment": {"STAGE": "test"}, "network_mode": "none", "privileged": False, "cap_drop": ["ALL"], "cap_add": []}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # asking for what the daemon does anyway is quiet
        session = SandboxSession(lang="python", runtime_configs=configs)
    with session:
        assert session.execute_command("echo $STAGE").stdout == "test\n"
        if BACKEND != "kubernetes":
            limit = session.execute_command("cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes").stdout.strip()
            assert limit == str(300 * 1024 * 1024)
        net = session.run("import socket\ntry:\n    socket.create_connection(('1.1.1.1', 53), timeout=2)\n    print('online')\nexcept OSError:\n    print('offline')")
        assert net.stdout == "offline\n"
    assert session.options.to_spec().network == common_pb2.NETWORK_MODE_NONE
    assert SandboxSession(lang="python", runtime_configs={"network_mode": "bridge"}).options.to_spec().network == common_pb2.NETWORK_MODE_BRIDGE


# ---------------------------------------------------------------------------- 11. errors


@pytest.mark.feature("files")
def test_copy_from_runtime_of_a_missing_path_is_file_not_found(tmp_path: Path) -> None:
    with SandboxSession(lang="python") as session:
        with pytest.raises(FileNotFoundError) as info:
            session.copy_from_runtime("/sandbox/no/such/file.txt", str(tmp_path / "x"))
        assert isinstance(info.value, SandboxError) and info.value.reason == "PATH_NOT_FOUND"
        assert not (tmp_path / "x").exists()


def test_plotting_in_a_language_without_plot_capture_raises() -> None:
    with ArtifactSandboxSession(lang="javascript") as session:
        with pytest.raises(LanguageNotSupportPlotError) as info:
            session.run("console.log(1)")
        assert info.value.lang == "javascript"
    with ArtifactSandboxSession(lang="javascript", enable_plotting=False) as session:
        assert session.run("console.log(1)").stdout == "1\n"


@pytest.mark.skipif(BACKEND == "kubernetes", reason="the daemon under test runs on Kubernetes")
def test_kubernetes_backend_on_a_daemon_elsewhere_fails_clearly() -> None:
    label = {"issue15": secrets.token_hex(4)}
    session = SandboxSession(lang="python", backend=SandboxBackend.KUBERNETES, labels=label)
    with pytest.raises(UnsupportedBackendError, match="kubernetes") as info:
        session.open()
    assert info.value.backend == "kubernetes" and BACKEND in str(info.value)
    assert not session.is_open
    with Client() as c:
        assert c.list_sandboxes(label) == [], "the sandbox made on the wrong backend is gone"
    with pytest.raises(UnsupportedBackendError):
        with ArtifactSandboxSession(lang="python", backend="kubernetes"):
            pass


# ---------------------------------------------------------------------------- 12. callbacks and encoding


@pytest.mark.no_daemon
def test_callback_parameters_in_llm_sandbox_order() -> None:
    import inspect

    for cls in (sandboxd.SandboxSession, sandboxd.aio.SandboxSession):
        assert list(inspect.signature(cls.execute_command).parameters)[1:5] == ["command", "workdir", "on_stdout", "on_stderr"]
        assert list(inspect.signature(cls.execute_commands).parameters)[1:5] == ["commands", "workdir", "on_stdout", "on_stderr"]
        assert list(inspect.signature(cls.run).parameters)[1:6] == ["code", "libraries", "timeout", "on_stdout", "on_stderr"]


def test_output_callbacks_on_run_execute_command_and_execute_commands() -> None:
    out: list[str] = []
    err: list[str] = []
    with SandboxSession(lang="python") as session:
        session.run("import sys\nprint('run-out', flush=True)\nprint('run-err', file=sys.stderr)", on_stdout=out.append, on_stderr=err.append)
        assert "".join(out) == "run-out\n" and "".join(err) == "run-err\n"
        out.clear()
        err.clear()
        result = session.execute_command("echo cmd-out; echo cmd-err >&2", None, out.append, err.append)  # llm-sandbox's positional order
        assert (result.stdout, "".join(out), "".join(err)) == ("cmd-out\n", "cmd-out\n", "cmd-err\n")
        out.clear()
        err.clear()
        session.execute_commands(["echo one", ("pwd", "/tmp"), "echo bad >&2"], on_stdout=out.append, on_stderr=err.append)
        assert "".join(out) == "one\n/tmp\n" and "".join(err) == "bad\n"


def test_encoding_errors_apply_to_decoding() -> None:
    code = "import sys\nsys.stdout.buffer.write(b'ok \\xff\\xfe end\\n')"
    with SandboxSession(lang="python") as strict:  # llm-sandbox's default: strict
        with pytest.raises(UnicodeDecodeError):
            strict.run(code)
        assert strict.run("print('still fine')").stdout == "still fine\n"
    with SandboxSession(lang="python", encoding_errors="replace") as replace:
        assert replace.run(code).stdout == "ok \ufffd\ufffd end\n"
        seen: list[str] = []
        replace.execute_command("printf 'a\\377b\\n'", on_stdout=seen.append)
        assert "".join(seen) == "a\ufffdb\n"
    with SandboxSession(lang="python", encoding_errors="backslashreplace") as backslash:
        assert backslash.run(code).stdout == "ok \\xff\\xfe end\n"
    with pytest.raises(LookupError):
        SandboxSession(lang="python", encoding_errors="no-such-mode")


async def test_asyncio_flavour_container_id_callbacks_and_timeout() -> None:
    seen: list[str] = []

    async def on_stdout(text: str) -> None:
        seen.append(text)

    async with sandboxd.aio.SandboxSession(lang="python", session_timeout=600) as session:
        assert session.container is not None and session.container.id == session.container_id
        await session.execute_commands(["echo a", ("echo b", "/tmp")], on_stdout=on_stdout)
        assert "".join(seen) == "a\nb\n"
        async with sandboxd.aio.SandboxSession(lang="python", container_id=session.container.id) as guest:
            assert guest.sandbox_id == session.sandbox_id
        session._opened_at = time.monotonic() - 601  # as if ten minutes had passed
        with pytest.raises(SandboxTimeoutError):
            await session.run("print(1)")


def test_an_install_without_network_fails_fast_and_says_why(daemon) -> None:  # noqa: ANN001
    from sandboxd import CommandFailedError, SandboxSession

    with SandboxSession(lang="python") as session:
        t0 = time.monotonic()
        with pytest.raises(CommandFailedError) as err:
            session.run("print(1)", libraries=["sandboxd-no-such-package-xyz"])
        assert time.monotonic() - t0 < 30
        text = str(err.value)
        assert "installing libraries failed" in text and "no network" in text and "NETWORK_MODE_BRIDGE" in text


# ---------------------------------------------------------------------------- names of the API reference (docs/llm-sandbox-compatibility.md)


@pytest.mark.feature("files")
def test_get_archive_is_a_tar_with_the_path_at_the_top_and_its_stat() -> None:
    import io
    import tarfile

    with SandboxSession(lang="python") as session:
        session.execute_command("mkdir -p /sandbox/out/sub && printf hello > /sandbox/out/a.txt && printf deep > /sandbox/out/sub/b.txt && chmod 640 /sandbox/out/a.txt")
        data, stat = session.get_archive("/sandbox/out/a.txt")
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            [member] = tar.getmembers()
            assert member.name == "a.txt" and member.mode == 0o640
            assert tar.extractfile(member).read() == b"hello"  # type: ignore[union-attr]
        assert stat["name"] == "a.txt" and stat["size"] == 5 and stat["mode"] & 0o777 == 0o640
        data, stat = session.get_archive("/sandbox/out")
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            names = sorted(m.name for m in tar.getmembers())
            assert names[0] == "out" and "out/a.txt" in names and "out/sub/b.txt" in names
            assert tar.extractfile("out/sub/b.txt").read() == b"deep"  # type: ignore[union-attr]
        assert stat["name"] == "out" and stat["mode"] & 0o040000
        with pytest.raises(FileNotFoundError):
            session.get_archive("/sandbox/no-such-path")
        session.environment_setup()  # the daemon did it: nothing left to do, the sandbox is as it was
        assert session.execute_command("/tmp/venv/bin/python -c 'print(6 * 7)'").stdout == "42\n"
    with pytest.raises(NotOpenSessionError):
        session.environment_setup()


def test_backend_session_classes_take_llm_sandbox_arguments_in_its_order() -> None:
    from sandboxd.docker import SandboxDockerSession

    class DockerClient:  # docker.from_env(), as llm-sandbox users pass it first
        pass

    # llm-sandbox's positional order: client, image, dockerfile, lang.
    with SandboxDockerSession(DockerClient(), None, None, "ruby", execution_timeout=30) as session:
        assert session.lang == "ruby" and session.options.execution_timeout == 30
        assert session.run('puts "from ruby"').stdout == "from ruby\n"


@pytest.mark.skipif(BACKEND in ("kubernetes", "podman"), reason="checks that the other backends' classes are refused by this daemon")
def test_backend_session_classes_of_another_engine_fail_clearly() -> None:
    from sandboxd.kubernetes import SandboxKubernetesSession
    from sandboxd.podman import SandboxPodmanSession

    with pytest.raises(UnsupportedBackendError, match="kubernetes"):
        SandboxKubernetesSession(image=None, lang="python", kube_namespace="ml").open()
    with pytest.raises(UnsupportedBackendError, match="podman"):
        SandboxPodmanSession(lang="python").open()


@pytest.mark.no_daemon
def test_small_names_of_the_api_reference() -> None:
    from sandboxd.exceptions import InvalidRegexPatternError, LanguageHandlerNotInitializedError
    from sandboxd.security import SecurityPattern

    assert SecurityPattern.validate_pattern(r"os\.system") == r"os\.system"
    with pytest.raises(InvalidRegexPatternError):
        SecurityPattern.validate_pattern("(unclosed")
    err = LanguageHandlerNotInitializedError(language="cobol")
    assert err.language == "cobol" and "cobol" in str(err)


@pytest.mark.no_daemon
def test_get_archive_rewraps_the_daemons_directory_tar_under_its_name_and_drops_unsafe_members() -> None:
    import io
    import tarfile

    from sandboxd._core import archive_of

    src = io.BytesIO()
    with tarfile.open(fileobj=src, mode="w") as tar:
        for name, data in (("a.txt", b"A"), ("../escape.txt", b"X")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    data, stat = archive_of("/sandbox/res/", True, 0o750, src.getvalue())
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert [(m.name, m.isdir()) for m in tar.getmembers()] == [("res", True), ("res/a.txt", False)]
    assert stat == {"name": "res", "size": 1, "mode": 0o040750, "mtime": "", "linkTarget": ""}
