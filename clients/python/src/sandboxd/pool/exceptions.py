"""llm-sandbox's pool exceptions, as sandboxd errors (each also its nearest sandboxd class)."""

from __future__ import annotations

from typing import Any

from ..exceptions import ContainerError, NotOpenSessionError, ResourceError, SandboxStateError


class PoolExhaustedError(ResourceError):
    """Every place of the pool is taken and the strategy gives none (FAIL_FAST, or WAIT past
    ``acquisition_timeout``). ``pool_size`` and ``timeout`` as in llm-sandbox."""

    def __init__(self, pool_size: int, timeout: float | None = None, message: str | None = None, **info: Any) -> None:
        if message is None:
            message = f"All {pool_size} containers in pool are busy" + (f" and timeout of {timeout}s exceeded" if timeout is not None else "")
        super().__init__(message, **info)
        self.pool_size = pool_size
        self.timeout = timeout


class PoolClosedError(SandboxStateError):
    """The pool was closed (or deleted on the daemon)."""

    def __init__(self, message: str | None = None, **info: Any) -> None:
        super().__init__(message or "Container pool has been closed", **info)


class PoolHealthCheckError(ContainerError):
    """A pooled sandbox failed its health check (the daemon replaces such members itself)."""

    def __init__(self, container_id: str, reason: str, **info: Any) -> None:
        super().__init__(f"Health check failed for container {container_id}: {reason}", **info)
        self.container_id = container_id
        self.reason = reason


class SessionNotOpenError(NotOpenSessionError, RuntimeError):
    """A pooled session was used before ``open()`` (llm-sandbox's name; a ``NotOpenSessionError``)."""

    def __init__(self, message: str | None = None, **info: Any) -> None:
        super().__init__(message or "Session not open - call open() first or use context manager", **info)
