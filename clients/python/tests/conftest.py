"""Starts a real sandboxd from this repository for the test session; real containers.

Set SANDBOXD_TEST_ADDRESS to test against a daemon that is already running instead.
Teardown fails the run if the daemon left a container behind.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(os.environ.get("SANDBOXD_REPO", Path(__file__).resolve().parents[3]))


@dataclass
class Daemon:
    address: str
    daemon_id: str
    log_file: Path | None

    def logs(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file else ""


def _containers(daemon_id: str, remove: bool = False) -> list[str]:
    # On the backend the integration tests use (SANDBOXD_TEST_BACKEND: Docker, Podman or Kubernetes).
    out = subprocess.run(
        ["node", "--import", "tsx", "test/helpers/leftovers-cli.ts", daemon_id, *(["--remove"] if remove else [])],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.split()


def start_daemon(extra_args: list[str] | None = None, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], Daemon]:
    # Not "test-": the integration suite removes every "test-*" daemon's containers at its start.
    daemon_id = f"e2e-py-{secrets.token_hex(4)}"
    log_dir = REPO_ROOT / ".cache" / "test-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_file = log_dir / f"{daemon_id}.log"
    log = log_file.open("ab")
    proc = subprocess.Popen(
        ["node", "--import", "tsx", "src/main.ts", "--listen", "127.0.0.1:0", "--daemon-id", daemon_id, "--shutdown-grace-ms", "5000", *(extra_args or [])],
        cwd=REPO_ROOT,
        stdout=log,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    assert proc.stderr is not None
    address: list[str] = []
    seen = bytearray()
    ready = threading.Event()

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            log.write(line)
            log.flush()
            if not address:
                seen.extend(line)
                m = re.search(rb"sandboxd listening on (\S+)", seen)
                if m:
                    address.append(m.group(1).decode())
                    ready.set()
        ready.set()

    threading.Thread(target=pump, daemon=True).start()
    if not ready.wait(60) or not address:
        proc.kill()
        raise RuntimeError(f"sandboxd did not start (exit {proc.poll()}); log: {log_file}\n{seen.decode(errors='replace')[-2000:]}")
    return proc, Daemon(address[0], daemon_id, log_file)


def stop_daemon(proc: subprocess.Popen[bytes], daemon: Daemon) -> list[str]:
    """Stops the daemon; returns (and removes) any container it left behind."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 10
    left = _containers(daemon.daemon_id)
    while left and time.monotonic() < deadline:
        time.sleep(0.5)
        left = _containers(daemon.daemon_id)
    if left:
        _containers(daemon.daemon_id, remove=True)
    return left


@pytest.fixture(scope="session")
def daemon() -> Iterator[Daemon]:
    external = os.environ.get("SANDBOXD_TEST_ADDRESS")
    if external:
        yield Daemon(external, "", None)
        return
    proc, d = start_daemon()
    try:
        yield d
    finally:
        left = stop_daemon(proc, d)
        if left:
            pytest.fail(f"sandboxd {d.daemon_id} left {len(left)} containers behind: {left}", pytrace=False)


@pytest.fixture(autouse=True)
def _daemon_env(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.node.get_closest_marker("no_daemon"):
        return
    daemon: Daemon = request.getfixturevalue("daemon")
    # The package reads SANDBOXD_ADDRESS like a user's program would.
    monkeypatch.setenv("SANDBOXD_ADDRESS", daemon.address)
    monkeypatch.delenv("SANDBOXD_TOKEN", raising=False)


def pytest_report_header() -> list[str]:
    return [f"sandboxd repo: {REPO_ROOT}", f"python: {sys.version.split()[0]}"]


# ---------------------------------------------------------------------------- features
# Some RPCs are still being built in the daemon. A test that needs one asks for it with
# @pytest.mark.feature("files"); when the daemon answers UNIMPLEMENTED the test is skipped
# with that reason in the summary, and SANDBOXD_TEST_REQUIRE_ALL=1 turns such skips into
# failures (for CI once every feature has landed).

FEATURE_PROBES = {
    "files": lambda c: c.download("", "/nonexistent"),
    "artifacts": lambda c: c.list_artifacts(""),
    "interactive": lambda c: c.list_sessions(),
    "policy": lambda c: c.check_code(__import__("sandboxd.v1.sandbox_service_pb2", fromlist=["x"]).CheckCodeRequest(language="python", code="x = 1")),
}
_feature_cache: dict[str, bool] = {}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "feature(name): needs a daemon feature that may not be implemented yet")
    config.addinivalue_line("markers", "no_daemon: a unit test; the session's daemon is not started for it")


def feature_available(name: str, address: str) -> bool:
    if name not in _feature_cache:
        from sandboxd import Client, UnimplementedError

        with Client(address) as c:
            try:
                FEATURE_PROBES[name](c)
                _feature_cache[name] = True
            except UnimplementedError:
                _feature_cache[name] = False
            except Exception:  # noqa: BLE001 - any other answer means the RPC exists
                _feature_cache[name] = True
    return _feature_cache[name]


@pytest.fixture(autouse=True)
def _require_features(request: pytest.FixtureRequest) -> None:
    for marker in request.node.iter_markers("feature"):
        name = marker.args[0]
        daemon: Daemon = request.getfixturevalue("daemon")
        if not feature_available(name, daemon.address):
            msg = f"daemon does not implement feature {name!r} yet (UNIMPLEMENTED)"
            if os.environ.get("SANDBOXD_TEST_REQUIRE_ALL") == "1":
                pytest.fail(msg)
            pytest.skip(msg)
