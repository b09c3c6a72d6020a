"""``llm_sandbox.docker``: ``SandboxDockerSession`` is a session with ``backend="docker"``.

It takes llm-sandbox's arguments in llm-sandbox's order (so positional calls keep their
meaning); ``client`` (a docker client), ``stream`` and ``skip_environment_setup`` are
accepted and ignored, as everywhere in sandboxd. The daemon's backend runs the sandbox.
"""

from __future__ import annotations

import inspect
from typing import Any

from ._core import backend_session_kwargs
from .const import SandboxBackend, SupportedLanguage
from .security import SecurityPolicy
from .session import SandboxSession

__all__ = ["SandboxDockerSession"]


class SandboxDockerSession(SandboxSession):
    """A sandbox on the daemon, created as llm-sandbox's Docker session is."""

    def __init__(
        self,
        client: Any = None,
        image: str | None = None,
        dockerfile: str | None = None,
        lang: str = SupportedLanguage.PYTHON,
        keep_template: bool = False,
        commit_container: bool = False,
        verbose: bool = False,
        stream: bool = False,
        runtime_configs: dict[str, Any] | None = None,
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
        super().__init__(SandboxBackend.DOCKER, **backend_session_kwargs(given, _DEFAULTS, kwargs))


_DEFAULTS = {p.name: p.default for p in inspect.signature(SandboxDockerSession.__init__).parameters.values() if p.default is not inspect.Parameter.empty}
