"""llm-sandbox's container pools (``llm_sandbox.pool``), against a live daemon (issue 15, point 7).

Written from llm-sandbox's documented pool usage (its API reference, docs/container-pooling.md
and the usage its pool examples show): ``create_pool_manager`` with a ``PoolConfig``,
``SandboxSession(pool=...)``, ``acquire``/``release``, ``get_stats``, the exhaustion strategies
and ``close``. Where sandboxd differs on purpose, the test says so: a released sandbox is
destroyed, never handed to the next user.
"""

from __future__ import annotations

import base64
import threading
import time

import pytest

import sandboxd
import sandboxd.aio
import sandboxd.aio.pool
from sandboxd import ArtifactSandboxSession, Client, SandboxNotFoundError, SandboxSession, SandboxStateError, UnsupportedBackendError, ValidationError
from sandboxd.pool import (
    ArtifactPooledSandboxSession,
    ContainerPoolManager,
    ContainerState,
    ExhaustionStrategy,
    PoolClosedError,
    PoolConfig,
    PooledSandboxSession,
    PoolExhaustedError,
    create_pool_manager,
)
from sandboxd.v1 import common_pb2


def _wait_for(predicate, timeout: float = 90.0, what: str = "condition"):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.25)


def _gone(sandbox_id: str) -> bool:
    with Client() as client:
        try:
            return client.get_sandbox(sandbox_id).state == common_pb2.SANDBOX_STATE_DESTROYED
        except (SandboxNotFoundError, SandboxStateError):
            return True


@pytest.mark.no_daemon
def test_pool_config_checks_as_llm_sandbox_does() -> None:
    config = PoolConfig()
    assert (config.max_pool_size, config.min_pool_size, config.exhaustion_strategy) == (10, 0, ExhaustionStrategy.WAIT)
    assert (config.idle_timeout, config.acquisition_timeout, config.max_container_lifetime) == (300.0, 30.0, 3600.0)
    with pytest.raises(ValueError, match=r"min_pool_size \(3\) cannot be greater than max_pool_size \(2\)"):
        PoolConfig(max_pool_size=2, min_pool_size=3)
    with pytest.raises(ValueError, match="max_pool_size"):
        PoolConfig(max_pool_size=0)
    with pytest.raises(ValueError, match="acquisition_timeout"):
        PoolConfig(acquisition_timeout=0)
    assert PoolConfig(exhaustion_strategy="fail_fast").exhaustion_strategy is ExhaustionStrategy.FAIL_FAST
    settings = PoolConfig(max_pool_size=4, min_pool_size=2, acquisition_timeout=None, enable_prewarming=False).to_settings()
    assert (settings.max_size, settings.min_ready, settings.acquisition_timeout_ms) == (4, 0, 0), "no prewarming keeps none ready"


def test_a_pool_prewarms_and_a_session_gets_a_ready_sandbox_nobody_used() -> None:
    # docs/container-pooling.md: create the pool, use it in sessions, close it.
    pool = create_pool_manager(backend="docker", config=PoolConfig(max_pool_size=3, min_pool_size=2), lang="python")
    try:
        stats = _wait_for(lambda: (s := pool.get_stats())["state_counts"]["idle"] >= 2 and s, what="two warm sandboxes")
        assert (stats["max_size"], stats["min_size"], stats["closed"]) == (3, 2, False)
        assert set(stats["state_counts"]) == {s.value for s in ContainerState}
        assert stats["total_size"] >= 2

        with SandboxSession(lang="python", pool=pool) as first:
            assert first.sandbox.from_pool and first.sandbox.pool_id == pool.pool_id
            assert first.container.id == first.sandbox.container_id, "container.id is the engine's id, as for any session"
            assert pool.get_stats()["state_counts"]["busy"] == 1
            out = first.run("open('/tmp/secret', 'w').write('left by user 1'); print('written')")
            assert out.exit_code == 0 and out.stdout == "written\n", out.stderr
            first_id = first.sandbox_id
        assert _wait_for(lambda: _gone(first_id), what="the released sandbox to be destroyed")

        with SandboxSession(lang="python", pool=pool) as second:
            assert second.sandbox_id != first_id, "a sandbox is never handed out twice"
            out = second.run("import os; print(os.path.exists('/tmp/secret'))")
            assert out.stdout == "False\n", "nothing of the previous user is left"
        # The pool refills to min_pool_size after the hand-outs.
        _wait_for(lambda: pool.get_stats()["state_counts"]["idle"] >= 2, what="the pool to refill")
        assert pool.get_stats()["hits"] >= 2
    finally:
        pool.close()
    assert pool.get_stats()["closed"] is True


