"""``llm_sandbox.pool.session``'s names."""

from .._pool import ArtifactPooledSandboxSession, PooledSandboxSession

__all__ = ["ArtifactPooledSandboxSession", "PooledSandboxSession"]
