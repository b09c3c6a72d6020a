"""What the sync and asyncio clients share: connection settings, status decoding, request
building and turning a stream of run events into a result. Nothing here does I/O."""

from __future__ import annotations

import json

import codecs
import inspect
import io
import logging
import os
import tarfile
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import grpc

from .const import DEFAULT_IMAGES, KernelType, SandboxBackend
from .data import ConsoleOutput, ExecutionResult, FileType, PlotOutput
from .exceptions import (
    CommandFailedError,
    ContainerError,
    RunCancelledError,
    RuntimeConfigError,
    SandboxError,
    SandboxTimeoutError,
    make_error,
)
from .security import SecurityPolicy, Violation, apply_policy
from .v1 import common_pb2, interactive_service_pb2 as isvc

log = logging.getLogger("sandboxd")

DEFAULT_ADDRESS = "127.0.0.1:50051"
STATUS_DETAILS_KEY = "grpc-status-details-bin"
CHUNK_SIZE = 256 * 1024
MAX_MESSAGE_BYTES = 64 * 1024 * 1024

EXIT_STATUS_NAMES = {v.number: v.name.removeprefix("EXIT_STATUS_") for v in common_pb2.ExitStatus.DESCRIPTOR.values}


@dataclass(frozen=True)
class Connection:
    """Where the daemon is and how to authenticate; arguments win over the environment."""

    address: str
    token: str | None
    secure: bool = False
    root_certificates: bytes | None = None

    @classmethod
    def resolve(cls, address: str | None = None, token: str | None = None, *, secure: bool | None = None, root_certificates: bytes | None = None) -> Connection:
        addr = address or os.environ.get("SANDBOXD_ADDRESS") or DEFAULT_ADDRESS
        tok = token if token is not None else os.environ.get("SANDBOXD_TOKEN") or None
        use_tls = secure if secure is not None else os.environ.get("SANDBOXD_TLS", "") in {"1", "true", "yes"}
        return cls(_grpc_target(addr), tok, use_tls, root_certificates)

    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token}"),) if self.token else ()

    def channel_options(self) -> list[tuple[str, Any]]:
        return [
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.primary_user_agent", "sandboxd-python/0.1"),
        ]


def _grpc_target(address: str) -> str:
    # The daemon's --listen accepts unix:/path; gRPC wants unix:/path or unix:///path.
    if address.startswith("unix://") or address.startswith("unix:"):
        return address
    return address.removeprefix("http://").removeprefix("grpc://")


# ---------------------------------------------------------------------------- errors


def error_from_rpc(err: grpc.RpcError) -> SandboxError:
    """The typed exception for a failed call, read from the status and its details."""
    code: grpc.StatusCode | None = err.code() if hasattr(err, "code") else None  # type: ignore[attr-defined]
    message: str = (err.details() if hasattr(err, "details") else "") or ""  # type: ignore[attr-defined]
    trailers: Iterable[tuple[str, Any]] = ()
    if hasattr(err, "trailing_metadata"):
        trailers = err.trailing_metadata() or ()  # type: ignore[attr-defined]
    reason = ""
    metadata: dict[str, str] = {}
    violations: list[Violation] = []
    for key, value in trailers:
        if key == STATUS_DETAILS_KEY:
            status = common_pb2.ErrorStatus.FromString(value if isinstance(value, bytes) else value.encode("latin-1"))
            for anydetail in status.details:
                detail = common_pb2.ErrorDetail()
                if anydetail.Unpack(detail):
                    reason = detail.reason or reason
                    metadata.update(detail.metadata)
                    violations.extend(Violation.from_proto(v) for v in detail.violations)
        elif key == "sandboxd-reason" and not reason:
            reason = value if isinstance(value, str) else value.decode()
    return make_error(code, message or (code.name if code else "unknown error"), reason, metadata, violations)


# ---------------------------------------------------------------------------- specs