def test_acquire_and_release_by_hand() -> None:
    # llm-sandbox's pool_monitoring usage: acquire() a container, watch the stats, release() it.
    with create_pool_manager(backend="docker", config=PoolConfig(max_pool_size=2, min_pool_size=1), lang="python") as pool:
        container = pool.acquire()
        assert container.state is ContainerState.BUSY and container.use_count == 1
        assert container.container_id == container.container.container_id
        assert pool.get_stats()["state_counts"]["busy"] == 1
        # The acquired sandbox is usable from any session, by its container id.
        with SandboxSession(lang="python", container_id=container.container_id) as session:
            assert session.run("print(6 * 7)").stdout == "42\n"
        pool.release(container)
        assert container.state is ContainerState.REMOVING
        assert _wait_for(lambda: _gone(container.sandbox_id), what="the released sandbox to be destroyed")
        pool.release(container)  # twice is harmless
        assert pool.get_stats()["state_counts"]["busy"] == 0


def test_fail_fast_raises_pool_exhausted_at_once() -> None:
    config = PoolConfig(max_pool_size=1, min_pool_size=0, exhaustion_strategy=ExhaustionStrategy.FAIL_FAST)
    pool = create_pool_manager(backend="docker", config=config, lang="python")
    try:
        held = pool.acquire()
        started = time.monotonic()
        with pytest.raises(PoolExhaustedError) as info:
            pool.acquire()
        assert time.monotonic() - started < 10
        assert info.value.pool_size == 1 and info.value.timeout is None
        assert "All 1 containers in pool are busy" in str(info.value)
        assert pool.get_stats()["exhausted"] == 1
        pool.release(held)
        again = pool.acquire()  # the freed place is usable
        pool.release(again)
    finally:
        pool.close()


def test_wait_honours_acquisition_timeout_and_is_woken_by_a_release() -> None:
    config = PoolConfig(max_pool_size=1, min_pool_size=0, exhaustion_strategy=ExhaustionStrategy.WAIT, acquisition_timeout=2)
    pool = create_pool_manager(backend="docker", config=config, lang="python")
    try:
        held = pool.acquire()
        started = time.monotonic()
        with pytest.raises(PoolExhaustedError) as info:
            pool.acquire()
        waited = time.monotonic() - started
        assert 1.5 <= waited < 30, f"waited {waited:.1f}s for a 2 s acquisition_timeout"
        assert info.value.timeout == 2 and "timeout of 2s exceeded" in str(info.value)

        # A waiter gets the place a release frees.
        threading.Timer(0.5, pool.release, args=(held,)).start()
        config.acquisition_timeout = 60
        pool.client.update_pool(pool.pool_id, config.to_settings())
        got = pool.acquire()
        assert got.sandbox_id != held.sandbox_id
        pool.release(got)
    finally:
        pool.close()


def test_temporary_gives_a_sandbox_outside_the_pool() -> None:
    config = PoolConfig(max_pool_size=1, min_pool_size=0, exhaustion_strategy=ExhaustionStrategy.TEMPORARY)
    pool = create_pool_manager(backend="docker", config=config, lang="python")
    try:
        held = pool.acquire()
        extra = pool.acquire()
        assert extra.container.pool_id == "" and held.container.pool_id == pool.pool_id
        assert pool.get_stats()["temporary"] == 1
        with SandboxSession(lang="python", container_id=extra.container_id) as session:
            assert session.run("print('temporary')").stdout == "temporary\n"
        pool.release(extra)
        pool.release(held)
        assert _wait_for(lambda: _gone(extra.sandbox_id), what="the temporary sandbox to be destroyed")
    finally:
        pool.close()


