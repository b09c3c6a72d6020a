"""``llm_sandbox.pool.kubernetes_pool``'s name."""

from .._pool import KubernetesPoolManager

__all__ = ["KubernetesPoolManager"]
