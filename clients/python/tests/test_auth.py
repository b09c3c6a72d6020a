"""C18: bearer tokens and tenants, against a second daemon started with two tenants."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest

from conftest import Daemon, start_daemon, stop_daemon
from sandboxd import AuthenticationError, Client, SandboxNotFoundError, SandboxSession
from sandboxd.v1 import common_pb2


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@pytest.fixture(scope="module")
def auth_daemon() -> Iterator[Daemon]:
    tokens = f"alpha:{_hash('alpha-secret')},beta:{_hash('beta-secret')}"
    proc, d = start_daemon(env={"SANDBOXD_AUTH__TOKENS": tokens})
    try:
        yield d
    finally:
        left = stop_daemon(proc, d)
        assert not left, f"left containers behind: {left}"


def test_c18_tokens_and_tenants(auth_daemon: Daemon, monkeypatch: pytest.MonkeyPatch) -> None:
    with Client(auth_daemon.address) as anon:
        with pytest.raises(AuthenticationError) as info:
            anon.list_sandboxes()
        assert info.value.code.name == "UNAUTHENTICATED"
    with Client(auth_daemon.address, token="wrong") as wrong, pytest.raises(AuthenticationError):
        wrong.list_sandboxes()

    monkeypatch.setenv("SANDBOXD_TOKEN", "alpha-secret")
    with SandboxSession(lang="python", address=auth_daemon.address) as alpha:
        assert alpha.run("print('alpha')").stdout == "alpha\n"
        with Client(auth_daemon.address, token="beta-secret") as beta:
            assert alpha.sandbox_id not in [s.id for s in beta.list_sandboxes()]
            with pytest.raises(SandboxNotFoundError):
                beta.get_sandbox(alpha.sandbox_id)
            with pytest.raises(SandboxNotFoundError):
                list(beta.run(__import__("sandboxd.v1.sandbox_service_pb2", fromlist=["x"]).RunRequest(sandbox_id=alpha.sandbox_id, code="print(1)")))
        assert isinstance(alpha.sandbox, common_pb2.Sandbox)
