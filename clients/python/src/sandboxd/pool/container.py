"""llm-sandbox's pooled-container record: a sandbox handed out by a daemon pool."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class ContainerState(str, Enum):
    """llm-sandbox's states of a pooled container. In the daemon a member goes
    INITIALIZING -> IDLE (ready) -> BUSY (handed out) -> REMOVING (destroyed on release):
    it never returns to IDLE. UNHEALTHY members are replaced by the daemon itself."""

    INITIALIZING = "initializing"
    IDLE = "idle"
    BUSY = "busy"
    UNHEALTHY = "unhealthy"
    REMOVING = "removing"


@dataclass
class PooledContainer:
    """A sandbox acquired from a pool. ``container_id`` is the engine's container id (what
    ``SandboxSession(container_id=...)`` takes), ``container`` the daemon's ``Sandbox``
    record, ``sandbox_id`` sandboxd's id for it."""

    container_id: str
    container: Any
    state: ContainerState = ContainerState.INITIALIZING
    created_at: float = field(default_factory=time.time)
    last_used_at: float = field(default_factory=time.time)
    use_count: int = 0
    sandbox_id: str = ""

    def mark_busy(self) -> None:
        self.state = ContainerState.BUSY
        self.last_used_at = time.time()
        self.use_count += 1

    def mark_idle(self) -> None:
        self.state = ContainerState.IDLE
        self.last_used_at = time.time()

    def mark_unhealthy(self) -> None:
        self.state = ContainerState.UNHEALTHY

    def mark_removing(self) -> None:
        self.state = ContainerState.REMOVING

    def is_available(self) -> bool:
        return self.state == ContainerState.IDLE

    def is_expired(self, max_lifetime: float | None, max_uses: int | None) -> bool:
        """llm-sandbox's check; a handed-out sandbox is used once, so after use it always is."""
        if max_lifetime is not None and time.time() - self.created_at > max_lifetime:
            return True
        return self.use_count >= 1 if max_uses is None else self.use_count >= max_uses

    def get_idle_time(self) -> float:
        return time.time() - self.last_used_at
