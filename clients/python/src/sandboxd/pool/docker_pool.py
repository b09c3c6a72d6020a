"""``llm_sandbox.pool.docker_pool``'s name."""

from .._pool import DockerPoolManager

__all__ = ["DockerPoolManager"]
