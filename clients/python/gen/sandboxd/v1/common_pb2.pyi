import datetime

from google.protobuf import any_pb2 as _any_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Backend(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BACKEND_UNSPECIFIED: _ClassVar[Backend]
    BACKEND_DOCKER: _ClassVar[Backend]
    BACKEND_PODMAN: _ClassVar[Backend]
    BACKEND_KUBERNETES: _ClassVar[Backend]

class NetworkMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NETWORK_MODE_UNSPECIFIED: _ClassVar[NetworkMode]
    NETWORK_MODE_NONE: _ClassVar[NetworkMode]
    NETWORK_MODE_BRIDGE: _ClassVar[NetworkMode]
    NETWORK_MODE_ALLOW_LIST: _ClassVar[NetworkMode]

class SandboxState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SANDBOX_STATE_UNSPECIFIED: _ClassVar[SandboxState]
    SANDBOX_STATE_CREATING: _ClassVar[SandboxState]
    SANDBOX_STATE_RUNNING: _ClassVar[SandboxState]
    SANDBOX_STATE_STOPPED: _ClassVar[SandboxState]
    SANDBOX_STATE_EXPIRED: _ClassVar[SandboxState]
    SANDBOX_STATE_FAILED: _ClassVar[SandboxState]
    SANDBOX_STATE_PAUSED: _ClassVar[SandboxState]

class Stream(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STREAM_UNSPECIFIED: _ClassVar[Stream]
    STREAM_STDOUT: _ClassVar[Stream]
    STREAM_STDERR: _ClassVar[Stream]

class ExitStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXIT_STATUS_UNSPECIFIED: _ClassVar[ExitStatus]
    EXIT_STATUS_EXITED: _ClassVar[ExitStatus]
    EXIT_STATUS_TIMEOUT: _ClassVar[ExitStatus]
    EXIT_STATUS_KILLED: _ClassVar[ExitStatus]
    EXIT_STATUS_OOM: _ClassVar[ExitStatus]
    EXIT_STATUS_CANCELLED: _ClassVar[ExitStatus]
    EXIT_STATUS_LOST: _ClassVar[ExitStatus]

class RunPhase(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RUN_PHASE_UNSPECIFIED: _ClassVar[RunPhase]
    RUN_PHASE_INSTALL: _ClassVar[RunPhase]
    RUN_PHASE_COMPILE: _ClassVar[RunPhase]
    RUN_PHASE_RUN: _ClassVar[RunPhase]

class SecuritySeverity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SECURITY_SEVERITY_UNSPECIFIED: _ClassVar[SecuritySeverity]
    SECURITY_SEVERITY_SAFE: _ClassVar[SecuritySeverity]
    SECURITY_SEVERITY_LOW: _ClassVar[SecuritySeverity]
    SECURITY_SEVERITY_MEDIUM: _ClassVar[SecuritySeverity]
    SECURITY_SEVERITY_HIGH: _ClassVar[SecuritySeverity]
BACKEND_UNSPECIFIED: Backend
BACKEND_DOCKER: Backend
BACKEND_PODMAN: Backend
BACKEND_KUBERNETES: Backend
NETWORK_MODE_UNSPECIFIED: NetworkMode
NETWORK_MODE_NONE: NetworkMode
NETWORK_MODE_BRIDGE: NetworkMode
NETWORK_MODE_ALLOW_LIST: NetworkMode
SANDBOX_STATE_UNSPECIFIED: SandboxState
SANDBOX_STATE_CREATING: SandboxState
SANDBOX_STATE_RUNNING: SandboxState
SANDBOX_STATE_STOPPED: SandboxState
SANDBOX_STATE_EXPIRED: SandboxState
SANDBOX_STATE_FAILED: SandboxState
SANDBOX_STATE_PAUSED: SandboxState
STREAM_UNSPECIFIED: Stream
STREAM_STDOUT: Stream
STREAM_STDERR: Stream
EXIT_STATUS_UNSPECIFIED: ExitStatus
EXIT_STATUS_EXITED: ExitStatus
EXIT_STATUS_TIMEOUT: ExitStatus
EXIT_STATUS_KILLED: ExitStatus
EXIT_STATUS_OOM: ExitStatus
EXIT_STATUS_CANCELLED: ExitStatus
EXIT_STATUS_LOST: ExitStatus
RUN_PHASE_UNSPECIFIED: RunPhase
RUN_PHASE_INSTALL: RunPhase
RUN_PHASE_COMPILE: RunPhase
RUN_PHASE_RUN: RunPhase
SECURITY_SEVERITY_UNSPECIFIED: SecuritySeverity
SECURITY_SEVERITY_SAFE: SecuritySeverity
SECURITY_SEVERITY_LOW: SecuritySeverity
SECURITY_SEVERITY_MEDIUM: SecuritySeverity
SECURITY_SEVERITY_HIGH: SecuritySeverity

class Resources(_message.Message):
    __slots__ = ("memory_bytes", "cpus", "pids", "disk_bytes")
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    CPUS_FIELD_NUMBER: _ClassVar[int]
    PIDS_FIELD_NUMBER: _ClassVar[int]
    DISK_BYTES_FIELD_NUMBER: _ClassVar[int]
    memory_bytes: int
    cpus: float
    pids: int
    disk_bytes: int
    def __init__(self, memory_bytes: _Optional[int] = ..., cpus: _Optional[float] = ..., pids: _Optional[int] = ..., disk_bytes: _Optional[int] = ...) -> None: ...

class Dockerfile(_message.Message):
    __slots__ = ("content", "context_files")
    class ContextFilesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: bytes
        def __init__(self, key: _Optional[str] = ..., value: _Optional[bytes] = ...) -> None: ...
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FILES_FIELD_NUMBER: _ClassVar[int]
    content: str
    context_files: _containers.ScalarMap[str, bytes]
    def __init__(self, content: _Optional[str] = ..., context_files: _Optional[_Mapping[str, bytes]] = ...) -> None: ...

class SecurityPattern(_message.Message):
    __slots__ = ("pattern", "description", "severity")
    PATTERN_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    pattern: str
    description: str
    severity: SecuritySeverity
    def __init__(self, pattern: _Optional[str] = ..., description: _Optional[str] = ..., severity: _Optional[_Union[SecuritySeverity, str]] = ...) -> None: ...

class RestrictedModule(_message.Message):
    __slots__ = ("name", "description", "severity")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    severity: SecuritySeverity
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., severity: _Optional[_Union[SecuritySeverity, str]] = ...) -> None: ...

class SecurityPolicy(_message.Message):
    __slots__ = ("severity_threshold", "patterns", "restricted_modules")
    SEVERITY_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    PATTERNS_FIELD_NUMBER: _ClassVar[int]
    RESTRICTED_MODULES_FIELD_NUMBER: _ClassVar[int]
    severity_threshold: SecuritySeverity
    patterns: _containers.RepeatedCompositeFieldContainer[SecurityPattern]
    restricted_modules: _containers.RepeatedCompositeFieldContainer[RestrictedModule]
    def __init__(self, severity_threshold: _Optional[_Union[SecuritySeverity, str]] = ..., patterns: _Optional[_Iterable[_Union[SecurityPattern, _Mapping]]] = ..., restricted_modules: _Optional[_Iterable[_Union[RestrictedModule, _Mapping]]] = ...) -> None: ...

class Violation(_message.Message):
    __slots__ = ("rule", "description", "severity", "line", "column", "snippet")
    RULE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    LINE_FIELD_NUMBER: _ClassVar[int]
    COLUMN_FIELD_NUMBER: _ClassVar[int]
    SNIPPET_FIELD_NUMBER: _ClassVar[int]
    rule: str
    description: str
    severity: SecuritySeverity
    line: int
    column: int
    snippet: str
    def __init__(self, rule: _Optional[str] = ..., description: _Optional[str] = ..., severity: _Optional[_Union[SecuritySeverity, str]] = ..., line: _Optional[int] = ..., column: _Optional[int] = ..., snippet: _Optional[str] = ...) -> None: ...

class ArtifactSettings(_message.Message):
    __slots__ = ("disable_plot_capture", "output_dir")
    DISABLE_PLOT_CAPTURE_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_DIR_FIELD_NUMBER: _ClassVar[int]
    disable_plot_capture: bool
    output_dir: str
    def __init__(self, disable_plot_capture: _Optional[bool] = ..., output_dir: _Optional[str] = ...) -> None: ...

class SandboxSpec(_message.Message):
    __slots__ = ("language", "image", "dockerfile", "backend", "resources", "network", "env", "workdir", "user", "execution_timeout_ms", "ttl_ms", "idle_timeout_ms", "security_preset", "security_policy", "labels", "commit_on_close", "container_id", "artifacts", "pod_manifest", "command_wrapper", "auto_pause_ms", "auto_resume", "mounts", "egress")
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    DOCKERFILE_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    WORKDIR_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    TTL_MS_FIELD_NUMBER: _ClassVar[int]
    IDLE_TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    SECURITY_PRESET_FIELD_NUMBER: _ClassVar[int]
    SECURITY_POLICY_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    COMMIT_ON_CLOSE_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    ARTIFACTS_FIELD_NUMBER: _ClassVar[int]
    POD_MANIFEST_FIELD_NUMBER: _ClassVar[int]
    COMMAND_WRAPPER_FIELD_NUMBER: _ClassVar[int]
    AUTO_PAUSE_MS_FIELD_NUMBER: _ClassVar[int]
    AUTO_RESUME_FIELD_NUMBER: _ClassVar[int]
    MOUNTS_FIELD_NUMBER: _ClassVar[int]
    EGRESS_FIELD_NUMBER: _ClassVar[int]
    language: str
    image: str
    dockerfile: Dockerfile
    backend: Backend
    resources: Resources
    network: NetworkMode
    env: _containers.ScalarMap[str, str]
    workdir: str
    user: str
    execution_timeout_ms: int
    ttl_ms: int
    idle_timeout_ms: int
    security_preset: str
    security_policy: SecurityPolicy
    labels: _containers.ScalarMap[str, str]
    commit_on_close: str
    container_id: str
    artifacts: ArtifactSettings
    pod_manifest: str
    command_wrapper: _containers.RepeatedScalarFieldContainer[str]
    auto_pause_ms: int
    auto_resume: bool
    mounts: _containers.RepeatedCompositeFieldContainer[VolumeMount]
    egress: EgressPolicy
    def __init__(self, language: _Optional[str] = ..., image: _Optional[str] = ..., dockerfile: _Optional[_Union[Dockerfile, _Mapping]] = ..., backend: _Optional[_Union[Backend, str]] = ..., resources: _Optional[_Union[Resources, _Mapping]] = ..., network: _Optional[_Union[NetworkMode, str]] = ..., env: _Optional[_Mapping[str, str]] = ..., workdir: _Optional[str] = ..., user: _Optional[str] = ..., execution_timeout_ms: _Optional[int] = ..., ttl_ms: _Optional[int] = ..., idle_timeout_ms: _Optional[int] = ..., security_preset: _Optional[str] = ..., security_policy: _Optional[_Union[SecurityPolicy, _Mapping]] = ..., labels: _Optional[_Mapping[str, str]] = ..., commit_on_close: _Optional[str] = ..., container_id: _Optional[str] = ..., artifacts: _Optional[_Union[ArtifactSettings, _Mapping]] = ..., pod_manifest: _Optional[str] = ..., command_wrapper: _Optional[_Iterable[str]] = ..., auto_pause_ms: _Optional[int] = ..., auto_resume: _Optional[bool] = ..., mounts: _Optional[_Iterable[_Union[VolumeMount, _Mapping]]] = ..., egress: _Optional[_Union[EgressPolicy, _Mapping]] = ...) -> None: ...

class EgressPolicy(_message.Message):
    __slots__ = ("hosts", "cidrs", "ports")
    HOSTS_FIELD_NUMBER: _ClassVar[int]
    CIDRS_FIELD_NUMBER: _ClassVar[int]
    PORTS_FIELD_NUMBER: _ClassVar[int]
    hosts: _containers.RepeatedScalarFieldContainer[str]
    cidrs: _containers.RepeatedScalarFieldContainer[str]
    ports: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, hosts: _Optional[_Iterable[str]] = ..., cidrs: _Optional[_Iterable[str]] = ..., ports: _Optional[_Iterable[int]] = ...) -> None: ...

class Sandbox(_message.Message):
    __slots__ = ("id", "spec", "state", "image", "container_id", "created_at", "expires_at", "from_pool", "backend", "pool_id", "paused_at", "usage")
    ID_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    FROM_POOL_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    POOL_ID_FIELD_NUMBER: _ClassVar[int]
    PAUSED_AT_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    id: str
    spec: SandboxSpec
    state: SandboxState
    image: str
    container_id: str
    created_at: _timestamp_pb2.Timestamp
    expires_at: _timestamp_pb2.Timestamp
    from_pool: bool
    backend: Backend
    pool_id: str
    paused_at: _timestamp_pb2.Timestamp
    usage: SandboxUsage
    def __init__(self, id: _Optional[str] = ..., spec: _Optional[_Union[SandboxSpec, _Mapping]] = ..., state: _Optional[_Union[SandboxState, str]] = ..., image: _Optional[str] = ..., container_id: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., from_pool: _Optional[bool] = ..., backend: _Optional[_Union[Backend, str]] = ..., pool_id: _Optional[str] = ..., paused_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., usage: _Optional[_Union[SandboxUsage, _Mapping]] = ...) -> None: ...

class Artifact(_message.Message):
    __slots__ = ("id", "sandbox_id", "name", "mime_type", "format", "size", "width", "height", "dpi", "index", "run_id", "created_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    MIME_TYPE_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    DPI_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    sandbox_id: str
    name: str
    mime_type: str
    format: str
    size: int
    width: int
    height: int
    dpi: int
    index: int
    run_id: str
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., sandbox_id: _Optional[str] = ..., name: _Optional[str] = ..., mime_type: _Optional[str] = ..., format: _Optional[str] = ..., size: _Optional[int] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., dpi: _Optional[int] = ..., index: _Optional[int] = ..., run_id: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RunStarted(_message.Message):
    __slots__ = ("run_id", "pid", "phase", "sandbox_id")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    pid: int
    phase: RunPhase
    sandbox_id: str
    def __init__(self, run_id: _Optional[str] = ..., pid: _Optional[int] = ..., phase: _Optional[_Union[RunPhase, str]] = ..., sandbox_id: _Optional[str] = ...) -> None: ...

class Output(_message.Message):
    __slots__ = ("stream", "data", "offset", "stream_offset", "phase")
    STREAM_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    STREAM_OFFSET_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    stream: Stream
    data: bytes
    offset: int
    stream_offset: int
    phase: RunPhase
    def __init__(self, stream: _Optional[_Union[Stream, str]] = ..., data: _Optional[bytes] = ..., offset: _Optional[int] = ..., stream_offset: _Optional[int] = ..., phase: _Optional[_Union[RunPhase, str]] = ...) -> None: ...

class RunExited(_message.Message):
    __slots__ = ("status", "exit_code", "signal", "duration_ms", "stdout_bytes", "stderr_bytes", "truncated", "phase", "message", "kernel_restarted", "peak_memory_bytes", "cpu_time_ms", "usage_measured")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    STDOUT_BYTES_FIELD_NUMBER: _ClassVar[int]
    STDERR_BYTES_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    KERNEL_RESTARTED_FIELD_NUMBER: _ClassVar[int]
    PEAK_MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    CPU_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    USAGE_MEASURED_FIELD_NUMBER: _ClassVar[int]
    status: ExitStatus
    exit_code: int
    signal: int
    duration_ms: int
    stdout_bytes: int
    stderr_bytes: int
    truncated: bool
    phase: RunPhase
    message: str
    kernel_restarted: bool
    peak_memory_bytes: int
    cpu_time_ms: int
    usage_measured: bool
    def __init__(self, status: _Optional[_Union[ExitStatus, str]] = ..., exit_code: _Optional[int] = ..., signal: _Optional[int] = ..., duration_ms: _Optional[int] = ..., stdout_bytes: _Optional[int] = ..., stderr_bytes: _Optional[int] = ..., truncated: _Optional[bool] = ..., phase: _Optional[_Union[RunPhase, str]] = ..., message: _Optional[str] = ..., kernel_restarted: _Optional[bool] = ..., peak_memory_bytes: _Optional[int] = ..., cpu_time_ms: _Optional[int] = ..., usage_measured: _Optional[bool] = ...) -> None: ...

class Keepalive(_message.Message):
    __slots__ = ("at",)
    AT_FIELD_NUMBER: _ClassVar[int]
    at: _timestamp_pb2.Timestamp
    def __init__(self, at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class DisplayData(_message.Message):
    __slots__ = ("data", "metadata_json", "artifact_id")
    class DataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: bytes
        def __init__(self, key: _Optional[str] = ..., value: _Optional[bytes] = ...) -> None: ...
    DATA_FIELD_NUMBER: _ClassVar[int]
    METADATA_JSON_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_ID_FIELD_NUMBER: _ClassVar[int]
    data: _containers.ScalarMap[str, bytes]
    metadata_json: str
    artifact_id: str
    def __init__(self, data: _Optional[_Mapping[str, bytes]] = ..., metadata_json: _Optional[str] = ..., artifact_id: _Optional[str] = ...) -> None: ...

class ExecuteResult(_message.Message):
    __slots__ = ("execution_count", "data")
    class DataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: bytes
        def __init__(self, key: _Optional[str] = ..., value: _Optional[bytes] = ...) -> None: ...
    EXECUTION_COUNT_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    execution_count: int
    data: _containers.ScalarMap[str, bytes]
    def __init__(self, execution_count: _Optional[int] = ..., data: _Optional[_Mapping[str, bytes]] = ...) -> None: ...

class CellError(_message.Message):
    __slots__ = ("name", "value", "traceback")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    TRACEBACK_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: str
    traceback: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., value: _Optional[str] = ..., traceback: _Optional[_Iterable[str]] = ...) -> None: ...

class RunEvent(_message.Message):
    __slots__ = ("seq", "started", "output", "artifact", "exited", "keepalive", "display", "result", "error")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    STARTED_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_FIELD_NUMBER: _ClassVar[int]
    EXITED_FIELD_NUMBER: _ClassVar[int]
    KEEPALIVE_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    seq: int
    started: RunStarted
    output: Output
    artifact: Artifact
    exited: RunExited
    keepalive: Keepalive
    display: DisplayData
    result: ExecuteResult
    error: CellError
    def __init__(self, seq: _Optional[int] = ..., started: _Optional[_Union[RunStarted, _Mapping]] = ..., output: _Optional[_Union[Output, _Mapping]] = ..., artifact: _Optional[_Union[Artifact, _Mapping]] = ..., exited: _Optional[_Union[RunExited, _Mapping]] = ..., keepalive: _Optional[_Union[Keepalive, _Mapping]] = ..., display: _Optional[_Union[DisplayData, _Mapping]] = ..., result: _Optional[_Union[ExecuteResult, _Mapping]] = ..., error: _Optional[_Union[CellError, _Mapping]] = ...) -> None: ...

class ErrorDetail(_message.Message):
    __slots__ = ("reason", "metadata", "violations")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    REASON_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    VIOLATIONS_FIELD_NUMBER: _ClassVar[int]
    reason: str
    metadata: _containers.ScalarMap[str, str]
    violations: _containers.RepeatedCompositeFieldContainer[Violation]
    def __init__(self, reason: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., violations: _Optional[_Iterable[_Union[Violation, _Mapping]]] = ...) -> None: ...

class ErrorStatus(_message.Message):
    __slots__ = ("code", "message", "details")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    code: int
    message: str
    details: _containers.RepeatedCompositeFieldContainer[_any_pb2.Any]
    def __init__(self, code: _Optional[int] = ..., message: _Optional[str] = ..., details: _Optional[_Iterable[_Union[_any_pb2.Any, _Mapping]]] = ...) -> None: ...

class VolumeMount(_message.Message):
    __slots__ = ("volume", "host_path", "path", "read_only")
    VOLUME_FIELD_NUMBER: _ClassVar[int]
    HOST_PATH_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    READ_ONLY_FIELD_NUMBER: _ClassVar[int]
    volume: str
    host_path: str
    path: str
    read_only: bool
    def __init__(self, volume: _Optional[str] = ..., host_path: _Optional[str] = ..., path: _Optional[str] = ..., read_only: _Optional[bool] = ...) -> None: ...

class SandboxUsage(_message.Message):
    __slots__ = ("available", "unavailable_reason", "sampled_at", "memory_bytes", "memory_peak_bytes", "memory_limit_bytes", "cpu_time_ms", "processes", "processes_limit", "paths")
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    UNAVAILABLE_REASON_FIELD_NUMBER: _ClassVar[int]
    SAMPLED_AT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    MEMORY_PEAK_BYTES_FIELD_NUMBER: _ClassVar[int]
    MEMORY_LIMIT_BYTES_FIELD_NUMBER: _ClassVar[int]
    CPU_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    PROCESSES_FIELD_NUMBER: _ClassVar[int]
    PROCESSES_LIMIT_FIELD_NUMBER: _ClassVar[int]
    PATHS_FIELD_NUMBER: _ClassVar[int]
    available: bool
    unavailable_reason: str
    sampled_at: _timestamp_pb2.Timestamp
    memory_bytes: int
    memory_peak_bytes: int
    memory_limit_bytes: int
    cpu_time_ms: int
    processes: int
    processes_limit: int
    paths: _containers.RepeatedCompositeFieldContainer[PathUsage]
    def __init__(self, available: _Optional[bool] = ..., unavailable_reason: _Optional[str] = ..., sampled_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., memory_bytes: _Optional[int] = ..., memory_peak_bytes: _Optional[int] = ..., memory_limit_bytes: _Optional[int] = ..., cpu_time_ms: _Optional[int] = ..., processes: _Optional[int] = ..., processes_limit: _Optional[int] = ..., paths: _Optional[_Iterable[_Union[PathUsage, _Mapping]]] = ...) -> None: ...

class PathUsage(_message.Message):
    __slots__ = ("path", "used_bytes", "total_bytes")
    PATH_FIELD_NUMBER: _ClassVar[int]
    USED_BYTES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    path: str
    used_bytes: int
    total_bytes: int
    def __init__(self, path: _Optional[str] = ..., used_bytes: _Optional[int] = ..., total_bytes: _Optional[int] = ...) -> None: ...
