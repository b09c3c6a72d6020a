"""A persistent IPython kernel in a sandbox, as llm-sandbox's InteractiveSandboxSession."""

from __future__ import annotations

import asyncio  # async only
import collections
import dataclasses
import functools  # async only
import inspect  # async only
import queue
import threading
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import grpc

from .. import _core
from .._core import InteractiveSettings, RunCollector, TextCallback, error_from_rpc
from ..const import KernelType, SandboxBackend, SupportedLanguage
from ..data import CellEvent, CellResult, ExecutionResult
from ..exceptions import LanguageNotSupportedError, NotOpenSessionError, RunCancelledError, SandboxError, SandboxStateError, ValidationError
from ..v1 import common_pb2, interactive_service_pb2 as isvc
from .client import Client
from .session import SandboxSession, _collect

__all__ = ["CellEvent", "CellResult", "ExecuteStream", "InteractiveSandboxSession", "InteractiveSettings", "KernelType"]


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
