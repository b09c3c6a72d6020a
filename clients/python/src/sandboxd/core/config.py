"""``llm_sandbox.core.config``: ``SessionConfig`` is what ``session.config`` holds."""

from __future__ import annotations

from .._core import SessionOptions as SessionConfig

__all__ = ["SessionConfig"]
