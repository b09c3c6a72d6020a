"""llm-sandbox's sessions, hosted by sandboxd: change the import, keep the code.

    from sandboxd.aio import SandboxSession   # was: from llm_sandbox import SandboxSession

    async with SandboxSession(lang="python") as session:
        result = await session.run("print('hi')")
        print(result.stdout)
"""

from __future__ import annotations

import asyncio  # async only
import collections
import dataclasses
import functools  # async only
import inspect  # async only
import logging
import os
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import Any

import grpc

from .. import _core
from .._core import RunCollector, TextCallback, error_from_rpc, session_options
from ..const import PLOT_LANGUAGES, SandboxBackend, SupportedLanguage
from ..data import CellEvent, CellResult, ConsoleOutput, ExecutionResult, PlotOutput
from ..exceptions import (
    CommandEmptyError,
    LanguageNotSupportPlotError,
    NotOpenSessionError,
    RunCancelledError,
    SandboxError,
    SandboxNotFoundError,
    SandboxStateError,
    SandboxTimeoutError,
    UnimplementedError,
    UnsupportedBackendError,
    ValidationError,
)
from ..security import SecurityPolicy, Violation
from ..v1 import common_pb2, interactive_service_pb2 as isvc, sandbox_service_pb2 as svc, terminal_service_pb2 as tsvc
from .client import Client

log = logging.getLogger("sandboxd")


async def _collect(events: AsyncIterator[common_pb2.RunEvent], collector: RunCollector) -> RunCollector:
    """Feeds a run's events to ``collector``, calling the output callbacks as text arrives."""
    async for event in events:
        for callback, text in collector.feed(event):
            returned = callback(text)
            if inspect.isawaitable(returned):  # async only: an asyncio callback may be a coroutine function
                await returned
    return collector


# What a pooled session takes from its pool rather than from its own arguments.
_POOL_SPEC_OPTIONS = ("image", "dockerfile", "runtime_configs", "env", "env_vars", "container_id", "commit_container", "keep_template", "pod_manifest")


def _pooled_options(pool: Any, client: Any, options: dict[str, Any]) -> Any:
    """A pooled session's options: the pool's language and connection; the sandbox's spec is
    the pool's. A security policy cannot be added to a sandbox already started, so it is
    refused here rather than silently not applied."""
    if options.get("security_policy") is not None:
        msg = "a pooled session's sandboxes have the pool's security policy: give security_policy to create_pool_manager() instead"
        raise ValidationError(msg, reason="POOL_SPEC")
    given = [k for k in _POOL_SPEC_OPTIONS if options.pop(k, None) not in (None, False, {}, [])]
    if given:
        log.info("sandboxd: %s of a pooled session are the pool's (set them on create_pool_manager); ignored", ", ".join(given))
    if options.get("lang") not in (None, pool.lang):
        log.info("sandboxd: lang=%r of a pooled session is the pool's (%r)", options["lang"], pool.lang)
    options["lang"] = pool.lang
    return client if isinstance(client, Client) else pool.client  # a docker/podman client: llm-sandbox's, not used


