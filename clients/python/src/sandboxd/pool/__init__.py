"""llm-sandbox's container pools (``llm_sandbox.pool``), served by the daemon's PoolService.

The names and module paths are llm-sandbox's; the asyncio flavour is :mod:`sandboxd.aio.pool`.
A pooled sandbox is handed out once: ``release`` destroys it and the daemon starts a fresh
one, so nothing of one user reaches the next (docs/pools.md).
"""

from .config import ExhaustionStrategy, PoolConfig
from .container import ContainerState, PooledContainer
from .exceptions import PoolClosedError, PoolExhaustedError, PoolHealthCheckError, SessionNotOpenError
from .._pool import (  # noqa: I001 (after the modules it builds on)
    ArtifactPooledSandboxSession,
    ContainerPoolManager,
    DockerPoolManager,
    KubernetesPoolManager,
    PodmanPoolManager,
    PooledSandboxSession,
    create_pool_manager,
)

__all__ = [
    "ArtifactPooledSandboxSession",
    "ContainerPoolManager",
    "ContainerState",
    "DockerPoolManager",
    "ExhaustionStrategy",
    "KubernetesPoolManager",
    "PodmanPoolManager",
    "PoolClosedError",
    "PoolConfig",
    "PoolExhaustedError",
    "PoolHealthCheckError",
    "PooledContainer",
    "PooledSandboxSession",
    "SessionNotOpenError",
    "create_pool_manager",
]
