"""asyncio sessions: the sync API of :mod:`sandboxd.session`, every call awaited.

Output callbacks may be plain functions or coroutines.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from .. import _core
from .._core import RunCollector, TextCallback, session_options
from ..const import SandboxBackend, SupportedLanguage
from ..data import ConsoleOutput, ExecutionResult, PlotOutput
from ..exceptions import CommandEmptyError, LanguageNotSupportedError, NotOpenSessionError
from ..interactive import InteractiveSettings, KernelType
from ..security import SecurityPolicy, Violation
from ..v1 import common_pb2, interactive_service_pb2 as isvc, sandbox_service_pb2 as svc
from .client import Client


async def _collect(events: AsyncIterator[common_pb2.RunEvent], collector: RunCollector) -> RunCollector:
    async for event in events:
        for callback, text in collector.feed(event):
            ret = callback(text)
            if inspect.isawaitable(ret):
                await ret
    return collector


class SandboxSession:
    """asyncio :class:`sandboxd.SandboxSession`: ``async with``, ``await session.run(...)``."""

    def __init__(
        self,
        backend: SandboxBackend | str = SandboxBackend.DOCKER,
        *,
        address: str | None = None,
        token: str | None = None,
        client: Client | None = None,
        sandbox_id: str | None = None,
        verbose: bool = False,
        **options: Any,
    ) -> None:
        self._client = client if isinstance(client, Client) else None
        self._owns_client = self._client is None
        self._address, self._token = address, token
        self.options = session_options({"backend": backend, **options})
        self.config = self.options
        self.verbose = verbose
        self.sandbox_id = sandbox_id or ""
        self._owns_sandbox = sandbox_id is None
        self.sandbox: common_pb2.Sandbox | None = None
        self.is_open = False

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = Client(self._address, self._token)
        return self._client

    @property
    def container(self) -> common_pb2.Sandbox | None:
        return self.sandbox if self.is_open else None

    @property
    def lang(self) -> str:
        return str(self.options.lang)

    async def open(self) -> None:
        if self.is_open:
            return
        if self.sandbox_id:
            self.sandbox = await self.client.get_sandbox(self.sandbox_id)
        else:
            self.sandbox = await self.client.create_sandbox(self.options.to_spec())
            self.sandbox_id = self.sandbox.id
        self.is_open = True

    async def close(self) -> None:
        try:
            if self.is_open and self._owns_sandbox and self.sandbox_id:
                await self.client.destroy_sandbox(self.sandbox_id)
        finally:
            self.is_open = False
            if self._owns_client and self._client is not None:
                await self._client.close()
                self._client = None

    async def __aenter__(self) -> SandboxSession:
        await self.open()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    def _require_open(self) -> str:
        if not self.is_open or not self.sandbox_id:
            raise NotOpenSessionError
        return self.sandbox_id

    def _timeout_s(self, timeout: float | None) -> float | None:
        if timeout is not None:
            return timeout
        return self.options.execution_timeout if self.options.execution_timeout is not None else self.options.default_timeout

    def stream(
        self,
        code: str,
        libraries: list[str] | None = None,
        timeout: float | None = None,
        *,
        stdin: bytes | str = b"",
        args: list[str] | None = None,
        env: Mapping[str, str] | None = None,
        clear_artifacts: bool = False,
    ) -> AsyncIterator[common_pb2.RunEvent]:
        request = svc.RunRequest(
            sandbox_id=self._require_open(),
            code=code,
            libraries=list(libraries or []),
            stdin=stdin.encode() if isinstance(stdin, str) else stdin,
            timeout_ms=_core._seconds_to_ms(timeout),
            args=list(args or []),
            env=dict(env or {}),
            clear_artifacts=clear_artifacts,
        )
        return self.client.run(request)

    async def run(
        self,
        code: str,
        libraries: list[str] | None = None,
        timeout: float | None = None,
        on_stdout: TextCallback | None = None,
        on_stderr: TextCallback | None = None,
        *,
        stdin: bytes | str = b"",
        args: list[str] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> ExecutionResult:
        collector = await _collect(self.stream(code, libraries, timeout, stdin=stdin, args=args, env=env), RunCollector(on_stdout, on_stderr))
        return _core.execution_result(collector.result(self._timeout_s(timeout)), [])

    async def execute_command(
        self,
        command: str | list[str],
        workdir: str | None = None,
        *,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
        stdin: bytes | str = b"",
        on_stdout: TextCallback | None = None,
        on_stderr: TextCallback | None = None,
    ) -> ConsoleOutput:
        if not command:
            raise CommandEmptyError
        request = svc.ExecRequest(
            sandbox_id=self._require_open(),
            workdir=workdir or "",
            env=dict(env or {}),
            stdin=stdin.encode() if isinstance(stdin, str) else stdin,
            timeout_ms=_core._seconds_to_ms(timeout),
        )
        if isinstance(command, str):
            request.shell = command
        else:
            request.argv.extend(command)
        collector = await _collect(self.client.exec(request), RunCollector(on_stdout, on_stderr))
        return collector.result(self._timeout_s(timeout), command if isinstance(command, str) else " ".join(command))

    async def execute_commands(self, commands: list[str | tuple[str, str | None]], workdir: str | None = None) -> ConsoleOutput:
        output = ConsoleOutput(exit_code=0)
        for command in commands:
            if isinstance(command, (tuple, list)) and len(command) == 2 and (command[1] is None or isinstance(command[1], str)):  # noqa: PLR2004
                output = await self.execute_command(command[0], workdir=command[1])  # type: ignore[arg-type]
            else:
                output = await self.execute_command(command, workdir=workdir)  # type: ignore[arg-type]
            if output.exit_code:
                return output
        return output

    async def install(self, libraries: list[str] | None = None, timeout: float | None = None) -> ConsoleOutput | None:
        if not libraries:
            return None
        collector = await _collect(self.client.install(self._require_open(), list(libraries), _core._seconds_to_ms(timeout)), RunCollector())
        out = collector.result(timeout, "install " + " ".join(libraries))
        return dataclasses.replace(out, stdout="".join(collector.install_output) + out.stdout)

    async def copy_to_runtime(self, src: str | os.PathLike[str], dest: str, progress: Any = None) -> None:
        sandbox_id = self._require_open()
        path = Path(src)
        if not path.exists():
            msg = f"Source path {src} does not exist or is not accessible"
            raise FileNotFoundError(msg)
        if path.is_dir():
            await self.client.upload(sandbox_id, dest, _core.tar_directory(path), svc.TRANSFER_KIND_TAR, progress=progress)
        else:
            await self.client.upload(sandbox_id, dest, path.read_bytes(), svc.TRANSFER_KIND_FILE, path.stat().st_mode & 0o777, progress=progress)

    async def copy_from_runtime(self, src: str, dest: str | os.PathLike[str], progress: Any = None) -> None:
        header, data = await self.client.download(self._require_open(), src, progress=progress)
        target = Path(dest)
        if header.kind == svc.TRANSFER_KIND_TAR:
            _core.extract_tar_safely(data, target)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            if header.mode:
                target.chmod(header.mode & 0o777)

    async def is_safe(self, code: str) -> tuple[bool, list[Violation]]:
        if self.options.security_policy is None and self._owns_sandbox:
            return True, []
        request = svc.CheckCodeRequest(language=self.lang, code=code)
        policy = self.options.security_policy
        if self.is_open:
            request.sandbox_id = self.sandbox_id
        elif isinstance(policy, str):
            request.preset = policy
        elif isinstance(policy, SecurityPolicy):
            if policy.preset:
                request.preset = policy.preset
            else:
                request.inline.CopyFrom(policy.to_proto())
        res = await self.client.check_code(request)
        return res.safe, [Violation.from_proto(v) for v in res.violations]

    def session(self, shell: str = "/bin/sh", env: Mapping[str, str] | None = None, timeout: float | None = None) -> ShellSession:
        return ShellSession(self.client, self._require_open(), shell=shell, env=env, timeout=timeout)


def create_session(backend: SandboxBackend | str = SandboxBackend.DOCKER, **kwargs: Any) -> SandboxSession:
    return SandboxSession(backend, **kwargs)


class ArtifactSandboxSession(SandboxSession):
    """asyncio :class:`sandboxd.ArtifactSandboxSession`."""

    def __init__(
        self,
        backend: SandboxBackend | str = SandboxBackend.DOCKER,
        image: str | None = None,
        dockerfile: str | None = None,
        lang: str = SupportedLanguage.PYTHON,
        *,
        enable_plotting: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(backend, image=image, dockerfile=dockerfile, lang=lang, enable_plotting=enable_plotting, **kwargs)
        self.enable_plotting = enable_plotting

    async def run(  # type: ignore[override]
        self,
        code: str,
        libraries: list[str] | None = None,
        timeout: float | None = None,
        clear_plots: bool = False,
        on_stdout: TextCallback | None = None,
        on_stderr: TextCallback | None = None,
        **kwargs: Any,
    ) -> ExecutionResult:
        collector = await _collect(self.stream(code, libraries, timeout, clear_artifacts=clear_plots, **kwargs), RunCollector(on_stdout, on_stderr))
        out = collector.result(self._timeout_s(timeout))
        plots: list[PlotOutput] = []
        if self.enable_plotting:
            for artifact in collector.artifacts:
                meta, content = await self.client.download_artifact(self.sandbox_id, artifact.id)
                plots.append(_core.plot_output(meta if meta.id else artifact, content))
        return _core.execution_result(out, plots)

    async def clear_plots(self) -> int:
        return await self.client.clear_artifacts(self._require_open())


class ShellSession:
    """asyncio :class:`sandboxd.ShellSession`: ``async with sandbox.session(...) as sh``."""

    def __init__(self, client: Client, sandbox_id: str, *, shell: str = "/bin/sh", env: Mapping[str, str] | None = None, timeout: float | None = None) -> None:
        self.client = client
        self.sandbox_id = sandbox_id
        self.shell = shell
        self.env = dict(env or {})
        self.timeout = timeout
        self.session_id = ""

    async def open(self) -> ShellSession:
        if not self.session_id:
            settings = isvc.SessionSettings(cell_timeout_ms=_core._seconds_to_ms(self.timeout))
            session = await self.client.create_session(isvc.CreateSessionRequest(sandbox_id=self.sandbox_id, kind=isvc.SESSION_KIND_SHELL, shell=self.shell, env=self.env, settings=settings))
            self.session_id = session.id
        return self

    async def exec(self, command: str, timeout: float | None = None, *, stdin: bytes | str = b"", on_stdout: TextCallback | None = None, on_stderr: TextCallback | None = None) -> ConsoleOutput:
        if not command:
            raise CommandEmptyError
        if not self.session_id:
            raise NotOpenSessionError
        events = self.client.session_run(self.session_id, command, _core._seconds_to_ms(timeout), stdin.encode() if isinstance(stdin, str) else stdin)
        collector = await _collect(events, RunCollector(on_stdout, on_stderr))
        return collector.result(timeout if timeout is not None else self.timeout, command)

    run = exec

    async def interrupt(self) -> bool:
        return await self.client.interrupt_session(self.session_id)

    async def close(self) -> None:
        if self.session_id:
            sid, self.session_id = self.session_id, ""
            try:
                await self.client.close_session(sid)
            except Exception:  # noqa: BLE001 - the sandbox may already be gone; closing stays safe
                pass

    async def __aenter__(self) -> ShellSession:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class InteractiveSandboxSession(SandboxSession):
    """asyncio :class:`sandboxd.InteractiveSandboxSession`."""

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
                except Exception:  # noqa: BLE001
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
        if not self.session_id:
            raise NotOpenSessionError
        await self.install(libraries)
        collector = await _collect(self.client.session_run(self.session_id, code, _core._seconds_to_ms(timeout)), RunCollector(on_stdout, on_stderr))
        out = collector.result(timeout if timeout is not None else self.settings.timeout)
        if collector.errors and not out.stderr:
            err = collector.errors[0]
            out = dataclasses.replace(out, stderr="\n".join(err.traceback) or f"{err.name}: {err.value}")
        plots: list[PlotOutput] = []
        for artifact in collector.artifacts:
            meta, content = await self.client.download_artifact(self.sandbox_id, artifact.id)
            plots.append(_core.plot_output(meta if meta.id else artifact, content))
        return _core.execution_result(out, plots)

    async def interrupt(self) -> bool:
        return await self.client.interrupt_session(self.session_id)

    async def reset(self) -> None:
        await self.client.reset_session(self.session_id)

    async def history(self, limit: int = 0) -> list[isvc.HistoryEntry]:
        return await self.client.session_history(self.session_id, limit)