class SandboxSession:
    """A sandbox on a sandboxd daemon, with llm-sandbox's session API.

    Takes llm-sandbox's arguments (``lang``, ``image``, ``dockerfile``, ``backend``,
    ``workdir``, ``runtime_configs``, ``security_policy``, ``default_timeout``,
    ``execution_timeout``, ``session_timeout``, ``keep_template``, ``commit_container``,
    ``container_id``, ``verbose``) plus sandboxd's own: ``address`` and ``token`` (default
    ``SANDBOXD_ADDRESS`` / ``SANDBOXD_TOKEN``), ``client`` (share one connection),
    ``sandbox_id`` (use an existing sandbox; it is left running on close), ``env``,
    ``labels`` and ``idle_timeout``. Timeouts are in seconds.

    ``container_id`` attaches to an existing container: one of the caller's own sandboxes
    (``other.container.id``; left running on close), or, where the daemon's operator allows
    it (``--attach.*``), a container sandboxd did not create. Arguments that configure
    llm-sandbox's own engine client (a docker/podman/kubernetes ``client``, ``stream``,
    ``kube_namespace``) are accepted and ignored, with one log line. ``encoding_errors``
    (default ``"strict"``, as in llm-sandbox) is how output bytes are decoded.
    """

    def __init__(
        self,
        backend: SandboxBackend | str = SandboxBackend.DOCKER,
        *,
        address: str | None = None,
        token: str | None = None,
        client: Client | None = None,
        sandbox_id: str | None = None,
        verbose: bool = False,
        pool: Any = None,
        **options: Any,
    ) -> None:
        foreign: tuple[str, ...] = ()
        if pool is not None:
            client = _pooled_options(pool, client, options)
        if isinstance(client, Client) or client is None:
            self._client = client
        else:  # llm-sandbox passes a docker/podman/kubernetes client as `client`: not ours.
            self._client = None
            foreign = ("client",)
        self._owns_client = self._client is None
        self._address, self._token = address, token
        self.options = session_options({"backend": backend, **options}, foreign)
        self.config = self.options  # llm-sandbox code reads session.config.lang and friends
        self.verbose = verbose
        self.sandbox_id = sandbox_id or ""
        self._owns_sandbox = sandbox_id is None
        self.sandbox: common_pb2.Sandbox | None = None
        self.pool = pool  # llm-sandbox's pool manager (sandboxd.pool): sandboxes come from it
        self._pooled: Any = None
        self.is_open = False
        self._opened_at: float | None = None
        if verbose and not log.handlers:
            logging.basicConfig(level=logging.INFO)
            log.setLevel(logging.DEBUG)

    # -------------------------------------------------------------- lifecycle

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = Client(self._address, self._token)
        return self._client

    @property
    def container(self) -> _core.ContainerInfo | None:
        """The engine's container while the session is open: ``container.id`` is its id."""
        return _core.ContainerInfo(self.sandbox) if self.is_open and self.sandbox is not None else None

    @property
    def container_id(self) -> str:
        return self.sandbox.container_id if self.sandbox else ""

    @property
    def lang(self) -> str:
        return str(self.options.lang)

    # llm-sandbox's venv paths, which its users call in execute_command. The daemon makes
    # them in every Python sandbox: /tmp/venv/bin/python is the sandbox's python3 and its
    # pip installs where install() does (the daemon README: "llm-sandbox's /tmp/venv").
    @property
    def python_executable_path(self) -> str:
        return "/tmp/venv/bin/python"

    @property
    def pip_executable_path(self) -> str:
        return "/tmp/venv/bin/pip"

    @property
    def pip_cache_dir_path(self) -> str:
        return "/tmp/pip_cache"

    async def open(self) -> None:
        """Creates the sandbox (or looks up ``sandbox_id``)."""
        if self.is_open:
            return
        if self.pool is not None:  # a sandbox nobody used, from the pool; destroyed on close
            self._pooled = await self.pool.acquire(session_timeout=self.options.session_timeout, labels=self.options.labels)
            self.sandbox, self._owns_sandbox = self._pooled.container, False
            self.sandbox_id = self.sandbox.id
        elif self.sandbox_id:
            self.sandbox = await self.client.get_sandbox(self.sandbox_id)
        else:
            own = await self._own_sandbox_of(self.options.container_id) if self.options.container_id else None
            if own is not None:  # one of the caller's sandboxes: use it, leave it running
                self.sandbox, self._owns_sandbox = own, False
            else:
                self.sandbox = await self.client.create_sandbox(self.options.to_spec())
            self.sandbox_id = self.sandbox.id
        await self._check_backend()
        self.is_open = True
        self._opened_at = time.monotonic()
        log.debug("sandbox %s open (container %s)", self.sandbox_id, self.sandbox.container_id)

    async def _own_sandbox_of(self, container_id: str) -> common_pb2.Sandbox | None:
        """The caller's sandbox whose container is ``container_id`` (the daemon never
        attaches a second sandbox to a sandbox's container)."""
        for sandbox in await self.client.list_sandboxes():
            if container_id in (sandbox.container_id, sandbox.id):
                return sandbox
        return None

    async def _check_backend(self) -> None:
        """``backend=kubernetes`` (or podman) on a daemon that runs something else fails:
        the daemon has one backend and says which in every Sandbox."""
        asked = SandboxBackend(self.options.backend)
        got = self.sandbox.backend if self.sandbox is not None else 0
        if asked not in (SandboxBackend.KUBERNETES, SandboxBackend.PODMAN) or not got or got == asked.to_proto():
            return
        name = common_pb2.Backend.Name(got).removeprefix("BACKEND_").lower()
        msg = f"backend {asked.value!r} was asked for, but this sandboxd daemon runs its sandboxes on {name}"
        try:
            if self._owns_sandbox and self.sandbox_id:
                await self.client.destroy_sandbox(self.sandbox_id)
        finally:
            self.sandbox = None
            if self._owns_sandbox:
                self.sandbox_id = ""
        raise UnsupportedBackendError(asked.value, msg, reason="BACKEND_MISMATCH")

    async def close(self) -> None:
        """Destroys the sandbox this session created; safe to call twice."""
        try:
            if self.is_open and self._owns_sandbox and self.sandbox_id:
                try:
                    await self.client.destroy_sandbox(self.sandbox_id)
                    log.debug("sandbox %s destroyed", self.sandbox_id)
                except (SandboxTimeoutError, SandboxNotFoundError):  # expired (session_timeout) or already gone
                    log.debug("sandbox %s was already gone", self.sandbox_id, exc_info=True)
        finally:
            self.is_open = False
            self._opened_at = None
            pooled, self._pooled = self._pooled, None
            if pooled is not None:
                await self.pool.release(pooled)
                self.sandbox_id = ""
            if self._owns_client and self._client is not None:
                await self._client.close()
                self._client = None

    async def __aenter__(self) -> SandboxSession:
        await self.open()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    def _require_open(self) -> str:
        """The sandbox id; NotOpenSessionError when closed, SandboxTimeoutError once the
        session outlived ``session_timeout`` (checked before every operation, as llm-sandbox does)."""
        if not self.is_open or not self.sandbox_id:
            raise NotOpenSessionError
        limit = self.options.session_timeout
        if limit and self._opened_at is not None and time.monotonic() - self._opened_at > limit:
            msg = f"Session exceeded maximum lifetime of {limit} seconds"
            raise SandboxTimeoutError(msg, limit, reason="SESSION_TIMEOUT")
        return self.sandbox_id

    async def pause(self) -> bool:
        """Freezes the sandbox's processes (PauseSandbox; Docker and Podman). True when it was
        running, False when it was paused already. Runs and files wait until :meth:`resume`."""
        return (await self.client.pause_sandbox(self._require_open())).changed

    async def resume(self) -> bool:
        """Thaws the sandbox (ResumeSandbox). True when it was paused, False when it was running."""
        return (await self.client.resume_sandbox(self._require_open())).changed

    def _collector(self, on_stdout: TextCallback | None = None, on_stderr: TextCallback | None = None) -> RunCollector:
        return RunCollector(on_stdout, on_stderr, self.options.encoding_errors)

    # -------------------------------------------------------------- running code

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
        """The run's raw events, in order, as they happen (sandboxd's ``RunEvent``)."""
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
        """Runs code in the sandbox's language; ``libraries`` are installed first.

        Output reaches ``on_stdout`` / ``on_stderr`` as it is printed. Raises
        ``SandboxTimeoutError`` when the deadline fires (``err.result`` has the output).
        """
        collector = await _collect(self.stream(code, libraries, timeout, stdin=stdin, args=args, env=env), self._collector(on_stdout, on_stderr))
        return _core.execution_result(collector.result(self._timeout_s(timeout)), [])

    async def execute_command(
        self,
        command: str | list[str],
        workdir: str | None = None,
        on_stdout: TextCallback | None = None,
        on_stderr: TextCallback | None = None,
        *,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
        stdin: bytes | str = b"",
    ) -> ConsoleOutput:
        """Runs a command: a string goes through ``/bin/sh -c``, a list is an argv.

        Output reaches ``on_stdout`` / ``on_stderr`` as it is printed."""
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
        collector = await _collect(self.client.exec(request), self._collector(on_stdout, on_stderr))
        return collector.result(self._timeout_s(timeout), command if isinstance(command, str) else " ".join(command))

    async def execute_commands(
        self,
        commands: list[str | tuple[str, str | None]],
        workdir: str | None = None,
        on_stdout: TextCallback | None = None,
        on_stderr: TextCallback | None = None,
    ) -> ConsoleOutput:
        """Runs commands in order; returns the first failure's output or the last one's."""
        output = ConsoleOutput(exit_code=0)
        for command in commands:
            if isinstance(command, (tuple, list)) and len(command) == 2 and (command[1] is None or isinstance(command[1], str)):  # noqa: PLR2004
                output = await self.execute_command(command[0], command[1], on_stdout, on_stderr)  # type: ignore[arg-type]
            else:
                output = await self.execute_command(command, workdir, on_stdout, on_stderr)  # type: ignore[arg-type]
            if output.exit_code:
                return output
        return output

    async def install(self, libraries: list[str] | None = None, timeout: float | None = None) -> ConsoleOutput | None:
        """Installs libraries with the language's package manager."""
        if not libraries:
            return None
        collector = await _collect(self.client.install(self._require_open(), list(libraries), _core._seconds_to_ms(timeout)), self._collector())
        # Install output is all install-phase output: give it back as the result's stdout.
        out = collector.result(timeout, "install " + " ".join(libraries))
        return dataclasses.replace(out, stdout="".join(collector.install_output) + out.stdout)

    async def _download_plots(self, artifacts: list[common_pb2.Artifact]) -> list[PlotOutput]:
        """The plots a run reported, with their content."""
        plots: list[PlotOutput] = []
        for artifact in artifacts:
            meta, content = await self.client.download_artifact(self.sandbox_id, artifact.id)
            plots.append(_core.plot_output(meta if meta.id else artifact, content))
        return plots

    # -------------------------------------------------------------- files

    async def copy_to_runtime(self, src: str | os.PathLike[str], dest: str, progress: Any = None) -> None:
        """Copies a local file or directory into the sandbox at ``dest``."""
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
        """Copies a file or directory from the sandbox to the local ``dest``, as llm-sandbox
        does: a file is written at ``dest``; a directory lands under it, ``dest/<name>/...``.
        A path that does not exist raises ``FileNotFoundError`` (``PathNotFoundError``)."""
        header, data = await self.client.download(self._require_open(), src, progress=progress)
        target = Path(dest)
        if header.kind == svc.TRANSFER_KIND_TAR:
            name = PurePosixPath(src).name  # the daemon's tar holds the directory's contents
            _core.extract_tar_safely(data, target / name if name not in ("", ".", "..") else target)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            if header.mode:
                target.chmod(header.mode & 0o777)

    async def get_archive(self, path: str) -> tuple[bytes, dict[str, Any]]:
        """``path`` in the sandbox as a tar (its name at the top, a directory's files under
        it) and a stat dict (``name``, ``size``, ``mode``), as llm-sandbox's ``get_archive``."""
        header, data = await self.client.download(self._require_open(), path)
        return _core.archive_of(path, header.kind == svc.TRANSFER_KIND_TAR, header.mode, data)

    async def environment_setup(self) -> None:
        """llm-sandbox's per-session environment setup (venv, pip cache, ``go mod init``).
        The daemon prepares every sandbox before handing it out, so there is nothing left to do."""
        self._require_open()

    # -------------------------------------------------------------- policy

    async def is_safe(self, code: str) -> tuple[bool, list[Violation]]:
        """Checks code against the sandbox's policy, on the daemon; nothing runs."""
        if self.options.security_policy is None and self._owns_sandbox:
            return True, []
        request = svc.CheckCodeRequest(language=self.lang, code=code)
        if self.is_open:
            request.sandbox_id = self.sandbox_id
        elif isinstance(self.options.security_policy, str):
            request.preset = self.options.security_policy
        elif isinstance(self.options.security_policy, SecurityPolicy):
            if self.options.security_policy.preset:
                request.preset = self.options.security_policy.preset
            else:
                request.inline.CopyFrom(self.options.security_policy.to_proto())
        res = await self.client.check_code(request)
        return res.safe, [Violation.from_proto(v) for v in res.violations]

    # -------------------------------------------------------------- shell sessions

    def session(self, shell: str = "/bin/sh", env: Mapping[str, str] | None = None, timeout: float | None = None) -> ShellSession:
        """A persistent shell in this sandbox: cwd, env, functions survive between commands."""
        return ShellSession(self.client, self._require_open(), shell=shell, env=env, timeout=timeout, encoding_errors=self.options.encoding_errors)


