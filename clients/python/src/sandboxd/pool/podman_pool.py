"""``llm_sandbox.pool.podman_pool``'s name."""

from .._pool import PodmanPoolManager

__all__ = ["PodmanPoolManager"]
