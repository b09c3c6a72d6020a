"""llm-sandbox's container pools, hosted by the daemon's PoolService.

    from sandboxd.pool import PoolConfig, create_pool_manager   # was: from llm_sandbox.pool import ...

    pool = create_pool_manager(backend="docker", config=PoolConfig(max_pool_size=4, min_pool_size=2), lang="python")
    with SandboxSession(pool=pool) as session:
        print(session.run("print('warm')").stdout)
    pool.close()

The pool lives in the daemon, per tenant: it keeps ``min_pool_size`` sandboxes started and
hands each out once. Releasing a sandbox destroys it; the daemon starts a fresh one in its
place, so no file, process or variable of one user reaches the next (llm-sandbox returns
containers to the pool; here ``max_container_uses`` is in effect 1).
"""

from __future__ import annotations

import logging
import time
from types import TracebackType
from typing import Any

from ..const import SandboxBackend, SupportedLanguage
from ..exceptions import SandboxError, SandboxNotFoundError, UnsupportedBackendError
from ..pool.config import ExhaustionStrategy, PoolConfig
from ..pool.container import ContainerState, PooledContainer
from ..pool.exceptions import PoolClosedError, PoolExhaustedError
from ..security import SecurityPolicy
from ..v1 import common_pb2, pool_service_pb2 as psvc
from .._core import session_options
from .client import Client
from .session import ArtifactSandboxSession, SandboxSession

log = logging.getLogger("sandboxd")

_NO_LIMIT_S = 24 * 3600.0  # acquisition_timeout=None: wait this long at most for one call


