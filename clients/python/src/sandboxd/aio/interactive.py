"""A persistent IPython kernel in a sandbox, as llm-sandbox's InteractiveSandboxSession."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from .. import _core
from .._core import InteractiveSettings, TextCallback
from ..const import KernelType, SandboxBackend, SupportedLanguage
from ..data import CellEvent, CellResult, ExecutionResult
from ..exceptions import LanguageNotSupportedError, NotOpenSessionError
from ..v1 import interactive_service_pb2 as isvc
from .session import ExecuteStream, SandboxSession, _collect

__all__ = ["CellEvent", "CellResult", "ExecuteStream", "InteractiveSandboxSession", "InteractiveSettings", "KernelType"]


class InteractiveSandboxSession(SandboxSession):
    """Runs cells in one IPython shell: variables, imports and functions persist.

    Everything a ``SandboxSession`` does (commands, files, installs) works on the same
    sandbox. Closing the session ends the kernel and destroys the sandbox it created.
    """

    def __init__(
        self,
        *,
        backend: SandboxBackend | str = SandboxBackend.DOCKER,
        lang: str | SupportedLanguage = SupportedLanguage.PYTHON,
        kernel_type: KernelType | str = KernelType.IPYTHON,
        max_memory: str | None = "1GB",
        history_size: int = 1000,
        enable_magic: bool = True,
        timeout: float | None = 300.0,
        runtime_configs: dict[str, Any] | None = None,
        interactive_settings: InteractiveSettings | None = None,
        **kwargs: Any,
    ) -> None:
        if str(lang).lower() != SupportedLanguage.PYTHON:
            raise LanguageNotSupportedError(str(lang))
        self.settings = interactive_settings or InteractiveSettings(
            kernel_type=KernelType(kernel_type), max_memory=max_memory, history_size=history_size, enable_magic=enable_magic, timeout=timeout
        )
        super().__init__(backend, lang=SupportedLanguage.PYTHON, runtime_configs=runtime_configs, **kwargs)
        self.session_id = ""
        self.execution_count = 0

    async def open(self) -> None:
        await super().open()
        if not self.session_id:
            try:
                session = await self.client.create_session(
                    isvc.CreateSessionRequest(sandbox_id=self.sandbox_id, kind=isvc.SESSION_KIND_IPYTHON, settings=self.settings.to_proto())
                )
            except BaseException:
                await super().close()
                raise
            self.session_id = session.id

    async def close(self) -> None:
        sid, self.session_id = self.session_id, ""
        try:
            if sid and self.is_open:
                try:
                    await self.client.close_session(sid)
                except Exception:  # noqa: BLE001 - the sandbox goes next; closing stays safe
                    pass
        finally:
            await super().close()

    async def __aenter__(self) -> InteractiveSandboxSession:
        await self.open()
        return self

    async def run(  # type: ignore[override]
        self,
        code: str,
        libraries: list[str] | None = None,
        timeout: float | None = None,
        on_stdout: TextCallback | None = None,
        on_stderr: TextCallback | None = None,
    ) -> ExecutionResult:
        """Runs one cell. A cell that raises returns exit code 1 with the traceback in stderr."""
        if not self.session_id:
            raise NotOpenSessionError
        self._require_open()  # session_timeout
        await self.install(libraries)
        collector = await _collect(self.client.session_run(self.session_id, code, _core._seconds_to_ms(timeout)), self._collector(on_stdout, on_stderr))
        out = collector.result(timeout if timeout is not None else self.settings.timeout)
        if collector.errors and not out.stderr:
            err = collector.errors[0]
            out = dataclasses.replace(out, stderr="\n".join(err.traceback) or f"{err.name}: {err.value}")
        plots = await self._download_plots(collector.artifacts)
        self.execution_count += 1
        return _core.execution_result(out, plots)

    async def interrupt(self) -> bool:
        """Interrupts the running cell (KeyboardInterrupt in the kernel)."""
        return await self.client.interrupt_session(self.session_id)

    def execute(self, cells: Iterable[str] | None = None, *, close_grace: float = 10.0) -> ExecuteStream:
        """A bidirectional ``Execute`` stream on this kernel (see ``ExecuteStream``): send
        cells, interrupt them, read their events tagged by cell id. ``cells`` are sent at once
        and the stream half-closed after them."""
        if not self.session_id:
            raise NotOpenSessionError
        self._require_open()
        return ExecuteStream(self.client, self.session_id, cells, close_grace=close_grace)

    async def reset(self) -> None:
        """Clears the kernel's namespace (like ``%reset -f``)."""
        await self.client.reset_session(self.session_id)

    async def history(self, limit: int = 0) -> list[isvc.HistoryEntry]:
        return await self.client.session_history(self.session_id, limit)
