"""``llm_sandbox.kubernetes``: ``SandboxKubernetesSession`` is a session with ``backend="kubernetes"``.

llm-sandbox's arguments in its order. ``pod_manifest`` is merged under the daemon's pod
(docs/kubernetes.md); ``kube_namespace`` and ``client`` (a CoreV1Api) are accepted and
ignored with one log line (pods go to the daemon's namespace); ``env_vars`` is the
sandbox's environment. A daemon that does not run Kubernetes refuses it at ``open()``
(``UnsupportedBackendError``).
"""

from __future__ import annotations

import inspect
from typing import Any

from ._core import backend_session_kwargs
from .const import SandboxBackend, SupportedLanguage
from .security import SecurityPolicy
from .session import SandboxSession

__all__ = ["SandboxKubernetesSession"]


class SandboxKubernetesSession(SandboxSession):
    """A sandbox on the daemon's Kubernetes backend, created as llm-sandbox's Kubernetes session is."""

    def __init__(
        self,
        client: Any = None,
        image: str | None = None,
        lang: str = SupportedLanguage.PYTHON,
        verbose: bool = False,
        kube_namespace: str = "default",
        env_vars: dict[str, str] | None = None,
        pod_manifest: dict[str, Any] | None = None,
        workdir: str = "/sandbox",
        security_policy: SecurityPolicy | str | None = None,
        default_timeout: float | None = None,
        execution_timeout: float | None = None,
        session_timeout: float | None = None,
        container_id: str | None = None,
        skip_environment_setup: bool = False,
        encoding_errors: str = "strict",
        **kwargs: Any,
    ) -> None:
        given = {k: v for k, v in locals().items() if k not in {"self", "kwargs", "__class__"}}
        super().__init__(SandboxBackend.KUBERNETES, **backend_session_kwargs(given, _DEFAULTS, kwargs))


_DEFAULTS = {p.name: p.default for p in inspect.signature(SandboxKubernetesSession.__init__).parameters.values() if p.default is not inspect.Parameter.empty}
