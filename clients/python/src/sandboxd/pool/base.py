"""``llm_sandbox.pool.base``'s names."""

from .._pool import ContainerPoolManager
from .container import ContainerState, PooledContainer

__all__ = ["ContainerPoolManager", "ContainerState", "PooledContainer"]
