"""llm-sandbox's micromamba backend (MicromambaSession, SandboxBackend.MICROMAMBA) on a live daemon.

No micromamba binary can be had here (docs/micromamba.md): the image is built from a
Dockerfile with a stand-in ``micromamba`` on its PATH that implements ``micromamba run -n
NAME COMMAND...`` for two Python venvs, alpha and beta (the TypeScript integration test,
test/integration/command-wrapper.test.ts, uses the same stand-in).
"""

from __future__ import annotations

import inspect
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import sandboxd
from sandboxd import MicromambaSession, SandboxBackend, SandboxSession, create_session
from sandboxd.v1 import common_pb2

STAND_IN = """#!/bin/sh
# micromamba stand-in (sandboxd tests): only `run -n NAME COMMAND...`, for Python venvs.
root=/opt/envs
[ "$1" = run ] || { echo "micromamba (stand-in): only 'run -n NAME COMMAND...' is implemented" >&2; exit 2; }
shift
{ [ "$1" = -n ] && [ -n "$2" ]; } || { echo "micromamba (stand-in): run needs -n NAME" >&2; exit 2; }
name=$2; shift 2
[ -f "$root/$name/pyvenv.cfg" ] || { echo "critical libmamba environment '$name' does not exist (no prefix $root/$name)" >&2; exit 1; }
CONDA_PREFIX=$root/$name CONDA_DEFAULT_ENV=$name VIRTUAL_ENV=$root/$name PATH=$root/$name/bin:$PATH
export CONDA_PREFIX CONDA_DEFAULT_ENV VIRTUAL_ENV PATH
exec "$@"
"""

MAKE_ENVS = """set -e
for n in alpha beta; do
  python3 -m venv --system-site-packages --without-pip "/opt/envs/$n"
  sp=$("/opt/envs/$n/bin/python3" -c "import sysconfig; print(sysconfig.get_path('purelib'))")
  echo "NAME = '$n'" >"$sp/envmarker.py"
done
"""

DOCKERFILE = """FROM sandboxd/python:latest
USER root
COPY micromamba make-envs.sh /tmp/mm/
RUN install -m 0755 /tmp/mm/micromamba /usr/local/bin/micromamba && sh /tmp/mm/make-envs.sh && rm -rf /tmp/mm
USER 1000:1000
"""

PROBE = "import os, sys, envmarker\nprint(sys.prefix, envmarker.NAME, os.environ['CONDA_DEFAULT_ENV'])"

built_images: set[str] = set()


@pytest.fixture(scope="module")
def dockerfile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    d = tmp_path_factory.mktemp("micromamba-image")
    (d / "Dockerfile").write_text(DOCKERFILE)
    (d / "micromamba").write_text(STAND_IN)
    (d / "make-envs.sh").write_text(MAKE_ENVS)
    yield str(d / "Dockerfile")
    # The image the daemon built for these tests (the sessions are closed by now).
    docker = shutil.which("docker")
    for image in built_images:
        if docker and image.startswith("sandboxd-build/"):
            subprocess.run([docker, "image", "rm", "-f", image], capture_output=True, check=False)


def opened(session: SandboxSession) -> SandboxSession:
    if session.sandbox is not None:
        built_images.add(session.sandbox.image)
    return session


# --------------------------------------------------------------- without a daemon


@pytest.mark.no_daemon
def test_llm_sandbox_signature_and_defaults() -> None:
    session = MicromambaSession()
    assert session.environment == "base"
    assert session.config.image == "mambaorg/micromamba:latest"
    assert session.config.workdir == "/sandbox"
    assert str(session.config.lang) == "python"
    spec = session.options.to_spec()
    assert list(spec.command_wrapper) == ["micromamba", "run", "-n", "base"]
    assert spec.image == "mambaorg/micromamba:latest"
    # The daemon's own engine (Docker, Podman, Kubernetes): micromamba is an option of the sandbox.
    assert spec.backend == common_pb2.BACKEND_UNSPECIFIED


@pytest.mark.no_daemon
def test_parameters_are_llm_sandboxs_in_its_order() -> None:
    # llm_sandbox.micromamba.MicromambaSession.__init__ (llm-sandbox 0.3.x), positional order included.
    llm_sandbox = [
        "client", "image", "dockerfile", "lang", "keep_template", "verbose", "mounts", "environment", "commit_container", "stream",
        "runtime_configs", "workdir", "security_policy", "default_timeout", "execution_timeout", "session_timeout", "container_id",
        "skip_environment_setup", "kwargs",
    ]  # fmt: skip
    assert list(inspect.signature(MicromambaSession.__init__).parameters)[1:] == llm_sandbox