class ContainerPoolManager:
    """A warm pool of sandboxes on the daemon, with llm-sandbox's manager API.

    ``config`` (``PoolConfig``), ``lang``, ``image`` and the session arguments the pool's
    sandboxes are created with (``runtime_configs``, ``security_policy``, ``libraries``,
    ``env_vars``, ...). sandboxd's own: ``address``, ``token``, ``client`` (a sandboxd
    ``Client``; a docker/podman/kubernetes client is accepted and ignored) and ``name``.
    The daemon pool is created on first use (``create_pool_manager`` creates it at once)
    and deleted, with every sandbox acquired from it, by ``close()``.
    """

    backend: SandboxBackend = SandboxBackend.DOCKER

    def __init__(
        self,
        client: Any = None,
        config: PoolConfig | None = None,
        lang: SupportedLanguage | str = SupportedLanguage.PYTHON,
        image: str | None = None,
        *,
        address: str | None = None,
        token: str | None = None,
        name: str = "",
        libraries: list[str] | None = None,
        **session_kwargs: Any,
    ) -> None:
        foreign: tuple[str, ...] = ()
        if client is not None and not isinstance(client, Client):
            foreign, client = ("client",), None  # llm-sandbox's engine client: not ours
        for key in ("namespace", "kube_namespace"):
            if session_kwargs.pop(key, None) is not None:
                foreign += (key,)
        self._owns_client = client is None
        self._client: Client | None = client
        self._address, self._token = address, token
        self.config = config or PoolConfig()
        self.lang = str(lang)
        self.image = image
        self.name = name
        self.libraries = list(libraries or [])
        session_kwargs.pop("verbose", None)
        self.session_kwargs = session_kwargs
        options = session_options({"backend": self.backend, "lang": self.lang, "image": image, **session_kwargs}, foreign)
        self.spec: common_pb2.SandboxSpec = options.to_spec()
        self.spec.ttl_ms = 0  # a member lives until acquired; session_timeout applies per session
        self.pool: psvc.Pool | None = None
        self._closed = False
        self._acquired: dict[str, PooledContainer] = {}
        self.logger = log

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = Client(self._address, self._token)
        return self._client

    @property
    def pool_id(self) -> str:
        return self.pool.id if self.pool is not None else ""

    async def start(self) -> psvc.Pool:
        """Creates the daemon pool (once); its ``min_pool_size`` members start warming."""
        if self._closed:
            raise PoolClosedError
        if self.pool is None:
            self.pool = await self.client.create_pool(self.spec, self.config.to_settings(), name=self.name, libraries=self.libraries)
            log.debug("pool %s created on the daemon", self.pool.id)
        return self.pool

    def _acquire_timeout(self) -> float:
        """The call's deadline: past the daemon's own wait, and room to start a sandbox."""
        if self.config.exhaustion_strategy != ExhaustionStrategy.WAIT:
            return 3600.0
        if self.config.acquisition_timeout is None:
            return _NO_LIMIT_S
        return self.config.acquisition_timeout + 600.0

    async def acquire(self, *, session_timeout: float | None = None, labels: dict[str, str] | None = None) -> PooledContainer:
        """A sandbox of the pool, used by nobody before: a ready member at once, else per the
        exhaustion strategy (``PoolExhaustedError``, waiting, or a temporary sandbox)."""
        pool_id = (await self.start()).id
        ttl_ms = round(session_timeout * 1000) if session_timeout else 0
        try:
            sandbox = await self.client.acquire_sandbox(pool_id, labels=labels, ttl_ms=ttl_ms, timeout=self._acquire_timeout())
        except SandboxError as err:
            if err.reason == "POOL_EXHAUSTED":
                waited = self.config.acquisition_timeout if self.config.exhaustion_strategy == ExhaustionStrategy.WAIT else None
                raise PoolExhaustedError(self.config.max_pool_size, waited, code=err.code, reason=err.reason, metadata=err.metadata) from None
            if err.reason == "POOL_CLOSED" or (self._closed and isinstance(err, SandboxNotFoundError)):
                raise PoolClosedError(code=err.code, reason=err.reason, metadata=err.metadata) from None
            raise
        if sandbox.backend and self.backend in (SandboxBackend.KUBERNETES, SandboxBackend.PODMAN) and sandbox.backend != self.backend.to_proto():
            await self.client.destroy_sandbox(sandbox.id)
            name = common_pb2.Backend.Name(sandbox.backend).removeprefix("BACKEND_").lower()
            msg = f"backend {self.backend.value!r} was asked for, but this sandboxd daemon runs its sandboxes on {name}"
            raise UnsupportedBackendError(self.backend.value, msg, reason="BACKEND_MISMATCH")
        container = PooledContainer(container_id=sandbox.container_id, container=sandbox, sandbox_id=sandbox.id, created_at=sandbox.created_at.ToSeconds() or time.time())
        container.mark_busy()
        self._acquired[sandbox.id] = container
        log.debug("acquired %s from pool %s (ready member: %s)", sandbox.id, pool_id, sandbox.from_pool)
        return container

    async def release(self, container: PooledContainer) -> None:
        """Gives the sandbox back: it is destroyed (never handed out again) and its place
        in the pool frees, for the daemon to start a fresh member and wake a waiter."""
        self._acquired.pop(container.sandbox_id, None)
        if container.state == ContainerState.REMOVING:
            return
        container.mark_removing()
        try:
            await self.client.destroy_sandbox(container.sandbox_id or container.container.id)
        except SandboxNotFoundError:  # already destroyed (the pool was closed, or its TTL ran out)
            log.debug("sandbox %s was already gone", container.sandbox_id)

    async def close(self) -> None:
        """Deletes the pool and the sandboxes acquired from it; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.pool is not None:
                await self.client.delete_pool(self.pool.id, destroy_sandboxes=True)
        finally:
            for container in self._acquired.values():
                container.mark_removing()
            self._acquired.clear()
            if self._owns_client and self._client is not None:
                await self._client.close()
                self._client = None

    async def get_stats(self) -> dict[str, Any]:
        """llm-sandbox's statistics (``total_size``, ``max_size``, ``min_size``,
        ``state_counts``, ``closed``) from the daemon's, plus the daemon's counters."""
        stats = psvc.PoolStats()
        if not self._closed:
            stats = (await self.client.get_pool((await self.start()).id)).stats
        return {
            "total_size": stats.ready + stats.creating + stats.in_use,
            "max_size": self.config.max_pool_size,
            "min_size": self.config.min_pool_size,
            "max_pool_size": self.config.max_pool_size,
            "state_counts": {
                ContainerState.INITIALIZING.value: stats.creating,
                ContainerState.IDLE.value: stats.ready,
                ContainerState.BUSY.value: stats.in_use,
                ContainerState.UNHEALTHY.value: 0,
                ContainerState.REMOVING.value: 0,
            },
            "closed": self._closed,
            "pool_id": self.pool_id,
            "hits": stats.hits,
            "misses": stats.misses,
            "temporary": stats.temporary,
            "exhausted": stats.exhausted,
            "recycled": stats.recycled,
            "waiting": stats.waiting,
        }

    async def __aenter__(self) -> ContainerPoolManager:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()


class DockerPoolManager(ContainerPoolManager):
    """A daemon pool asked for on Docker (the daemon's engine is what runs it)."""

    backend = SandboxBackend.DOCKER


class PodmanPoolManager(ContainerPoolManager):
    """A daemon pool that must run on Podman: acquiring fails if the daemon runs another engine."""

    backend = SandboxBackend.PODMAN


class KubernetesPoolManager(ContainerPoolManager):
    """A daemon pool that must run on Kubernetes: acquiring fails if the daemon runs another engine."""

    backend = SandboxBackend.KUBERNETES


_MANAGERS: dict[SandboxBackend, type[ContainerPoolManager]] = {
    SandboxBackend.DOCKER: DockerPoolManager,
    SandboxBackend.PODMAN: PodmanPoolManager,
    SandboxBackend.KUBERNETES: KubernetesPoolManager,
}


async def create_pool_manager(
    client: Any = None,
    backend: SandboxBackend | str = SandboxBackend.DOCKER,
    config: PoolConfig | None = None,
    lang: SupportedLanguage | str = SupportedLanguage.PYTHON,
    **kwargs: Any,
) -> ContainerPoolManager:
    """llm-sandbox's factory: a pool manager for ``backend``, its daemon pool created and warming."""
    try:
        kind = SandboxBackend(backend)
    except ValueError:
        raise UnsupportedBackendError(str(backend)) from None
    if kind not in _MANAGERS:
        raise UnsupportedBackendError(kind.value, f"pools are not available for the {kind.value} backend")
    manager = _MANAGERS[kind](client=client, config=config, lang=lang, **kwargs)
    await manager.start()
    return manager


class PooledSandboxSession(SandboxSession):
    """llm-sandbox's pooled session: ``open()`` acquires a sandbox from ``pool_manager``,
    ``close()`` releases it (destroys it). Same as ``SandboxSession(pool=pool_manager)``."""

    def __init__(
        self,
        pool_manager: ContainerPoolManager,
        verbose: bool = False,
        stream: bool = False,
        workdir: str = "/sandbox",
        security_policy: SecurityPolicy | None = None,
        default_timeout: float | None = None,
        execution_timeout: float | None = None,
        session_timeout: float | None = None,
        encoding_errors: str = "strict",
        **kwargs: Any,
    ) -> None:
        if stream:
            kwargs["stream"] = stream
        super().__init__(
            pool_manager.backend,
            pool=pool_manager,
            verbose=verbose,
            workdir=workdir,
            security_policy=security_policy,
            default_timeout=default_timeout,
            execution_timeout=execution_timeout,
            session_timeout=session_timeout,
            encoding_errors=encoding_errors,
            **kwargs,
        )

    @property
    def backend_session(self) -> PooledSandboxSession:
        """llm-sandbox's handle on the backend session: here the session itself."""
        return self


class ArtifactPooledSandboxSession(ArtifactSandboxSession):
    """llm-sandbox's pooled artifact session: plots as ``ArtifactSandboxSession`` gives them,
    on a sandbox acquired from ``pool_manager``."""

    def __init__(
        self,
        pool_manager: ContainerPoolManager,
        *,
        verbose: bool = False,
        stream: bool = False,
        workdir: str = "/sandbox",
        enable_plotting: bool = True,
        security_policy: SecurityPolicy | None = None,
        **kwargs: Any,
    ) -> None:
        if stream:
            kwargs["stream"] = stream
        super().__init__(
            pool_manager.backend,
            pool=pool_manager,
            lang=pool_manager.lang,
            verbose=verbose,
            workdir=workdir,
            enable_plotting=enable_plotting,
            security_policy=security_policy,
            **kwargs,
        )