def test_close_destroys_what_was_acquired_and_refuses_more() -> None:
    pool = create_pool_manager(backend="docker", config=PoolConfig(max_pool_size=2, min_pool_size=1), lang="python")
    held = pool.acquire()
    pool.close()
    assert _wait_for(lambda: _gone(held.sandbox_id), what="close() to destroy the acquired sandbox")
    with pytest.raises(PoolClosedError):
        pool.acquire()
    with pytest.raises(PoolClosedError), SandboxSession(pool=pool):
        pass
    pool.close()  # twice is harmless
    with Client() as client:
        assert pool.pool_id not in [p.id for p in client.list_pools()]


@pytest.mark.feature("artifacts")
def test_pooled_artifact_sessions_with_libraries() -> None:
    # llm-sandbox's pool_artifact usage: a pool with libraries, ArtifactSandboxSession(pool=...).
    pool = create_pool_manager(
        backend="docker",
        config=PoolConfig(max_pool_size=2, min_pool_size=1, exhaustion_strategy=ExhaustionStrategy.WAIT),
        lang="python",
        libraries=["matplotlib", "numpy"],  # in the image: the sandbox has no network
    )
    try:
        assert list(pool.pool.libraries) == ["matplotlib", "numpy"]
        code = "import matplotlib.pyplot as plt\nimport numpy as np\nplt.plot(np.arange(3))\nplt.show()\nprint('plotted')"
        with ArtifactSandboxSession(pool=pool) as session:
            result = session.run(code)
            assert result.stdout == "plotted\n", result.stderr
            assert len(result.plots) == 1 and base64.b64decode(result.plots[0].content_base64).startswith(b"\x89PNG")
            assert len(session.run(code).plots) == 2, "plots accumulate, as in any artifact session"
        with ArtifactPooledSandboxSession(pool_manager=pool, enable_plotting=True) as session:
            assert len(session.run(code).plots) == 1, "a fresh sandbox: no plot of the previous session"
    finally:
        pool.close()


def test_pooled_session_arguments() -> None:
    pool = create_pool_manager(backend="docker", config=PoolConfig(max_pool_size=2, min_pool_size=0), lang="python")
    try:
        with PooledSandboxSession(pool_manager=pool, session_timeout=600, execution_timeout=30) as session:
            assert session.lang == "python" and session.backend_session is session
            assert session.sandbox.expires_at.seconds > 0, "session_timeout is the acquired sandbox's lifetime"
            assert session.execute_command("echo pooled").stdout == "pooled\n"
        with pytest.raises(ValidationError, match="give security_policy to create_pool_manager"):
            PooledSandboxSession(pool_manager=pool, security_policy=sandboxd.get_security_policy("production"))
    finally:
        pool.close()


def test_a_pool_asked_for_on_another_backend_fails_clearly() -> None:
    with Client() as client:
        probe = client.create_sandbox(common_pb2.SandboxSpec(language="python"))
        client.destroy_sandbox(probe.id)
    other = "podman" if probe.backend != common_pb2.BACKEND_PODMAN else "kubernetes"
    pool = create_pool_manager(backend=other, config=PoolConfig(max_pool_size=1), lang="python")
    try:
        with pytest.raises(UnsupportedBackendError, match=f"backend '{other}' was asked for"):
            pool.acquire()
        assert pool.get_stats()["state_counts"]["busy"] == 0
    finally:
        pool.close()


def test_manager_made_directly_creates_its_daemon_pool_on_first_use() -> None:
    pool = ContainerPoolManager(config=PoolConfig(max_pool_size=1), lang="python")
    assert pool.pool_id == ""
    try:
        container = pool.acquire()
        assert pool.pool_id and container.container.pool_id == pool.pool_id
        pool.release(container)
    finally:
        pool.close()


async def test_asyncio_flavour() -> None:
    pool = await sandboxd.aio.pool.create_pool_manager(backend="docker", config=PoolConfig(max_pool_size=2, min_pool_size=1), lang="python")
    try:
        async with sandboxd.aio.SandboxSession(pool=pool) as session:
            assert session.sandbox.pool_id == pool.pool_id
            assert (await session.run("print('async pool')")).stdout == "async pool\n"
        stats = await pool.get_stats()
        assert stats["state_counts"]["busy"] == 0
    finally:
        await pool.close()