def create_session(backend: SandboxBackend | str = SandboxBackend.DOCKER, *args: Any, **kwargs: Any) -> SandboxSession:
    """llm-sandbox's factory; every backend is served by the daemon (micromamba: a
    ``MicromambaSession``, every process through ``micromamba run -n <environment>``)."""
    if args:
        msg = "create_session() takes keyword arguments only (besides backend)"
        raise TypeError(msg)
    if SandboxBackend(backend) == SandboxBackend.MICROMAMBA:
        return MicromambaSession(**kwargs)
    return SandboxSession(backend, **kwargs)


class MicromambaSession(SandboxSession):
    """llm-sandbox's ``MicromambaSession`` (``llm_sandbox.micromamba``; here also in
    ``sandboxd.micromamba``): every run, install and command of the sandbox goes through
    ``micromamba run -n <environment>`` (``SandboxSpec.command_wrapper``), on the daemon's
    own engine; the image must have ``micromamba`` on its PATH (docs/micromamba.md). Takes
    llm-sandbox's arguments, and sandboxd's ``address``, ``token``, ``sandbox_id``, ``env``,
    ``labels``, ``idle_timeout`` and ``command_wrapper``.

    ``image`` defaults to llm-sandbox's ``mambaorg/micromamba:latest``, which the daemon's
    engine must have or be able to pull; with a ``dockerfile`` the image is built from it
    instead. ``client``, ``stream``, ``mounts`` and ``skip_environment_setup`` configure
    llm-sandbox's local engine and are handled as ``SandboxSession`` handles them.
    """

    def __init__(  # noqa: PLR0913 - llm-sandbox's signature
        self,
        client: Any = None,
        image: str = "mambaorg/micromamba:latest",
        dockerfile: str | None = None,
        lang: str = SupportedLanguage.PYTHON,
        keep_template: bool = False,
        verbose: bool = False,
        mounts: list[Any] | None = None,
        environment: str = "base",
        commit_container: bool = False,
        stream: bool = True,
        runtime_configs: dict[str, Any] | None = None,
        workdir: str = "/sandbox",
        security_policy: SecurityPolicy | None = None,
        default_timeout: float | None = None,
        execution_timeout: float | None = None,
        session_timeout: float | None = None,
        container_id: str | None = None,
        skip_environment_setup: bool = False,
        **kwargs: Any,
    ) -> None:
        given = {k: v for k, v in locals().items() if k not in {"self", "kwargs", "__class__"}}
        passed = _core.backend_session_kwargs(given, _MICROMAMBA_DEFAULTS, kwargs)
        # Always: the environment, and the image (llm-sandbox's default is not the daemon's),
        # unless a Dockerfile is given - llm-sandbox builds it, and the image is its result.
        passed["environment"] = environment
        passed["image"] = None if dockerfile else image
        super().__init__(SandboxBackend.MICROMAMBA, **passed)
        self.environment = environment


