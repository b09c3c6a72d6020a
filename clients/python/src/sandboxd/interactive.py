"""A persistent IPython kernel in a sandbox, as llm-sandbox's InteractiveSandboxSession."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from . import _core
from ._core import RunCollector, TextCallback
from .const import SandboxBackend, StrEnum, SupportedLanguage
from .data import ExecutionResult, PlotOutput
from .exceptions import LanguageNotSupportedError, NotOpenSessionError
from .session import SandboxSession
from .v1 import interactive_service_pb2 as isvc


class KernelType(StrEnum):
    """Kernels an interactive session can run."""

    STANDARD = "standard"
    IPYTHON = "ipython"


@dataclass
class InteractiveSettings:
    """Settings of an interactive session (llm-sandbox's names; timeout in seconds)."""

    kernel_type: KernelType = KernelType.IPYTHON
    max_memory: str | None = None
    history_size: int = 1000
    enable_magic: bool = True
    timeout: float | None = 300.0
    poll_interval: float = 0.1  # unused: the daemon streams, nothing polls

    def __post_init__(self) -> None:
        if self.history_size < 0:
            msg = "history_size must be non-negative"
            raise ValueError(msg)
        self.kernel_type = KernelType(self.kernel_type)

    def to_proto(self) -> isvc.SessionSettings:
        return isvc.SessionSettings(
            cell_timeout_ms=_core._seconds_to_ms(self.timeout),
            history_size=self.history_size,
            memory_limit_bytes=_core.parse_memory(self.max_memory) if self.max_memory else 0,
        )


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

    def open(self) -> None:
        super().open()
        if not self.session_id:
            try:
                session = self.client.create_session(
                    isvc.CreateSessionRequest(sandbox_id=self.sandbox_id, kind=isvc.SESSION_KIND_IPYTHON, settings=self.settings.to_proto())
                )
            except BaseException:
                super().close()
                raise
            self.session_id = session.id

    def close(self) -> None:
        sid, self.session_id = self.session_id, ""
        try:
            if sid and self.is_open:
                try:
                    self.client.close_session(sid)
                except Exception:  # noqa: BLE001 - the sandbox goes next; closing stays safe
                    pass
        finally:
            super().close()

    def __enter__(self) -> InteractiveSandboxSession:
        self.open()
        return self

    def run(  # type: ignore[override]
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
        self.install(libraries)
        collector = RunCollector(on_stdout, on_stderr)
        for event in self.client.session_run(self.session_id, code, _core._seconds_to_ms(timeout)):
            for callback, text in collector.feed(event):
                callback(text)
        limit = timeout if timeout is not None else self.settings.timeout
        out = collector.result(limit)
        if collector.errors and not out.stderr:
            err = collector.errors[0]
            out = dataclasses.replace(out, stderr="\n".join(err.traceback) or f"{err.name}: {err.value}")
        plots: list[PlotOutput] = []
        for artifact in collector.artifacts:
            meta, content = self.client.download_artifact(self.sandbox_id, artifact.id)
            plots.append(_core.plot_output(meta if meta.id else artifact, content))
        self.execution_count += 1
        return _core.execution_result(out, plots)

    def interrupt(self) -> bool:
        """Interrupts the running cell (KeyboardInterrupt in the kernel)."""
        return self.client.interrupt_session(self.session_id)

    def reset(self) -> None:
        """Clears the kernel's namespace (like ``%reset -f``)."""
        self.client.reset_session(self.session_id)

    def history(self, limit: int = 0) -> list[isvc.HistoryEntry]:
        return self.client.session_history(self.session_id, limit)