_MEMORY_UNITS = {"b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_memory(value: str | int) -> int:
    """Docker-style sizes: 512m, 1g, 1GB, or a number of bytes."""
    if isinstance(value, int):
        return value
    s = value.strip().lower().removesuffix("ib").removesuffix("b")
    if s and s[-1] in _MEMORY_UNITS:
        return int(float(s[:-1]) * _MEMORY_UNITS[s[-1]])
    return int(float(s or "0"))


def _seconds_to_ms(value: float | None) -> int:
    return 0 if value is None else max(1, int(round(value * 1000)))


# Docker's network modes the daemon grants (none is its default; bridge is opt-in egress).
_NETWORK_MODES = {"none": common_pb2.NETWORK_MODE_NONE, "bridge": common_pb2.NETWORK_MODE_BRIDGE, "default": common_pb2.NETWORK_MODE_BRIDGE}


def volume_mounts(value: Any) -> list[common_pb2.VolumeMount]:
    """docker-py's ``volumes`` (llm-sandbox's runtime_configs) as SandboxSpec mounts: a dict
    ``{source: {"bind": path, "mode": "ro"|"rw"}}`` or a list of ``"source:path[:mode]"``.
    A source starting with ``/`` is a host directory (the daemon allows only those its
    operator listed in volumes.host-binds, read-only unless listed ``:rw``: PERMISSION_DENIED
    otherwise); any other source names one of the tenant's volumes (``create_volume``).
    The mode defaults to ``rw``, as in docker-py."""
    entries: list[tuple[str, str, str]] = []
    if isinstance(value, dict):
        for source, target in value.items():
            if not isinstance(target, dict) or not isinstance(target.get("bind"), str):
                msg = f"runtime_configs['volumes'][{source!r}] must be {{'bind': '/path', 'mode': 'ro' | 'rw'}}, got {target!r}"
                raise RuntimeConfigError("volumes", value, msg)
            entries.append((str(source), target["bind"], str(target.get("mode", "rw"))))
    elif isinstance(value, (list, tuple)):
        for item in value:
            parts = str(item).split(":")
            if len(parts) not in (2, 3):  # noqa: PLR2004 - source:path[:mode]
                msg = f"runtime_configs['volumes'] entry {item!r} must be 'source:/path[:ro|rw]'"
                raise RuntimeConfigError("volumes", value, msg)
            entries.append((parts[0], parts[1], parts[2] if len(parts) == 3 else "rw"))  # noqa: PLR2004
    else:
        msg = f"runtime_configs['volumes'] must be a dict or a list, got {type(value).__name__}"
        raise RuntimeConfigError("volumes", value, msg)
    mounts = []
    for source, path, mode in entries:
        flags = mode.split(",")
        if not source or not path or not {"ro", "rw"} & set(flags) and mode != "":
            msg = f"runtime_configs['volumes']: {source!r} -> {path!r} with mode {mode!r}: the mode must be 'ro' or 'rw'"
            raise RuntimeConfigError("volumes", value, msg)
        m = common_pb2.VolumeMount(path=path, read_only="ro" in flags)
        if source.startswith("/"):
            m.host_path = source
        else:
            m.volume = source
        mounts.append(m)
    return mounts


def check_runtime_configs(configs: dict[str, Any] | None) -> None:
    """Refuses a ``runtime_configs`` value the daemon will not grant, instead of quietly
    running with something else: another network (``host``, ``container:<id>``, a named
    network), ``privileged: True``, added capabilities. Asking for what the daemon does
    anyway (``privileged: False``, ``cap_drop``, an empty ``cap_add``) is fine."""
    for key, value in (configs or {}).items():
        if key == "network_mode" and value is not None and str(value) not in _NETWORK_MODES:
            msg = f"runtime_configs['network_mode'] = {value!r}: sandboxd gives a sandbox no network ('none', the default) or the engine's bridge ('bridge'), never the host's or another container's"
            raise RuntimeConfigError(key, value, msg)
        if key == "privileged" and value:
            msg = "runtime_configs['privileged'] = True: sandboxd never runs a privileged container"
            raise RuntimeConfigError(key, value, msg)
        if key == "cap_add" and value:
            msg = f"runtime_configs['cap_add'] = {value!r}: sandboxd drops every capability and adds none"
            raise RuntimeConfigError(key, value, msg)
        if key == "volumes" and value:
            volume_mounts(value)


def apply_runtime_configs(spec: common_pb2.SandboxSpec, configs: dict[str, Any] | None) -> None:
    """Maps the docker-py style ``runtime_configs`` llm-sandbox passes to the engine."""
    check_runtime_configs(configs)
    for key, value in (configs or {}).items():
        if key in {"mem_limit", "memory"}:
            spec.resources.memory_bytes = parse_memory(value)
        elif key == "nano_cpus":
            spec.resources.cpus = value / 1e9
        elif key in {"cpus", "cpu_count"}:
            spec.resources.cpus = float(value)
        elif key == "cpu_quota":
            spec.resources.cpus = value / float(configs.get("cpu_period", 100_000) or 100_000)  # type: ignore[union-attr]
        elif key == "cpu_period":
            continue
        elif key == "pids_limit":
            spec.resources.pids = int(value)
        elif key in {"environment", "env"}:
            items = value.items() if isinstance(value, dict) else (str(e).split("=", 1) for e in value)
            for item in items:
                k, v = item if len(item) == 2 else (item[0], "")  # noqa: PLR2004 - docker's "NAME" alone is an empty value here
                spec.env[k] = str(v)
        elif key == "network_mode":
            spec.network = _NETWORK_MODES.get(str(value), common_pb2.NETWORK_MODE_NONE) if value is not None else common_pb2.NETWORK_MODE_NONE
        elif key == "network_disabled":
            if value:
                spec.network = common_pb2.NETWORK_MODE_NONE
        elif key == "user":
            spec.user = str(value)
        elif key == "labels":
            spec.labels.update(value)
        elif key == "working_dir":
            spec.workdir = value
        elif key == "volumes":
            if value:
                spec.mounts.extend(volume_mounts(value))
        elif key in {"privileged", "cap_add", "cap_drop"}:
            continue  # what the daemon does anyway (check_runtime_configs refused the rest)
        else:
            # The daemon applies its own hardening (read-only root, no capabilities, ...);
            # engine options beyond these have no equivalent over the API.
            warnings.warn(f"sandboxd: runtime_configs[{key!r}] has no sandboxd equivalent and is ignored", stacklevel=4)


def dockerfile_to_proto(path: str | os.PathLike[str], spec: common_pb2.SandboxSpec, max_context_bytes: int = 32 * 1024 * 1024) -> None:
    """A Dockerfile path becomes its content plus the files beside it (the build context)."""
    p = Path(path)
    if p.is_dir():
        p = p / "Dockerfile"
    spec.dockerfile.content = p.read_text(encoding="utf-8")
    total = 0
    for f in sorted(p.parent.rglob("*")):
        if not f.is_file() or f == p or ".git" in f.relative_to(p.parent).parts:
            continue
        data = f.read_bytes()
        total += len(data)
        if total > max_context_bytes:
            msg = f"the build context beside {p} is over {max_context_bytes} bytes"
            raise ValueError(msg)
        spec.dockerfile.context_files[f.relative_to(p.parent).as_posix()] = data


def egress_to_proto(egress: dict[str, Any] | common_pb2.EgressPolicy) -> common_pb2.EgressPolicy:
    """An egress allow-list as given (a dict of hosts, cidrs and ports, or the message)."""
    if isinstance(egress, common_pb2.EgressPolicy):
        return egress
    unknown = set(egress) - {"hosts", "cidrs", "ports"}
    if unknown:
        msg = f"egress takes hosts, cidrs and ports, not {', '.join(sorted(unknown))}"
        raise ValueError(msg)
    return common_pb2.EgressPolicy(
        hosts=[str(h) for h in egress.get("hosts", [])],
        cidrs=[str(c) for c in egress.get("cidrs", [])],
        ports=[int(p) for p in egress.get("ports", [])],
    )


@dataclass
class SessionOptions:
    """llm-sandbox's constructor arguments, kept as given, turned into a SandboxSpec once."""

    lang: str = "python"
    image: str | None = None
    dockerfile: str | None = None
    backend: SandboxBackend | str = SandboxBackend.DOCKER
    workdir: str | None = "/sandbox"
    runtime_configs: dict[str, Any] | None = None
    security_policy: SecurityPolicy | str | None = None
    default_timeout: float | None = None
    execution_timeout: float | None = None
    session_timeout: float | None = None
    idle_timeout: float | None = None
    keep_template: bool = False
    commit_container: bool | str = False
    container_id: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    enable_plotting: bool = True
    # llm-sandbox's Kubernetes options: the manifest is merged under the daemon's pod
    # (docs/kubernetes.md); the namespace is the daemon's (--kubernetes.namespace).
    pod_manifest: dict[str, Any] | None = None
    kube_namespace: str | None = None  # accepted, ignored (logged): pods go where the daemon puts them
    # llm-sandbox's micromamba backend: every run, install and command of the sandbox goes
    # through `micromamba run -n <environment>` (SandboxSpec.command_wrapper; docs/micromamba.md).
    environment: str | None = None
    # sandboxd's own: any argv prefix of every process of the sandbox (command_wrapper).
    command_wrapper: list[str] | None = None
    # How output bytes become text (bytes.decode's errors): llm-sandbox's default is strict.
    encoding_errors: str = "strict"
    # sandboxd's own: an egress allow-list (NETWORK_MODE_ALLOW_LIST, docs/security.md):
    # {"hosts": ["pypi.org", "*.example.com"], "cidrs": ["10.1.0.0/16"], "ports": [443]}
    # or a common_pb2.EgressPolicy; the sandbox reaches only these, through the daemon's proxy.
    egress: dict[str, Any] | common_pb2.EgressPolicy | None = None

    def get_execution_timeout(self) -> float | None:
        """llm-sandbox's SessionConfig method: the per-run deadline in seconds."""
        return self.execution_timeout or self.default_timeout

    def is_using_existing_container(self) -> bool:
        return self.container_id is not None

    def wrapper(self) -> list[str]:
        """The command wrapper of the sandbox: ``command_wrapper`` as given, else, on the
        micromamba backend, ``micromamba run -n <environment>`` (``base`` by default)."""
        if self.command_wrapper:
            return [str(a) for a in self.command_wrapper]
        if SandboxBackend(self.backend) == SandboxBackend.MICROMAMBA:
            return ["micromamba", "run", "-n", self.environment or "base"]
        return []

    def to_spec(self) -> common_pb2.SandboxSpec:
        spec = common_pb2.SandboxSpec(language=str(self.lang))
        if self.image and str(self.image) not in DEFAULT_IMAGES:  # llm-sandbox's default image: the daemon's for the language
            spec.image = self.image
        if self.dockerfile:
            dockerfile_to_proto(self.dockerfile, spec)
        spec.backend = SandboxBackend(self.backend).to_proto()
        if self.workdir:
            spec.workdir = self.workdir
        apply_runtime_configs(spec, self.runtime_configs)
        if self.egress is not None:
            spec.network = common_pb2.NETWORK_MODE_ALLOW_LIST
            spec.egress.CopyFrom(egress_to_proto(self.egress))
        apply_policy(spec, self.security_policy)
        timeout = self.execution_timeout if self.execution_timeout is not None else self.default_timeout
        spec.execution_timeout_ms = _seconds_to_ms(timeout)
        spec.ttl_ms = _seconds_to_ms(self.session_timeout)
        spec.idle_timeout_ms = _seconds_to_ms(self.idle_timeout)
        if self.commit_container:
            spec.commit_on_close = self.commit_container if isinstance(self.commit_container, str) else (self.image or f"sandboxd/{self.lang}") .split(":")[0] + ":committed"
        if self.container_id:
            spec.container_id = self.container_id
        spec.env.update(self.env)
        spec.labels.update(self.labels)
        if not self.enable_plotting:
            spec.artifacts.disable_plot_capture = True
        if self.pod_manifest:
            spec.pod_manifest = json.dumps(self.pod_manifest)
        spec.command_wrapper.extend(self.wrapper())
        return spec


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
            cell_timeout_ms=_seconds_to_ms(self.timeout),
            history_size=self.history_size,
            memory_limit_bytes=parse_memory(self.max_memory) if self.max_memory else 0,
        )


