"""``llm_sandbox.podman``: ``SandboxPodmanSession`` is a session with ``backend="podman"``.

llm-sandbox's arguments in its order; ``client`` (a podman client), ``stream`` and
``skip_environment_setup`` are accepted and ignored, ``mounts`` warns (no host path is
mounted). A daemon that does not run Podman refuses it at ``open()``
(``UnsupportedBackendError``), as ``SandboxSession(backend="podman")`` does.
"""

from __future__ import annotations

import inspect
from typing import Any

from ._core import backend_session_kwargs
from .const import SandboxBackend, SupportedLanguage
from .security import SecurityPolicy
from .session import SandboxSession

__all__ = ["SandboxPodmanSession"]


class SandboxPodmanSession(SandboxSession):
    """A sandbox on the daemon's Podman backend, created as llm-sandbox's Podman session is."""

    def __init__(
        self,
        client: Any = None,
        image: str | None = None,
        dockerfile: str | None = None,
        lang: str = SupportedLanguage.PYTHON,
        keep_template: bool = False,
        commit_container: bool = False,
        verbose: bool = False,
        mounts: list[Any] | None = None,
        stream: bool = False,
        runtime_configs: dict[str, Any] | None = None,
        workdir: str | None = "/sandbox",
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
        super().__init__(SandboxBackend.PODMAN, **backend_session_kwargs(given, _DEFAULTS, kwargs))


_DEFAULTS = {p.name: p.default for p in inspect.signature(SandboxPodmanSession.__init__).parameters.values() if p.default is not inspect.Parameter.empty}