_MICROMAMBA_DEFAULTS = _core.parameter_defaults(MicromambaSession.__init__)

class ArtifactSandboxSession(SandboxSession):
    """A session whose runs return plots (matplotlib, seaborn, plotly, ...; Python and R).

    As in llm-sandbox, ``result.plots`` is every plot since the last clear, oldest first:
    plots accumulate across runs until ``clear_plots()`` or ``run(..., clear_plots=True)``.
    ``result.run_plots`` (sandboxd) is only the plots that run made. With plotting on,
    running a language without plot capture raises ``LanguageNotSupportPlotError``.
    """

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
        self._plots: dict[str, PlotOutput] = {}  # downloaded plots by artifact id, since the last clear

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
        """Runs code; ``result.plots`` has every plot since the last clear, ``result.run_plots``
        this run's. ``clear_plots`` drops earlier plots first."""
        if self.enable_plotting and self.lang.lower() not in PLOT_LANGUAGES:
            raise LanguageNotSupportPlotError(self.lang)
        events = self.stream(code, libraries, timeout, clear_artifacts=clear_plots, **kwargs)
        if clear_plots:
            self._plots.clear()
        collector = await _collect(events, self._collector(on_stdout, on_stderr))
        out = collector.result(self._timeout_s(timeout))
        if not self.enable_plotting:
            return _core.execution_result(out, [], [])
        run_plots = await self._cached_plots(collector.artifacts)
        plots = await self._cached_plots(await self.client.list_artifacts(self.sandbox_id))
        return _core.execution_result(out, plots, run_plots)

    async def _cached_plots(self, artifacts: list[common_pb2.Artifact]) -> list[PlotOutput]:
        """The plots for ``artifacts``, each downloaded once per session."""
        missing = [a for a in artifacts if a.id not in self._plots]
        for plot in await self._download_plots(missing):
            self._plots[plot.id] = plot
        return [self._plots[a.id] for a in artifacts if a.id in self._plots]

    async def clear_plots(self) -> int:
        """Forgets the sandbox's plots; the plot counter starts again."""
        self._plots.clear()
        return await self.client.clear_artifacts(self._require_open())

    async def list_plots(self) -> list[common_pb2.Artifact]:
        return await self.client.list_artifacts(self._require_open())


