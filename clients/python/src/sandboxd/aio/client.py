"""The low-level client: one channel, typed exceptions, server streams as iterators.

Sessions (``SandboxSession`` and friends) are built on it; use it directly for what the
llm-sandbox API has no words for (attach, signals, raw events).
"""

from __future__ import annotations

import hashlib
import inspect  # async only
import os
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import grpc
import grpc.aio  # async only

from .._core import CHUNK_SIZE, Connection, dockerfile_to_proto, error_from_rpc
from ..exceptions import ContainerError
from ..v1 import (
    common_pb2,
    interactive_service_pb2 as isvc,
    interactive_service_pb2_grpc,
    pool_service_pb2 as psvc,
    pool_service_pb2_grpc,
    sandbox_service_pb2 as svc,
    sandbox_service_pb2_grpc,
    volume_service_pb2 as vsvc,
    volume_service_pb2_grpc,
    terminal_service_pb2_grpc,
)


class Client:
    """A connection to sandboxd.

    ``address`` and ``token`` default to ``SANDBOXD_ADDRESS`` and ``SANDBOXD_TOKEN``
    (then ``127.0.0.1:50051`` and no token). ``timeout`` (seconds) bounds each unary call.
    """

    # async only: a grpc.aio channel belongs to the event loop it is made in, so create the client inside it.
    def __init__(
        self,
        address: str | None = None,
        token: str | None = None,
        *,
        secure: bool | None = None,
        root_certificates: bytes | None = None,
        channel: grpc.aio.Channel | None = None,
        timeout: float | None = 120.0,
    ) -> None:
        self.connection = Connection.resolve(address, token, secure=secure, root_certificates=root_certificates)
        self._owns_channel = channel is None
        if channel is None:
            opts = self.connection.channel_options()
            if self.connection.secure:
                channel = grpc.aio.secure_channel(self.connection.address, grpc.ssl_channel_credentials(self.connection.root_certificates), options=opts)
            else:
                channel = grpc.aio.insecure_channel(self.connection.address, options=opts)
        self.channel = channel
        self.timeout = timeout
        self.sandboxes = sandbox_service_pb2_grpc.SandboxServiceStub(channel)
        self.interactive = interactive_service_pb2_grpc.InteractiveServiceStub(channel)
        self.pools = pool_service_pb2_grpc.PoolServiceStub(channel)
        self.volumes = volume_service_pb2_grpc.VolumeServiceStub(channel)
        self.terminals = terminal_service_pb2_grpc.TerminalServiceStub(channel)

    # -------------------------------------------------------------- plumbing

    async def _unary(self, method: Callable[..., Any], request: Any, timeout: float | None = None) -> Any:
        try:
            return await method(request, metadata=self.connection.metadata(), timeout=timeout or self.timeout)
        except grpc.RpcError as err:
            raise error_from_rpc(err) from None

    async def _responses(self, method: Callable[..., Any], request: Any) -> AsyncIterator[Any]:
        """A server stream's responses, failures as typed exceptions; cancelled when abandoned."""
        call = method(request, metadata=self.connection.metadata())
        try:
            async for response in call:
                yield response
        except grpc.RpcError as err:
            raise error_from_rpc(err) from None
        finally:
            call.cancel()

    async def _events(self, method: Callable[..., Any], request: Any) -> AsyncIterator[common_pb2.RunEvent]:
        """A server stream of ``{event}`` responses as events."""
        responses = self._responses(method, request)
        try:
            async for response in responses:
                yield response.event
        finally:
            await responses.aclose()  # cancels the call now, not when the generator is collected

    async def close(self) -> None:
        if self._owns_channel:
            await self.channel.close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -------------------------------------------------------------- sandboxes

    async def create_sandbox(self, spec: common_pb2.SandboxSpec) -> common_pb2.Sandbox:
        # Creating may build or pull an image: no unary deadline.
        return (await self._unary(self.sandboxes.CreateSandbox, svc.CreateSandboxRequest(spec=spec), timeout=3600)).sandbox

    async def build_image(
        self,
        dockerfile: str | os.PathLike[str] | common_pb2.Dockerfile,
        on_output: Callable[[str], None] | None = None,
    ) -> svc.BuildImageResult:
        """Builds a Dockerfile into an image sandboxes start from (``SandboxSpec.image``).

        ``dockerfile`` is a path (the file, or a folder holding a ``Dockerfile``; the files beside
        it are the build context) or a ``Dockerfile`` message. The build's output goes to
        ``on_output`` piece by piece as it runs. The result names the image, and ``cached`` is true
        when nothing had to be built. A failing build raises ``ContainerError`` (reason
        ``IMAGE_BUILD_FAILED``) after its output; closing the call stops the build. Builds have no
        network unless the daemon runs with ``--network.build default``.
        """
        if not isinstance(dockerfile, common_pb2.Dockerfile):
            spec = common_pb2.SandboxSpec()
            dockerfile_to_proto(dockerfile, spec)
            dockerfile = spec.dockerfile
        responses = self._responses(self.sandboxes.BuildImage, svc.BuildImageRequest(dockerfile=dockerfile))
        try:
            async for response in responses:
                if response.WhichOneof("event") == "output":
                    if on_output is not None:
                        on_output(response.output)
                elif response.WhichOneof("event") == "result":
                    return response.result
        finally:
            await responses.aclose()
        msg = "the build ended without a result"
        raise ContainerError(msg)

    async def acquire_sandbox(
        self,
        pool_id: str,
        *,
        labels: Mapping[str, str] | None = None,
        ttl_ms: int = 0,
        idle_timeout_ms: int = 0,
        timeout: float | None = 3600,
    ) -> common_pb2.Sandbox:
        """A sandbox from a pool (its id or name): a ready member, else per the pool's
        exhaustion strategy. ``timeout`` must outlast the pool's ``acquisition_timeout``."""
        spec = common_pb2.SandboxSpec(labels=dict(labels or {}), ttl_ms=ttl_ms, idle_timeout_ms=idle_timeout_ms)
        return (await self._unary(self.sandboxes.CreateSandbox, svc.CreateSandboxRequest(pool_id=pool_id, spec=spec), timeout=timeout)).sandbox

    async def get_sandbox(self, sandbox_id: str) -> common_pb2.Sandbox:
        return (await self._unary(self.sandboxes.GetSandbox, svc.GetSandboxRequest(sandbox_id=sandbox_id))).sandbox

    async def list_sandboxes(self, labels: Mapping[str, str] | None = None) -> list[common_pb2.Sandbox]:
        return list((await self._unary(self.sandboxes.ListSandboxes, svc.ListSandboxesRequest(labels=dict(labels or {})))).sandboxes)

    async def get_usage(self, sandbox_id: str) -> common_pb2.SandboxUsage:
        """The sandbox's usage now: memory (current, peak, limit), CPU time, processes and the
        used bytes of its writable paths (``available`` is false where it cannot be measured)."""
        return (await self.get_sandbox(sandbox_id)).usage

    def watch_files(
        self,
        sandbox_id: str,
        path: str = "",
        *,
        recursive: bool = False,
        on_ready: Callable[[], Any] | None = None,
    ) -> AsyncIterator[svc.FileEvent]:
        """Changes under ``path`` (absolute, or relative to the workdir; empty: the workdir) as
        they happen: ``FileEvent`` with ``type`` create, write, remove, rename (``old_path`` to
        ``path``) or overflow, paths absolute. ``on_ready`` is called (and awaited) once the
        watch is in place (changes from then on are seen). Iteration ends when the sandbox goes away; stop
        it by closing the iterator (or breaking out)."""
        return self._file_events(svc.WatchFilesRequest(sandbox_id=sandbox_id, path=path, recursive=recursive), on_ready)

    async def _file_events(self, request: svc.WatchFilesRequest, on_ready: Callable[[], Any] | None) -> AsyncIterator[svc.FileEvent]:
        responses = self._responses(self.sandboxes.WatchFiles, request)
        try:
            async for response in responses:
                if response.WhichOneof("message") == "event":
                    yield response.event
                elif on_ready is not None:
                    ready = on_ready()
                    if inspect.isawaitable(ready):  # async only
                        await ready
        finally:
            await responses.aclose()

    def watch_sandbox(self, sandbox_id: str, interval_ms: int = 1000) -> AsyncIterator[common_pb2.SandboxUsage]:
        """The sandbox's usage every ``interval_ms`` (at least 100), the first at once; the
        iteration ends when the sandbox goes away (destroyed or reaped)."""
        return self._usage_samples(svc.WatchSandboxRequest(sandbox_id=sandbox_id, interval_ms=interval_ms))

    async def _usage_samples(self, request: svc.WatchSandboxRequest) -> AsyncIterator[common_pb2.SandboxUsage]:
        responses = self._responses(self.sandboxes.WatchSandbox, request)
        try:
            async for response in responses:
                yield response.usage
        finally:
            await responses.aclose()

    async def destroy_sandbox(self, sandbox_id: str) -> svc.DestroySandboxResponse:
        return await self._unary(self.sandboxes.DestroySandbox, svc.DestroySandboxRequest(sandbox_id=sandbox_id), timeout=600)

    async def pause_sandbox(self, sandbox_id: str) -> svc.PauseSandboxResponse:
        """Freezes every process of the sandbox (Docker, Podman; Kubernetes raises with reason
        ``NOT_SUPPORTED_BY_BACKEND``). Idempotent: ``changed`` is False when it was paused
        already. A paused sandbox is never idle; its TTL keeps running."""
        return await self._unary(self.sandboxes.PauseSandbox, svc.PauseSandboxRequest(sandbox_id=sandbox_id))

    async def resume_sandbox(self, sandbox_id: str) -> svc.ResumeSandboxResponse:
        """Thaws a paused sandbox. Idempotent: ``changed`` is False when it was running already."""
        return await self._unary(self.sandboxes.ResumeSandbox, svc.ResumeSandboxRequest(sandbox_id=sandbox_id))

    # -------------------------------------------------------------- pools

    async def create_pool(
        self,
        spec: common_pb2.SandboxSpec,
        settings: psvc.PoolSettings | None = None,
        *,
        name: str = "",
        libraries: list[str] | None = None,
    ) -> psvc.Pool:
        request = psvc.CreatePoolRequest(name=name, spec=spec, settings=settings or psvc.PoolSettings(), libraries=libraries or [])
        return (await self._unary(self.pools.CreatePool, request, timeout=3600)).pool

    async def get_pool(self, pool_id: str) -> psvc.Pool:
        return (await self._unary(self.pools.GetPool, psvc.GetPoolRequest(pool_id=pool_id))).pool

    async def list_pools(self) -> list[psvc.Pool]:
        return list((await self._unary(self.pools.ListPools, psvc.ListPoolsRequest())).pools)

    async def update_pool(self, pool_id: str, settings: psvc.PoolSettings) -> psvc.Pool:
        return (await self._unary(self.pools.UpdatePool, psvc.UpdatePoolRequest(pool_id=pool_id, settings=settings))).pool

    async def delete_pool(self, pool_id: str, destroy_sandboxes: bool = False) -> psvc.DeletePoolResponse:
        return await self._unary(self.pools.DeletePool, psvc.DeletePoolRequest(pool_id=pool_id, destroy_sandboxes=destroy_sandboxes), timeout=600)

    # -------------------------------------------------------------- volumes

    async def create_volume(self, name: str, size_limit_bytes: int = 0) -> vsvc.Volume:
        """A named volume of this tenant (docs/volumes.md); mount it with ``runtime_configs={"volumes": {name: {"bind": path, "mode": "rw"}}}``.
        The size limit is recorded, not enforced on Docker and Podman."""
        return (await self._unary(self.volumes.CreateVolume, vsvc.CreateVolumeRequest(name=name, size_limit_bytes=size_limit_bytes), timeout=120)).volume

    async def get_volume(self, volume: str) -> vsvc.Volume:
        """The volume by id or name, with the bytes it holds now (``used_bytes``)."""
        return (await self._unary(self.volumes.GetVolume, vsvc.GetVolumeRequest(volume=volume), timeout=120)).volume

    async def list_volumes(self) -> list[vsvc.Volume]:
        return list((await self._unary(self.volumes.ListVolumes, vsvc.ListVolumesRequest())).volumes)

    async def delete_volume(self, volume: str) -> bool:
        """False when it was gone; refused (FAILED_PRECONDITION, reason ``VOLUME_IN_USE``) while a live sandbox mounts it."""
        return (await self._unary(self.volumes.DeleteVolume, vsvc.DeleteVolumeRequest(volume=volume))).deleted

    # -------------------------------------------------------------- runs

    def run(self, request: svc.RunRequest) -> AsyncIterator[common_pb2.RunEvent]:
        return self._events(self.sandboxes.Run, request)

    def exec(self, request: svc.ExecRequest) -> AsyncIterator[common_pb2.RunEvent]:
        return self._events(self.sandboxes.Exec, request)

    def install(self, sandbox_id: str, libraries: list[str], timeout_ms: int = 0) -> AsyncIterator[common_pb2.RunEvent]:
        return self._events(self.sandboxes.Install, svc.InstallRequest(sandbox_id=sandbox_id, libraries=libraries, timeout_ms=timeout_ms))

    def attach(self, run_id: str, offset: int = 0) -> AsyncIterator[common_pb2.RunEvent]:
        return self._events(self.sandboxes.Attach, svc.AttachRequest(run_id=run_id, offset=offset))

    async def signal(self, run_id: str, signal: str) -> None:
        await self._unary(self.sandboxes.Signal, svc.SignalRequest(run_id=run_id, signal=signal))

    async def write_input(self, run_id: str, data: bytes = b"", close: bool = False) -> None:
        await self._unary(self.sandboxes.WriteInput, svc.WriteInputRequest(run_id=run_id, data=data, close=close))

    # -------------------------------------------------------------- files

    async def upload(
        self,
        sandbox_id: str,
        path: str,
        data: bytes,
        kind: int = svc.TRANSFER_KIND_FILE,
        mode: int = 0,
        progress: Callable[[int, int], None] | None = None,
    ) -> svc.UploadFilesResponse:
        """Sends a file (or a tar, unpacked into ``path``); checks the daemon's SHA-256."""

        async def requests() -> AsyncIterator[svc.UploadFilesRequest]:
            yield svc.UploadFilesRequest(header=svc.UploadHeader(sandbox_id=sandbox_id, path=path, kind=kind, mode=mode))
            sent = 0
            for i in range(0, len(data), CHUNK_SIZE):
                chunk = data[i : i + CHUNK_SIZE]
                sent += len(chunk)
                yield svc.UploadFilesRequest(chunk=chunk)
                if progress:
                    progress(sent, len(data))

        res = await self._unary(self.sandboxes.UploadFiles, requests(), timeout=3600)
        if res.sha256 and res.sha256 != hashlib.sha256(data).hexdigest():
            msg = f"upload to {path} was corrupted in transit (sha256 mismatch)"
            raise ContainerError(msg)
        return res

    async def download(self, sandbox_id: str, path: str, kind: int = svc.TRANSFER_KIND_UNSPECIFIED, progress: Callable[[int, int], None] | None = None) -> tuple[svc.DownloadHeader, bytes]:
        """A file, or a directory as a tar; the header says which."""
        header = svc.DownloadHeader()
        parts: list[bytes] = []
        got = 0
        digest = hashlib.sha256()
        trailer: svc.DownloadTrailer | None = None
        async for res in self._responses(self.sandboxes.DownloadFiles, svc.DownloadFilesRequest(sandbox_id=sandbox_id, path=path, kind=kind)):
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
        if trailer is not None and trailer.sha256 and trailer.sha256 != digest.hexdigest():
            msg = f"download of {path} was corrupted in transit (sha256 mismatch)"
            raise ContainerError(msg)
        return header, b"".join(parts)

    # -------------------------------------------------------------- artifacts

    async def list_artifacts(self, sandbox_id: str) -> list[common_pb2.Artifact]:
        return list((await self._unary(self.sandboxes.ListArtifacts, svc.ListArtifactsRequest(sandbox_id=sandbox_id))).artifacts)

    async def download_artifact(self, sandbox_id: str, artifact_id: str) -> tuple[common_pb2.Artifact, bytes]:
        artifact = common_pb2.Artifact()
        parts: list[bytes] = []
        async for res in self._responses(self.sandboxes.DownloadArtifact, svc.DownloadArtifactRequest(sandbox_id=sandbox_id, artifact_id=artifact_id)):
            which = res.WhichOneof("message")
            if which == "artifact":
                artifact = res.artifact
            elif which == "chunk":
                parts.append(res.chunk)
        return artifact, b"".join(parts)

    async def clear_artifacts(self, sandbox_id: str) -> int:
        return (await self._unary(self.sandboxes.ClearArtifacts, svc.ClearArtifactsRequest(sandbox_id=sandbox_id))).cleared

    async def check_code(self, request: svc.CheckCodeRequest) -> svc.CheckCodeResponse:
        return await self._unary(self.sandboxes.CheckCode, request)

    # -------------------------------------------------------------- interactive sessions

    async def create_session(self, request: isvc.CreateSessionRequest) -> isvc.Session:
        return (await self._unary(self.interactive.CreateSession, request, timeout=600)).session

    def session_run(self, session_id: str, code: str, timeout_ms: int = 0, stdin: bytes = b"") -> AsyncIterator[common_pb2.RunEvent]:
        return self._events(self.interactive.Run, isvc.InteractiveServiceRunRequest(session_id=session_id, code=code, timeout_ms=timeout_ms, stdin=stdin))

    async def interrupt_session(self, session_id: str) -> bool:
        return (await self._unary(self.interactive.Interrupt, isvc.InterruptRequest(session_id=session_id))).interrupted

    async def reset_session(self, session_id: str) -> None:
        await self._unary(self.interactive.Reset, isvc.ResetRequest(session_id=session_id))

    async def session_history(self, session_id: str, limit: int = 0) -> list[isvc.HistoryEntry]:
        return list((await self._unary(self.interactive.GetHistory, isvc.GetHistoryRequest(session_id=session_id, limit=limit))).entries)

    async def list_sessions(self, sandbox_id: str = "") -> list[isvc.Session]:
        return list((await self._unary(self.interactive.ListSessions, isvc.ListSessionsRequest(sandbox_id=sandbox_id))).sessions)

    async def close_session(self, session_id: str) -> None:
        await self._unary(self.interactive.CloseSession, isvc.CloseSessionRequest(session_id=session_id))
