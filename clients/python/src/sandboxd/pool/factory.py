"""``llm_sandbox.pool.factory``'s names."""

from .._pool import create_pool_manager

__all__ = ["create_pool_manager"]