@dataclasses.dataclass
class _Cell:
    collector: RunCollector
    events: list[common_pb2.RunEvent] = dataclasses.field(default_factory=list)
    done: bool = False


class ExecuteStream:
    """An ``Execute`` stream on a session: cells go in (``send``), their events come out in
    the order the cells were sent, each tagged with its cell id.

        async with session.execute() as stream:
            stream.send("x = 41")
            last = stream.send("x + 1")
            async for ev in stream:          # CellEvent(cell_id, event), keepalives left out
                ...
            print((await stream.result(last)).results())   # ['42']

    Responses are read while the stream is iterated or a ``result`` is awaited; events read
    for a ``result`` are kept for the iteration. The daemon keeps running a cell when its
    client goes away, so ``close()`` (also on leaving the ``async with``) first interrupts
    every cell that has not ended, waits up to ``close_grace`` seconds for the stream to end,
    then cancels the call. A cell the daemon's policy refuses ends the stream with
    ``SecurityPolicyViolation`` (``PERMISSION_DENIED``); nothing of it runs.
    """

    def __init__(self, client: Client, session_id: str, cells: Iterable[str] | None = None, *, close_grace: float = 10.0) -> None:
        self.session_id = session_id
        self.close_grace = close_grace
        # The request stream is fed from a queue: send() and interrupt() need not wait.
        self._requests: Any = queue.Queue()
        self._requests = asyncio.Queue()  # async only
        self._call = client.interactive.Execute(self._request_stream(), metadata=client.connection.metadata())
        self._cancel_from_timer: Callable[[], object] = self._call.cancel
        self._cancel_from_timer = functools.partial(asyncio.get_running_loop().call_soon_threadsafe, self._call.cancel)  # async only
        self._responses = aiter(self._call)
        self._cells: dict[str, _Cell] = {}
        self._order: list[str] = []
        self._pending: collections.deque[CellEvent] = collections.deque()
        self._next = 1
        self._half_closed = False
        self._finished = False
        self._closed = False
        self._failure: SandboxError | None = None
        if cells is not None:
            for code in cells:
                self.send(code)
            self.end()

    async def _request_stream(self) -> AsyncIterator[isvc.ExecuteRequest]:
        while True:
            request = await self._requests.get()
            if request is None:
                return
            yield request

    @property
    def cell_ids(self) -> list[str]:
        """The ids of the cells sent, in order."""
        return list(self._order)

    @property
    def finished(self) -> bool:
        """True once the daemon has ended the stream (or it failed)."""
        return self._finished

    def send(
        self,
        code: str,
        cell_id: str | None = None,
        *,
        timeout: float | None = None,
        stdin: bytes | str = b"",
        on_stdout: TextCallback | None = None,
        on_stderr: TextCallback | None = None,
    ) -> str:
        """Queues a cell; returns its id (``cell-1``, ``cell-2``, ... unless given). Cells run
        one at a time in the order sent. Raises ``SandboxStateError`` once the stream is
        half-closed (``end``) or over."""
        if self._half_closed or self._finished:
            msg = "the Execute stream takes no more cells"
            raise SandboxStateError(msg, reason="STREAM_CLOSED")
        cid = cell_id or ""
        while not cid or (cell_id is None and cid in self._cells):
            cid = f"cell-{self._next}"
            self._next += 1
        if cid in self._cells:
            msg = f"cell id {cid} was already sent on this stream"
            raise ValidationError(msg, reason="DUPLICATE_CELL_ID")
        self._cells[cid] = _Cell(RunCollector(on_stdout, on_stderr))
        self._order.append(cid)
        cell = isvc.Cell(cell_id=cid, code=code, timeout_ms=_core._seconds_to_ms(timeout), stdin=stdin.encode() if isinstance(stdin, str) else stdin)
        self._requests.put_nowait(isvc.ExecuteRequest(session_id=self.session_id, cell=cell))
        return cid

    def interrupt(self, cell_id: str = "") -> None:
        """Interrupts a cell: a queued one is dropped (it ends ``CANCELLED`` without running),
        the running one is stopped. Without an id: whatever cell is running. Its outcome
        arrives as the cell's ``exited`` event. Not after ``end()``."""
        if self._finished:
            return
        if self._half_closed:
            msg = "the Execute stream is half-closed (end): interrupt before ending it"
            raise SandboxStateError(msg, reason="STREAM_CLOSED")
        self._requests.put_nowait(isvc.ExecuteRequest(session_id=self.session_id, interrupt=isvc.CellInterrupt(cell_id=cell_id)))

    def end(self) -> None:
        """Half-closes: no more cells or interrupts; the queued cells finish, then the stream ends."""
        if not self._half_closed:
            self._half_closed = True
            self._requests.put_nowait(None)

    async def _read(self) -> bool:
        """Reads one response; False once the stream has ended."""
        if self._finished:
            return False
        try:
            response = await anext(self._responses)
        except StopAsyncIteration:
            self._finish(None)
            return False
        except grpc.RpcError as err:
            self._finish(error_from_rpc(err))
            return False
        except asyncio.CancelledError:  # async only: grpc.aio raises this for a call cancelled here (close)
            if not self._call.cancelled():
                raise
            self._finish(RunCancelledError("the Execute stream was closed", reason="STREAM_CLOSED"))
            return False
        event = response.event
        if not response.HasField("event") or event.WhichOneof("event") == "keepalive":
            return True
        cell = self._cells.get(response.cell_id)
        if cell is not None:
            cell.events.append(event)
            for callback, text in cell.collector.feed(event):
                returned = callback(text)
                if inspect.isawaitable(returned):  # async only: an asyncio callback may be a coroutine function
                    await returned
            if event.WhichOneof("event") == "exited":
                cell.done = True
        self._pending.append(CellEvent(response.cell_id, event))
        return True

    def _finish(self, failure: SandboxError | None) -> None:
        self._finished = True
        self._failure = self._failure or failure
        self.end()  # lets the request stream return

    async def result(self, cell_id: str) -> CellResult:
        """The cell's result once it has ended (reading the stream up to there), whatever its
        status; raises the stream's error if the stream fails before the cell ends."""
        cell = self._cells.get(cell_id)
        if cell is None:
            msg = f"no cell {cell_id} was sent on this stream"
            raise ValidationError(msg, reason="CELL_NOT_FOUND")
        while not cell.done and await self._read():
            pass
        if not cell.done and self._failure is not None:
            raise self._failure
        out = cell.collector.result(check=False)
        fields = {k: getattr(out, k) for k in out.__dataclass_fields__}
        if cell.collector.errors and not out.stderr:
            err = cell.collector.errors[0]
            fields["stderr"] = "\n".join(err.traceback) or f"{err.name}: {err.value}"
        return CellResult(**fields, cell_id=cell_id, events=list(cell.events))

    async def wait(self) -> None:
        """Reads to the end of the stream (after ``end()`` and the last cell); raises its error.
        Events read here are kept for an iteration."""
        while await self._read():
            pass
        if self._failure is not None:
            raise self._failure

    def __aiter__(self) -> AsyncIterator[CellEvent]:
        return self._events()

    async def _events(self) -> AsyncIterator[CellEvent]:
        while True:
            while self._pending:
                yield self._pending.popleft()
            if not await self._read() and not self._pending:
                if self._failure is not None:
                    raise self._failure
                return

    async def close(self) -> None:
        """Interrupts every cell that has not ended (queued ones first, so none starts),
        half-closes, waits up to ``close_grace`` seconds for the daemon to end the stream,
        then cancels the call. Raises nothing of the stream's; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if not self._finished:
            if not self._half_closed:
                for cid in reversed(self._order):
                    if not self._cells[cid].done:
                        self.interrupt(cid)
            self.end()
            timer = threading.Timer(self.close_grace, self._cancel_from_timer)
            timer.daemon = True
            timer.start()
            try:
                while await self._read():
                    pass
            finally:
                timer.cancel()
        self._call.cancel()

    async def __aenter__(self) -> ExecuteStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class ShellSession:
    """A persistent shell (``/bin/sh``, bash, zsh) inside a sandbox.

    ``exec`` runs one command line and returns its own stdout, stderr and exit code; the
    working directory, exported variables, aliases, functions and background jobs carry
    over to the next command. Closing the session ends its background processes.
    """

    def __init__(
        self,
        client: Client,
        sandbox_id: str,
        *,
        shell: str = "/bin/sh",
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
        encoding_errors: str = "strict",
    ) -> None:
        self.client = client
        self.sandbox_id = sandbox_id
        self.shell = shell
        self.env = dict(env or {})
        self.timeout = timeout
        self.encoding_errors = encoding_errors
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
        collector = await _collect(events, RunCollector(on_stdout, on_stderr, self.encoding_errors))
        return collector.result(timeout if timeout is not None else self.timeout, command)

    run = exec

    async def interrupt(self) -> bool:
        return await self.client.interrupt_session(self.session_id)

    def execute(self, cells: Iterable[str] | None = None, *, close_grace: float = 10.0) -> ExecuteStream:
        """A bidirectional ``Execute`` stream on this shell (see ``ExecuteStream``): send
        command lines, interrupt them, read their events tagged by cell id. ``cells`` are sent
        at once and the stream half-closed after them."""
        if not self.session_id:
            raise NotOpenSessionError
        return ExecuteStream(self.client, self.session_id, cells, close_grace=close_grace)

    async def close(self) -> None:
        if self.session_id:
            sid, self.session_id = self.session_id, ""
            try:
                await self.client.close_session(sid)
            except UnimplementedError:
                raise
            except Exception:  # noqa: BLE001 - the sandbox may already be gone; closing stays safe
                log.debug("closing shell session %s failed", sid, exc_info=True)

    async def __aenter__(self) -> ShellSession:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


@dataclasses.dataclass
class TerminalExit:
    """How a terminal's program ended: ``status`` is EXITED, KILLED, CANCELLED, LOST, ..."""

    status: str
    exit_code: int
    signal: int
    message: str


