"""llm-sandbox's pool configuration, mapped onto the daemon's pool settings."""

from __future__ import annotations

import dataclasses
import logging
from enum import Enum
from typing import Any

from ..v1 import pool_service_pb2 as psvc

log = logging.getLogger("sandboxd")

_MAX_MS = 2**32 - 1  # the daemon's settings are uint32 milliseconds (about 49 days)


class ExhaustionStrategy(str, Enum):
    """What acquiring does when ``max_pool_size`` sandboxes of the pool exist and none is ready.

    FAIL_FAST: raise ``PoolExhaustedError`` at once.
    WAIT: wait until a place frees (a released sandbox is destroyed), for up to ``acquisition_timeout``.
    TEMPORARY: create a sandbox of the pool's spec outside the pool.
    """

    FAIL_FAST = "fail_fast"
    WAIT = "wait"
    TEMPORARY = "temporary"

    def to_proto(self) -> int:
        return _STRATEGIES[self]


_STRATEGIES = {
    ExhaustionStrategy.FAIL_FAST: psvc.EXHAUSTION_STRATEGY_FAIL_FAST,
    ExhaustionStrategy.WAIT: psvc.EXHAUSTION_STRATEGY_WAIT,
    ExhaustionStrategy.TEMPORARY: psvc.EXHAUSTION_STRATEGY_TEMPORARY,
}


def _ms(seconds: float | None) -> int:
    if seconds is None:
        return 0
    return max(1, min(_MAX_MS, round(seconds * 1000)))


@dataclasses.dataclass
class PoolConfig:
    """llm-sandbox's ``PoolConfig``: the same fields, defaults and checks (a bad value raises
    ``ValueError``). Times are in seconds; ``None`` means no limit.

    The pool lives in the daemon (``PoolService``): ``min_pool_size`` members are kept started
    there, and every acquisition hands out a sandbox that nobody used before. A released
    sandbox is destroyed, never returned to the pool, so ``max_container_uses`` is in effect
    always 1 whatever it is set to (state never passes from one user to the next).
    """

    max_pool_size: int = 10
    min_pool_size: int = 0
    idle_timeout: float | None = 300.0
    acquisition_timeout: float | None = 30.0
    health_check_interval: float = 60.0
    max_container_lifetime: float | None = 3600.0
    max_container_uses: int | None = None
    exhaustion_strategy: ExhaustionStrategy = ExhaustionStrategy.WAIT
    enable_prewarming: bool = True

    def __post_init__(self) -> None:
        self.exhaustion_strategy = ExhaustionStrategy(self.exhaustion_strategy)
        if self.max_pool_size < 1:
            raise ValueError(f"max_pool_size must be at least 1, got {self.max_pool_size}")
        if self.min_pool_size < 0:
            raise ValueError(f"min_pool_size must be at least 0, got {self.min_pool_size}")
        for name in ("idle_timeout", "acquisition_timeout", "max_container_lifetime"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be greater than 0 (or None for no limit), got {value}")
        if self.health_check_interval <= 0:
            raise ValueError(f"health_check_interval must be greater than 0, got {self.health_check_interval}")
        if self.max_container_uses is not None and self.max_container_uses < 1:
            raise ValueError(f"max_container_uses must be at least 1, got {self.max_container_uses}")
        if self.min_pool_size > self.max_pool_size:
            raise ValueError(f"min_pool_size ({self.min_pool_size}) cannot be greater than max_pool_size ({self.max_pool_size})")

    def model_dump(self) -> dict[str, Any]:
        """The fields as a dict (pydantic's name, which llm-sandbox's config has)."""
        return dataclasses.asdict(self)

    def to_settings(self) -> psvc.PoolSettings:
        """The daemon's settings for this config. Prewarming off keeps no member ready."""
        if self.max_container_uses not in (None, 1):
            log.info("sandboxd never reuses a sandbox: max_container_uses=%s acts as 1 (a released sandbox is destroyed)", self.max_container_uses)
        return psvc.PoolSettings(
            min_ready=self.min_pool_size if self.enable_prewarming else 0,
            max_size=self.max_pool_size,
            idle_timeout_ms=_ms(self.idle_timeout),
            max_lifetime_ms=_ms(self.max_container_lifetime),
            health_check_interval_ms=_ms(self.health_check_interval),
            exhaustion_strategy=self.exhaustion_strategy.to_proto(),
            acquisition_timeout_ms=_ms(self.acquisition_timeout),
        )