@pytest.mark.no_daemon
def test_imported_as_llm_sandbox_code_does_and_made_by_the_factory() -> None:
    from sandboxd.aio.micromamba import MicromambaSession as AsyncMicromambaSession
    from sandboxd.micromamba import MicromambaSession as FromModule

    assert FromModule is MicromambaSession is sandboxd.MicromambaSession
    assert AsyncMicromambaSession is sandboxd.aio.MicromambaSession
    made = create_session(backend=SandboxBackend.MICROMAMBA, image="my/mamba:1", environment="science")
    assert isinstance(made, MicromambaSession)
    assert made.environment == "science"
    assert list(made.options.to_spec().command_wrapper) == ["micromamba", "run", "-n", "science"]
    session = SandboxSession(backend=SandboxBackend.MICROMAMBA, environment="science")
    assert list(session.options.to_spec().command_wrapper) == ["micromamba", "run", "-n", "science"]
    assert list(SandboxSession(backend="micromamba").options.to_spec().command_wrapper) == ["micromamba", "run", "-n", "base"]


@pytest.mark.no_daemon
def test_environment_needs_the_micromamba_backend_and_any_wrapper_can_be_given() -> None:
    with pytest.raises(TypeError, match="backend=SandboxBackend.MICROMAMBA"):
        SandboxSession(environment="science")
    assert list(SandboxSession(command_wrapper=["env", "A=1"]).options.to_spec().command_wrapper) == ["env", "A=1"]
    assert list(SandboxSession().options.to_spec().command_wrapper) == []
    # With a Dockerfile, the image is what it builds.
    assert MicromambaSession(dockerfile="/nonexistent/Dockerfile").config.image is None


# --------------------------------------------------------------- on the daemon


def test_runs_commands_and_installs_in_the_named_environment(dockerfile: str, tmp_path: Path) -> None:
    with MicromambaSession(dockerfile=dockerfile, environment="alpha", lang="python") as session:
        opened(session)
        result = session.run(PROBE)
        assert (result.exit_code, result.stdout, result.stderr) == (0, "/opt/envs/alpha alpha alpha\n", "")
        cmd = session.execute_command('echo "$CONDA_DEFAULT_ENV"; command -v python3')
        assert (cmd.exit_code, cmd.stdout) == (0, "alpha\n/opt/envs/alpha/bin/python3\n")
        # A wheel copied in (copies are not wrapped), installed by the environment's pip.
        wheel = tmp_path / "mambapy-1.0-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as z:
            z.writestr("mambapy/__init__.py", "X = 7\n")
            z.writestr("mambapy-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: mambapy\nVersion: 1.0\n")
            z.writestr("mambapy-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: t\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
            z.writestr("mambapy-1.0.dist-info/RECORD", "")
        session.copy_to_runtime(str(wheel), f"/sandbox/{wheel.name}")
        installed = session.install([f"/sandbox/{wheel.name}"])
        assert installed is not None and installed.exit_code == 0
        # The environment is read-only in a sandbox (read-only root): its pip used the user site.
        assert "Defaulting to user installation because normal site-packages is not writeable" in installed.stdout
        assert session.run("import sys, mambapy\nprint(sys.prefix, mambapy.X)").stdout == "/opt/envs/alpha 7\n"


def test_sandbox_session_with_the_micromamba_backend(dockerfile: str) -> None:
    with SandboxSession(backend=SandboxBackend.MICROMAMBA, environment="beta", dockerfile=dockerfile) as session:
        opened(session)
        assert session.run(PROBE).stdout == "/opt/envs/beta beta beta\n"
        assert session.sandbox is not None and list(session.sandbox.spec.command_wrapper) == ["micromamba", "run", "-n", "beta"]


def test_an_environment_that_does_not_exist_fails_each_run_clearly(dockerfile: str) -> None:
    with MicromambaSession(dockerfile=dockerfile, environment="gamma") as session:
        opened(session)
        result = session.run("print('ran anyway')")
        assert result.exit_code == 1
        assert result.stdout == ""
        assert "environment 'gamma' does not exist" in result.stderr
        assert session.execute_command("echo ran anyway").exit_code == 1