class Terminal:
    """A terminal in a sandbox: a pseudo-terminal the daemon's agent made, with a shell (or
    any program) on it. Keys go in (``write``), what it draws comes out (iterate it, or
    ``read``), ``resize`` and ``signal`` as on a local terminal, ``wait`` for the exit.

        async with await Terminal.open(client, sandbox_id, rows=30, cols=100) as term:
            term.write("tty\n")
            async for chunk in term:      # bytes, until the program exits
                ...

    The terminal outlives this stream: ``detach()`` leaves it running for its grace period
    and ``Terminal.attach(client, term.id)`` gets it back with its recent output replayed.
    Leaving the ``async with`` ends it (its processes are killed).
    """

    INPUT_CHUNK = 64 * 1024  # the daemon's limit per message: longer writes are split

    def __init__(self, client: Client, first: tsvc.TerminalRequest) -> None:
        self.id = ""
        self.sandbox_id = ""
        self.pid = 0
        self.offset = 0  # just past the output received: attach with it to skip what you have
        self.exit: TerminalExit | None = None
        self._requests: Any = queue.Queue()
        self._requests = asyncio.Queue()  # async only
        self._requests.put_nowait(first)
        self._call = client.terminals.Terminal(self._request_stream(), metadata=client.connection.metadata())
        self._responses = aiter(self._call)
        self._pending: collections.deque[bytes] = collections.deque()
        self._finished = False
        self._requests_ended = False
        self._failure: SandboxError | None = None

    @classmethod
    async def open(
        cls,
        client: Client,
        sandbox_id: str,
        argv: Iterable[str] | None = None,
        *,
        rows: int = 24,
        cols: int = 80,
        env: Mapping[str, str] | None = None,
        cwd: str = "",
        grace: float | None = None,
    ) -> Terminal:
        """Opens a terminal (``argv``, or the image's shell) and returns once it runs; raises
        the daemon's refusal (``SandboxNotFoundError``, ``ValidationError``, ...)."""
        req = tsvc.TerminalOpen(
            sandbox_id=sandbox_id,
            argv=list(argv or []),
            size=tsvc.TerminalSize(rows=rows, cols=cols),
            env=dict(env or {}),
            cwd=cwd,
            grace_ms=_core._seconds_to_ms(grace),
        )
        term = cls(client, tsvc.TerminalRequest(open=req))
        await term._wait_opened()
        return term

    @classmethod
    async def attach(cls, client: Client, terminal_id: str, offset: int = 0) -> Terminal:
        """Attaches to a running terminal; the output it kept (from ``offset``) comes first."""
        term = cls(client, tsvc.TerminalRequest(attach=tsvc.TerminalAttach(terminal_id=terminal_id, offset=offset)))
        await term._wait_opened()
        return term

    async def _request_stream(self) -> AsyncIterator[tsvc.TerminalRequest]:
        while True:
            request = await self._requests.get()
            if request is None:
                return
            yield request

    async def _wait_opened(self) -> None:
        while not self.id and await self._read():
            pass
        if not self.id:
            raise self._failure or SandboxStateError("the terminal stream ended before it opened", reason="TERMINAL_STREAM_ENDED")

    def _send(self, request: tsvc.TerminalRequest) -> None:
        if not self._finished and not self._requests_ended:
            self._requests.put_nowait(request)

    def write(self, data: bytes | str) -> None:
        """Keystrokes (or any bytes) for the terminal's input."""
        raw = data.encode() if isinstance(data, str) else bytes(data)
        for at in range(0, len(raw), self.INPUT_CHUNK):
            self._send(tsvc.TerminalRequest(input=raw[at : at + self.INPUT_CHUNK]))

    def resize(self, rows: int, cols: int) -> None:
        """The window's new size; the program gets SIGWINCH."""
        self._send(tsvc.TerminalRequest(resize=tsvc.TerminalSize(rows=rows, cols=cols)))

    def signal(self, name: str) -> None:
        """A signal (SIGINT, SIGTERM, ...) for the terminal's foreground job."""
        self._send(tsvc.TerminalRequest(signal=name))

    def close(self) -> None:
        """Ends the terminal: its processes are killed; ``wait`` then gives the exit."""
        self._send(tsvc.TerminalRequest(close=tsvc.TerminalClose()))

    def detach(self) -> None:
        """Leaves the terminal running on the daemon (for its grace period); ends this stream."""
        self._call.cancel()
        self._finish(RunCancelledError("the terminal stream was detached", reason="STREAM_CLOSED"))

    def _finish(self, failure: SandboxError | None) -> None:
        self._finished = True
        self._failure = self._failure or failure
        if not self._requests_ended:
            self._requests_ended = True
            self._requests.put_nowait(None)

    async def _read(self) -> bool:
        """Reads one response; False once the stream has ended."""
        if self._finished:
            return False
        try:
            response = await anext(self._responses)
        except StopAsyncIteration:
            self._finish(None)
            return False
        except grpc.RpcError as err:
            self._finish(error_from_rpc(err))
            return False
        except asyncio.CancelledError:  # async only: grpc.aio raises this for a call cancelled here (detach)
            if not self._call.cancelled():  # async only
                raise  # async only
            self._finish(RunCancelledError("the terminal stream was detached", reason="STREAM_CLOSED"))  # async only
            return False  # async only
        kind = response.WhichOneof("event")
        if kind == "opened":
            self.id = response.opened.terminal_id
            self.sandbox_id = response.opened.sandbox_id
            self.pid = response.opened.pid
            self.offset = response.opened.offset
        elif kind == "output":
            self.offset = response.output.offset + len(response.output.data)
            self._pending.append(response.output.data)
        elif kind == "exit":
            e = response.exit
            self.exit = TerminalExit(common_pb2.ExitStatus.Name(e.status).removeprefix("EXIT_STATUS_"), e.exit_code, e.signal, e.message)
        return True

    async def read(self) -> bytes:
        """The next output chunk; ``b""`` once the terminal's program ended (or the stream did)."""
        while not self._pending:
            if not await self._read():
                return b""
        return self._pending.popleft()

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        while True:
            chunk = await self.read()
            if not chunk:
                return
            yield chunk

    async def wait(self) -> TerminalExit:
        """Reads to the end (output read here stays for ``read``) and returns the exit;
        raises the stream's error if it ended without one."""
        while await self._read():
            pass
        if self.exit is not None:
            return self.exit
        raise self._failure or SandboxStateError("the terminal stream ended without an exit", reason="TERMINAL_STREAM_ENDED")

    async def __aenter__(self) -> Terminal:
        return self

    async def __aexit__(self, *exc: object) -> None:
        if not self._finished:
            self.close()
            try:
                await self.wait()
            except SandboxError:
                pass
        self._call.cancel()