SESSION_OPTION_NAMES = set(SessionOptions.__dataclass_fields__)
# llm-sandbox arguments that mean nothing for a daemon-hosted sandbox.
IGNORED_OPTIONS = {"client", "stream", "skip_environment_setup", "env_vars", "mounts"}
# Of those (and the options kept only to be read back), the ones that configure
# llm-sandbox's own engine client: accepted, and one log line says they are not used.
ENGINE_CLIENT_OPTIONS = ("client", "stream", "kube_namespace")


def session_options(kwargs: dict[str, Any], foreign: tuple[str, ...] = ()) -> SessionOptions:
    """llm-sandbox's keyword arguments as options; ``foreign`` names arguments the caller
    already found to be for llm-sandbox's engine client (a docker client as ``client``)."""
    known = {k: v for k, v in kwargs.items() if k in SESSION_OPTION_NAMES and v is not None}
    ignored = list(foreign)
    for k in kwargs:
        if k in IGNORED_OPTIONS:
            if k == "env_vars" and isinstance(kwargs[k], dict):
                known.setdefault("env", {}).update(kwargs[k])
            elif k in ENGINE_CLIENT_OPTIONS and k not in ignored:
                ignored.append(k)
            continue
        if k not in SESSION_OPTION_NAMES:
            msg = f"SandboxSession() got an unexpected keyword argument {k!r}"
            raise TypeError(msg)
    if kwargs.get("kube_namespace") is not None:
        ignored.append("kube_namespace")
    if kwargs.get("mounts"):
        warnings.warn("sandboxd: mounts are not supported (a sandbox sees no host path); copy files in with copy_to_runtime", stacklevel=4)
    if ignored:
        log.info("sandboxd: %s configure llm-sandbox's local engine client; ignored (the daemon's engine and settings are used)", ", ".join(ignored))
    check_runtime_configs(known.get("runtime_configs"))
    if known.get("environment") is not None and SandboxBackend(known.get("backend", SandboxBackend.DOCKER)) != SandboxBackend.MICROMAMBA:
        msg = "environment= names a micromamba environment: it needs backend=SandboxBackend.MICROMAMBA (or use MicromambaSession)"
        raise TypeError(msg)
    if "encoding_errors" in known:
        codecs.lookup_error(str(known["encoding_errors"]))  # LookupError for an unknown mode, at once
    return SessionOptions(**known)


