"""``llm_sandbox.core.session_base``: ``BaseSession`` is the class every session derives from.

Here that is :class:`sandboxd.SandboxSession` (a daemon-hosted sandbox): ``ArtifactSandboxSession``
and ``InteractiveSandboxSession`` are ``BaseSession`` instances too, and code annotated with
``BaseSession`` accepts what ``create_session`` returns.
"""

from __future__ import annotations

from ..session import SandboxSession as BaseSession

__all__ = ["BaseSession"]
