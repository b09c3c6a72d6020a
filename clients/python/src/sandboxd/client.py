"""The low-level synchronous client: one channel, typed exceptions, streams as iterators.

Sessions (``SandboxSession`` and friends) are built on it; use it directly for what the
llm-sandbox API has no words for (attach, signals, raw events).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import grpc

from ._core import CHUNK_SIZE, Connection, error_from_rpc
from .exceptions import ContainerError
from .v1 import common_pb2, interactive_service_pb2 as isvc, interactive_service_pb2_grpc, sandbox_service_pb2 as svc, sandbox_service_pb2_grpc

T = TypeVar("T")


class Client:
    """A connection to sandboxd.

    ``address`` and ``token`` default to ``SANDBOXD_ADDRESS`` and ``SANDBOXD_TOKEN``
    (then ``127.0.0.1:50051`` and no token). ``timeout`` (seconds) bounds each unary call.
    """

    def __init__(
        self,
        address: str | None = None,
        token: str | None = None,
        *,
        secure: bool | None = None,
        root_certificates: bytes | None = None,
        channel: grpc.Channel | None = None,
        timeout: float | None = 120.0,
    ) -> None:
        self.connection = Connection.resolve(address, token, secure=secure, root_certificates=root_certificates)
        self._owns_channel = channel is None
        if channel is None:
            opts = self.connection.channel_options()
            if self.connection.secure:
                channel = grpc.secure_channel(self.connection.address, grpc.ssl_channel_credentials(self.connection.root_certificates), options=opts)
            else:
                channel = grpc.insecure_channel(self.connection.address, options=opts)
        self.channel = channel
        self.timeout = timeout
        self.sandboxes = sandbox_service_pb2_grpc.SandboxServiceStub(channel)
        self.interactive = interactive_service_pb2_grpc.InteractiveServiceStub(channel)

    # -------------------------------------------------------------- plumbing

    def _unary(self, method: Callable[..., T], request: Any, timeout: float | None = None) -> T:
        try:
            return method(request, metadata=self.connection.metadata(), timeout=timeout or self.timeout)
        except grpc.RpcError as err:
            raise error_from_rpc(err) from None

    def _events(self, method: Callable[..., Any], request: Any, timeout: float | None = None) -> Iterator[common_pb2.RunEvent]:
        """A server stream of ``{event}`` responses as events; cancelled when abandoned."""
        call = method(request, metadata=self.connection.metadata(), timeout=timeout)
        try:
            for response in call:
                yield response.event
        except grpc.RpcError as err:
            raise error_from_rpc(err) from None
        finally:
            call.cancel()

    def close(self) -> None:
        if self._owns_channel:
            self.channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -------------------------------------------------------------- sandboxes

    def create_sandbox(self, spec: common_pb2.SandboxSpec) -> common_pb2.Sandbox:
        # Creating may build or pull an image: no unary deadline.
        return self._unary(self.sandboxes.CreateSandbox, svc.CreateSandboxRequest(spec=spec), timeout=3600).sandbox

    def get_sandbox(self, sandbox_id: str) -> common_pb2.Sandbox:
        return self._unary(self.sandboxes.GetSandbox, svc.GetSandboxRequest(sandbox_id=sandbox_id)).sandbox

    def list_sandboxes(self, labels: Mapping[str, str] | None = None) -> list[common_pb2.Sandbox]:
        return list(self._unary(self.sandboxes.ListSandboxes, svc.ListSandboxesRequest(labels=dict(labels or {}))).sandboxes)

    def destroy_sandbox(self, sandbox_id: str) -> svc.DestroySandboxResponse:
        return self._unary(self.sandboxes.DestroySandbox, svc.DestroySandboxRequest(sandbox_id=sandbox_id), timeout=600)

    # -------------------------------------------------------------- runs

    def run(self, request: svc.RunRequest) -> Iterator[common_pb2.RunEvent]:
        return self._events(self.sandboxes.Run, request)

    def exec(self, request: svc.ExecRequest) -> Iterator[common_pb2.RunEvent]:
        return self._events(self.sandboxes.Exec, request)

    def install(self, sandbox_id: str, libraries: list[str], timeout_ms: int = 0) -> Iterator[common_pb2.RunEvent]:
        return self._events(self.sandboxes.Install, svc.InstallRequest(sandbox_id=sandbox_id, libraries=libraries, timeout_ms=timeout_ms))

    def attach(self, run_id: str, offset: int = 0) -> Iterator[common_pb2.RunEvent]:
        return self._events(self.sandboxes.Attach, svc.AttachRequest(run_id=run_id, offset=offset))

    def signal(self, run_id: str, signal: str) -> None:
        self._unary(self.sandboxes.Signal, svc.SignalRequest(run_id=run_id, signal=signal))

    def write_input(self, run_id: str, data: bytes = b"", close: bool = False) -> None:
        self._unary(self.sandboxes.WriteInput, svc.WriteInputRequest(run_id=run_id, data=data, close=close))

    # -------------------------------------------------------------- files

    def upload(
        self,
        sandbox_id: str,
        path: str,
        data: bytes,
        kind: int = svc.TRANSFER_KIND_FILE,
        mode: int = 0,
        progress: Callable[[int, int], None] | None = None,
    ) -> svc.UploadFilesResponse:
        """Sends a file (or a tar, unpacked into ``path``); checks the daemon's SHA-256."""

        def requests() -> Iterator[svc.UploadFilesRequest]:
            yield svc.UploadFilesRequest(header=svc.UploadHeader(sandbox_id=sandbox_id, path=path, kind=kind, mode=mode))
            sent = 0
            for i in range(0, len(data), CHUNK_SIZE):
                chunk = data[i : i + CHUNK_SIZE]
                sent += len(chunk)
                yield svc.UploadFilesRequest(chunk=chunk)
                if progress:
                    progress(sent, len(data))

        res = self._unary(self.sandboxes.UploadFiles, requests(), timeout=3600)
        if res.sha256 and res.sha256 != hashlib.sha256(data).hexdigest():
            msg = f"upload to {path} was corrupted in transit (sha256 mismatch)"
            raise ContainerError(msg)
        return res

    def download(self, sandbox_id: str, path: str, kind: int = svc.TRANSFER_KIND_UNSPECIFIED, progress: Callable[[int, int], None] | None = None) -> tuple[svc.DownloadHeader, bytes]:
        """A file, or a directory as a tar; the header says which."""
        call = self.sandboxes.DownloadFiles(svc.DownloadFilesRequest(sandbox_id=sandbox_id, path=path, kind=kind), metadata=self.connection.metadata())
        header = svc.DownloadHeader()
        parts: list[bytes] = []
        got = 0
        digest = hashlib.sha256()
        trailer: svc.DownloadTrailer | None = None
        try:
            for res in call:
                which = res.WhichOneof("message")
                if which == "header":
                    header = res.header
                elif which == "chunk":
                    parts.append(res.chunk)
                    digest.update(res.chunk)
                    got += len(res.chunk)
                    if progress:
                        progress(got, header.size)
                elif which == "trailer":
                    trailer = res.trailer
        except grpc.RpcError as err:
            raise error_from_rpc(err) from None
        finally:
            call.cancel()
        if trailer is not None and trailer.sha256 and trailer.sha256 != digest.hexdigest():
            msg = f"download of {path} was corrupted in transit (sha256 mismatch)"
            raise ContainerError(msg)
        return header, b"".join(parts)

    # -------------------------------------------------------------- artifacts

    def list_artifacts(self, sandbox_id: str) -> list[common_pb2.Artifact]:
        return list(self._unary(self.sandboxes.ListArtifacts, svc.ListArtifactsRequest(sandbox_id=sandbox_id)).artifacts)

    def download_artifact(self, sandbox_id: str, artifact_id: str) -> tuple[common_pb2.Artifact, bytes]:
        call = self.sandboxes.DownloadArtifact(svc.DownloadArtifactRequest(sandbox_id=sandbox_id, artifact_id=artifact_id), metadata=self.connection.metadata())
        artifact = common_pb2.Artifact()
        parts: list[bytes] = []
        try:
            for res in call:
                which = res.WhichOneof("message")
                if which == "artifact":
                    artifact = res.artifact
                elif which == "chunk":
                    parts.append(res.chunk)
        except grpc.RpcError as err:
            raise error_from_rpc(err) from None
        finally:
            call.cancel()
        return artifact, b"".join(parts)

    def clear_artifacts(self, sandbox_id: str) -> int:
        return self._unary(self.sandboxes.ClearArtifacts, svc.ClearArtifactsRequest(sandbox_id=sandbox_id)).cleared

    def check_code(self, request: svc.CheckCodeRequest) -> svc.CheckCodeResponse:
        return self._unary(self.sandboxes.CheckCode, request)

    # -------------------------------------------------------------- interactive sessions

    def create_session(self, request: isvc.CreateSessionRequest) -> isvc.Session:
        return self._unary(self.interactive.CreateSession, request, timeout=600).session

    def session_run(self, session_id: str, code: str, timeout_ms: int = 0, stdin: bytes = b"") -> Iterator[common_pb2.RunEvent]:
        return self._events(self.interactive.Run, isvc.InteractiveServiceRunRequest(session_id=session_id, code=code, timeout_ms=timeout_ms, stdin=stdin))

    def interrupt_session(self, session_id: str) -> bool:
        return self._unary(self.interactive.Interrupt, isvc.InterruptRequest(session_id=session_id)).interrupted

    def reset_session(self, session_id: str) -> None:
        self._unary(self.interactive.Reset, isvc.ResetRequest(session_id=session_id))

    def session_history(self, session_id: str, limit: int = 0) -> list[isvc.HistoryEntry]:
        return list(self._unary(self.interactive.GetHistory, isvc.GetHistoryRequest(session_id=session_id, limit=limit)).entries)

    def list_sessions(self, sandbox_id: str = "") -> list[isvc.Session]:
        return list(self._unary(self.interactive.ListSessions, isvc.ListSessionsRequest(sandbox_id=sandbox_id)).sessions)

    def close_session(self, session_id: str) -> None:
        self._unary(self.interactive.CloseSession, isvc.CloseSessionRequest(session_id=session_id))