def parameter_defaults(fn: Callable[..., Any]) -> dict[str, Any]:
    """The default of each of ``fn``'s parameters that has one (llm-sandbox's, for a session class)."""
    return {p.name: p.default for p in inspect.signature(fn).parameters.values() if p.default is not inspect.Parameter.empty}


def backend_session_kwargs(given: dict[str, Any], defaults: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """The arguments a backend session class (``SandboxDockerSession`` and the others) passes
    on: those given with a value other than llm-sandbox's default, then ``extra``. Left at
    their defaults, the engine-client options (``stream``, ``kube_namespace``, ...) are not
    passed, so nothing is logged as ignored."""
    return {**{k: v for k, v in given.items() if k in defaults and v is not defaults[k] and v != defaults[k]}, **extra}


# ---------------------------------------------------------------------------- runs

TextCallback = Callable[[str], Any]


class RunCollector:
    """Folds a run's events into a result, calling the output callbacks as data arrives.

    Output of an install phase is kept apart: llm-sandbox's ``run`` returns what the code
    printed, not what pip printed.
    """

    def __init__(self, on_stdout: TextCallback | None = None, on_stderr: TextCallback | None = None, encoding_errors: str = "strict") -> None:
        self.on_stdout = on_stdout
        self.on_stderr = on_stderr
        # Incremental: a character split between two chunks is decoded whole. With "strict"
        # (llm-sandbox's default) bytes that are not UTF-8 make ``result()`` raise
        # UnicodeDecodeError once the run has ended; what came before them is kept.
        self.encoding_errors = encoding_errors
        self._decoders = {s: codecs.getincrementaldecoder("utf-8")(encoding_errors) for s in (common_pb2.STREAM_STDOUT, common_pb2.STREAM_STDERR)}
        self.decode_error: UnicodeDecodeError | None = None
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self.install_output: list[str] = []
        self.artifacts: list[common_pb2.Artifact] = []
        self.displays: list[common_pb2.DisplayData] = []
        self.errors: list[common_pb2.CellError] = []
        self.run_id = ""
        self.exited: common_pb2.RunExited | None = None

    def feed(self, event: common_pb2.RunEvent) -> list[tuple[TextCallback, str]]:
        """Records one event; returns the callbacks to call (the async client awaits them)."""
        kind = event.WhichOneof("event")
        calls: list[tuple[TextCallback, str]] = []
        if kind == "started":
            if not self.run_id:
                self.run_id = event.started.run_id
        elif kind == "output":
            out = event.output
            text = self._decode(out.stream, out.data)
            if out.phase == common_pb2.RUN_PHASE_INSTALL:
                self.install_output.append(text)
            elif out.stream == common_pb2.STREAM_STDERR:
                self.stderr.append(text)
                if self.on_stderr and text:
                    calls.append((self.on_stderr, text))
            else:
                self.stdout.append(text)
                if self.on_stdout and text:
                    calls.append((self.on_stdout, text))
        elif kind == "artifact":
            self.artifacts.append(event.artifact)
        elif kind == "display":
            self.displays.append(event.display)
        elif kind == "error":
            self.errors.append(event.error)
        elif kind == "exited":
            self.exited = event.exited
            for stream in self._decoders:
                # Output cut at the daemon's cap may end inside a character: that tail goes.
                tail = self._decode(stream, b"", final=True, lenient=event.exited.truncated)
                if tail:
                    (self.stderr if stream == common_pb2.STREAM_STDERR else self.stdout).append(tail)
        return calls

    def _decode(self, stream: int, data: bytes, final: bool = False, lenient: bool = False) -> str:
        decoder = self._decoders[stream]
        if self.decode_error is not None and self.encoding_errors == "strict":
            return ""  # a strict decode already failed: the run's text stops there
        try:
            return decoder.decode(data, final=final)
        except UnicodeDecodeError as err:
            decoder.reset()
            if not lenient:
                self.decode_error = err
            return ""

    def result(self, timeout: float | None = None, command: str = "", *, check: bool = True) -> ConsoleOutput:
        """The console output, or the llm-sandbox exception for how the run ended.

        ``check=False``: the output whatever the exit status (``status`` says how it ended).
        """
        ex = self.exited
        stdout, stderr = "".join(self.stdout), "".join(self.stderr)
        if ex is None:
            msg = "the run's stream ended without an exit event"
            raise ContainerError(msg)
        if self.decode_error is not None and ex.status != common_pb2.EXIT_STATUS_TIMEOUT:
            raise self.decode_error
        status = EXIT_STATUS_NAMES.get(ex.status, "UNSPECIFIED")
        exit_code = ex.exit_code
        if ex.status in (common_pb2.EXIT_STATUS_KILLED, common_pb2.EXIT_STATUS_OOM, common_pb2.EXIT_STATUS_TIMEOUT):
            exit_code = 128 + (ex.signal or 9)
        if self.errors and exit_code == 0:
            exit_code = 1  # an IPython cell that raised
        result = ConsoleOutput(
            exit_code=exit_code,
            stdout=stdout,
            stderr=stderr,
            status=status,
            signal=ex.signal,
            duration_ms=ex.duration_ms,
            truncated=ex.truncated,
            run_id=self.run_id,
            peak_memory_bytes=ex.peak_memory_bytes,
            cpu_time_ms=ex.cpu_time_ms,
        )
        if not check:
            return result
        if ex.status == common_pb2.EXIT_STATUS_TIMEOUT:
            limit = timeout if timeout is not None else None
            msg = ex.message or "execution timed out"
            raise SandboxTimeoutError(msg, limit, result=result, reason="RUN_TIMEOUT")
        if ex.status == common_pb2.EXIT_STATUS_CANCELLED:
            raise RunCancelledError(ex.message or "the run was cancelled", reason="RUN_CANCELLED")
        if ex.status == common_pb2.EXIT_STATUS_LOST:
            raise ContainerError(ex.message or "the run was lost", reason="RUN_LOST")
        if ex.phase == common_pb2.RUN_PHASE_INSTALL and exit_code != 0:
            # The daemon's message says why (no network, and how to give egress) before the installer's words.
            output = "".join(self.install_output)
            raise CommandFailedError(command or "library installation", exit_code, f"{ex.message}\n{output}" if ex.message else output)
        return result


def execution_result(out: ConsoleOutput, plots: list[PlotOutput], run_plots: list[PlotOutput] | None = None) -> ExecutionResult:
    fields = {k: getattr(out, k) for k in ConsoleOutput.__dataclass_fields__}
    return ExecutionResult(**fields, plots=plots, run_plots=plots if run_plots is None else run_plots)


def plot_output(artifact: common_pb2.Artifact, content: bytes) -> PlotOutput:
    import base64

    return PlotOutput(
        format=FileType.from_format(artifact.format, artifact.mime_type),
        content_base64=base64.b64encode(content).decode("ascii"),
        width=artifact.width or None,
        height=artifact.height or None,
        dpi=artifact.dpi or None,
        id=artifact.id,
        name=artifact.name,
        index=artifact.index,
    )


# ---------------------------------------------------------------------------- sessions


class ContainerInfo:
    """``session.container``: the engine's container behind the session's sandbox.

    ``id`` is the engine's id (Docker's full container id, a pod's name on Kubernetes):
    what ``SandboxSession(container_id=...)`` takes. Other attributes are the sandbox's
    (``sandboxd.v1.Sandbox``), also reachable as ``.sandbox``.
    """

    def __init__(self, sandbox: common_pb2.Sandbox) -> None:
        self.sandbox = sandbox

    @property
    def id(self) -> str:
        return self.sandbox.container_id

    @property
    def short_id(self) -> str:
        return self.sandbox.container_id[:12]

    @property
    def status(self) -> str:
        """``running``, ``failed``, ... (the sandbox's state, as Docker names container states)."""
        return common_pb2.SandboxState.Name(self.sandbox.state).removeprefix("SANDBOX_STATE_").lower()

    def __getattr__(self, name: str) -> Any:
        if name == "sandbox":
            raise AttributeError(name)
        return getattr(self.sandbox, name)

    def __repr__(self) -> str:
        return f"<Container {self.short_id} of sandbox {self.sandbox.id}>"


# ---------------------------------------------------------------------------- files


def tar_directory(src: Path) -> bytes:
    """A directory as an uncompressed tar, paths relative to it, no symlinks followed."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in sorted(src.rglob("*")):
            tar.add(entry, arcname=entry.relative_to(src).as_posix(), recursive=False)
    return buf.getvalue()


def extract_tar_safely(data: bytes, dest: Path) -> None:
    """Unpacks a tar from the sandbox, refusing absolute paths, '..' and links."""
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
        members = []
        for m in tar.getmembers():
            parts = PurePosixPath(m.name).parts
            if m.name.startswith("/") or ".." in parts or m.issym() or m.islnk() or not (m.isfile() or m.isdir()):
                log.warning("sandboxd: skipping unsafe archive member %s", m.name)
                continue
            members.append(m)
        tar.extractall(dest, members=members, filter="data") if hasattr(tarfile, "data_filter") else tar.extractall(dest, members=members)  # noqa: S202


def archive_of(path: str, is_tar: bool, mode: int, data: bytes) -> tuple[bytes, dict[str, Any]]:
    """What docker's ``get_archive`` (llm-sandbox's) returns for a download of ``path``: a
    tar whose top entry is the path's name (a directory's files below it) and a stat dict.
    ``data`` is the daemon's download: a file's bytes, or a tar of a directory's contents."""
    name = PurePosixPath(path).name or "."
    buf = io.BytesIO()
    size = len(data)
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as out:
        top = tarfile.TarInfo(name)
        top.mode = mode & 0o7777 if mode else (0o755 if is_tar else 0o644)
        if not is_tar:
            top.size = size
            out.addfile(top, io.BytesIO(data))
        else:
            top.type = tarfile.DIRTYPE
            out.addfile(top)
            size = 0
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as src:
                for member in src.getmembers():
                    rel = PurePosixPath(member.name)
                    if member.name.startswith("/") or ".." in rel.parts or rel.as_posix() in ("", "."):
                        continue
                    member.name = f"{name}/{rel.as_posix()}"
                    size += member.size if member.isfile() else 0
                    out.addfile(member, src.extractfile(member) if member.isfile() else None)
    stat = {"name": name, "size": size, "mode": top.mode | (0o040000 if is_tar else 0o100000), "mtime": "", "linkTarget": ""}
    return buf.getvalue(), stat


def chunks(data: bytes, size: int = CHUNK_SIZE) -> Iterable[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]
