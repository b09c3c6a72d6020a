from sandboxd.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TransferKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRANSFER_KIND_UNSPECIFIED: _ClassVar[TransferKind]
    TRANSFER_KIND_FILE: _ClassVar[TransferKind]
    TRANSFER_KIND_TAR: _ClassVar[TransferKind]

class FileEventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FILE_EVENT_TYPE_UNSPECIFIED: _ClassVar[FileEventType]
    FILE_EVENT_TYPE_CREATE: _ClassVar[FileEventType]
    FILE_EVENT_TYPE_WRITE: _ClassVar[FileEventType]
    FILE_EVENT_TYPE_REMOVE: _ClassVar[FileEventType]
    FILE_EVENT_TYPE_RENAME: _ClassVar[FileEventType]
    FILE_EVENT_TYPE_OVERFLOW: _ClassVar[FileEventType]
TRANSFER_KIND_UNSPECIFIED: TransferKind
TRANSFER_KIND_FILE: TransferKind
TRANSFER_KIND_TAR: TransferKind
FILE_EVENT_TYPE_UNSPECIFIED: FileEventType
FILE_EVENT_TYPE_CREATE: FileEventType
FILE_EVENT_TYPE_WRITE: FileEventType
FILE_EVENT_TYPE_REMOVE: FileEventType
FILE_EVENT_TYPE_RENAME: FileEventType
FILE_EVENT_TYPE_OVERFLOW: FileEventType

class CreateSandboxRequest(_message.Message):
    __slots__ = ("spec", "pool_id")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    POOL_ID_FIELD_NUMBER: _ClassVar[int]
    spec: _common_pb2.SandboxSpec
    pool_id: str
    def __init__(self, spec: _Optional[_Union[_common_pb2.SandboxSpec, _Mapping]] = ..., pool_id: _Optional[str] = ...) -> None: ...

class CreateSandboxResponse(_message.Message):
    __slots__ = ("sandbox",)
    SANDBOX_FIELD_NUMBER: _ClassVar[int]
    sandbox: _common_pb2.Sandbox
    def __init__(self, sandbox: _Optional[_Union[_common_pb2.Sandbox, _Mapping]] = ...) -> None: ...

class GetSandboxRequest(_message.Message):
    __slots__ = ("sandbox_id",)
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    def __init__(self, sandbox_id: _Optional[str] = ...) -> None: ...

class GetSandboxResponse(_message.Message):
    __slots__ = ("sandbox",)
    SANDBOX_FIELD_NUMBER: _ClassVar[int]
    sandbox: _common_pb2.Sandbox
    def __init__(self, sandbox: _Optional[_Union[_common_pb2.Sandbox, _Mapping]] = ...) -> None: ...

class ListSandboxesRequest(_message.Message):
    __slots__ = ("labels",)
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    LABELS_FIELD_NUMBER: _ClassVar[int]
    labels: _containers.ScalarMap[str, str]
    def __init__(self, labels: _Optional[_Mapping[str, str]] = ...) -> None: ...

class ListSandboxesResponse(_message.Message):
    __slots__ = ("sandboxes",)
    SANDBOXES_FIELD_NUMBER: _ClassVar[int]
    sandboxes: _containers.RepeatedCompositeFieldContainer[_common_pb2.Sandbox]
    def __init__(self, sandboxes: _Optional[_Iterable[_Union[_common_pb2.Sandbox, _Mapping]]] = ...) -> None: ...

class DestroySandboxRequest(_message.Message):
    __slots__ = ("sandbox_id",)
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    def __init__(self, sandbox_id: _Optional[str] = ...) -> None: ...

class DestroySandboxResponse(_message.Message):
    __slots__ = ("destroyed", "committed_image")
    DESTROYED_FIELD_NUMBER: _ClassVar[int]
    COMMITTED_IMAGE_FIELD_NUMBER: _ClassVar[int]
    destroyed: bool
    committed_image: str
    def __init__(self, destroyed: _Optional[bool] = ..., committed_image: _Optional[str] = ...) -> None: ...

class RunRequest(_message.Message):
    __slots__ = ("sandbox_id", "language", "code", "libraries", "stdin", "keep_stdin_open", "timeout_ms", "env", "args", "clear_artifacts", "detach_on_cancel", "ephemeral")
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    LIBRARIES_FIELD_NUMBER: _ClassVar[int]
    STDIN_FIELD_NUMBER: _ClassVar[int]
    KEEP_STDIN_OPEN_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    CLEAR_ARTIFACTS_FIELD_NUMBER: _ClassVar[int]
    DETACH_ON_CANCEL_FIELD_NUMBER: _ClassVar[int]
    EPHEMERAL_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    language: str
    code: str
    libraries: _containers.RepeatedScalarFieldContainer[str]
    stdin: bytes
    keep_stdin_open: bool
    timeout_ms: int
    env: _containers.ScalarMap[str, str]
    args: _containers.RepeatedScalarFieldContainer[str]
    clear_artifacts: bool
    detach_on_cancel: bool
    ephemeral: _common_pb2.SandboxSpec
    def __init__(self, sandbox_id: _Optional[str] = ..., language: _Optional[str] = ..., code: _Optional[str] = ..., libraries: _Optional[_Iterable[str]] = ..., stdin: _Optional[bytes] = ..., keep_stdin_open: _Optional[bool] = ..., timeout_ms: _Optional[int] = ..., env: _Optional[_Mapping[str, str]] = ..., args: _Optional[_Iterable[str]] = ..., clear_artifacts: _Optional[bool] = ..., detach_on_cancel: _Optional[bool] = ..., ephemeral: _Optional[_Union[_common_pb2.SandboxSpec, _Mapping]] = ...) -> None: ...

class RunResponse(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: _common_pb2.RunEvent
    def __init__(self, event: _Optional[_Union[_common_pb2.RunEvent, _Mapping]] = ...) -> None: ...

class ExecRequest(_message.Message):
    __slots__ = ("sandbox_id", "argv", "shell", "workdir", "env", "stdin", "keep_stdin_open", "timeout_ms", "detach_on_cancel")
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    ARGV_FIELD_NUMBER: _ClassVar[int]
    SHELL_FIELD_NUMBER: _ClassVar[int]
    WORKDIR_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    STDIN_FIELD_NUMBER: _ClassVar[int]
    KEEP_STDIN_OPEN_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    DETACH_ON_CANCEL_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    argv: _containers.RepeatedScalarFieldContainer[str]
    shell: str
    workdir: str
    env: _containers.ScalarMap[str, str]
    stdin: bytes
    keep_stdin_open: bool
    timeout_ms: int
    detach_on_cancel: bool
    def __init__(self, sandbox_id: _Optional[str] = ..., argv: _Optional[_Iterable[str]] = ..., shell: _Optional[str] = ..., workdir: _Optional[str] = ..., env: _Optional[_Mapping[str, str]] = ..., stdin: _Optional[bytes] = ..., keep_stdin_open: _Optional[bool] = ..., timeout_ms: _Optional[int] = ..., detach_on_cancel: _Optional[bool] = ...) -> None: ...

class ExecResponse(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: _common_pb2.RunEvent
    def __init__(self, event: _Optional[_Union[_common_pb2.RunEvent, _Mapping]] = ...) -> None: ...

class InstallRequest(_message.Message):
    __slots__ = ("sandbox_id", "libraries", "timeout_ms")
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    LIBRARIES_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    libraries: _containers.RepeatedScalarFieldContainer[str]
    timeout_ms: int
    def __init__(self, sandbox_id: _Optional[str] = ..., libraries: _Optional[_Iterable[str]] = ..., timeout_ms: _Optional[int] = ...) -> None: ...

class InstallResponse(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: _common_pb2.RunEvent
    def __init__(self, event: _Optional[_Union[_common_pb2.RunEvent, _Mapping]] = ...) -> None: ...

class AttachRequest(_message.Message):
    __slots__ = ("run_id", "offset")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    offset: int
    def __init__(self, run_id: _Optional[str] = ..., offset: _Optional[int] = ...) -> None: ...

class AttachResponse(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: _common_pb2.RunEvent
    def __init__(self, event: _Optional[_Union[_common_pb2.RunEvent, _Mapping]] = ...) -> None: ...

class SignalRequest(_message.Message):
    __slots__ = ("run_id", "signal")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    signal: str
    def __init__(self, run_id: _Optional[str] = ..., signal: _Optional[str] = ...) -> None: ...

class SignalResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WriteInputRequest(_message.Message):
    __slots__ = ("run_id", "data", "close")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    CLOSE_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    data: bytes
    close: bool
    def __init__(self, run_id: _Optional[str] = ..., data: _Optional[bytes] = ..., close: _Optional[bool] = ...) -> None: ...

class WriteInputResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class UploadHeader(_message.Message):
    __slots__ = ("sandbox_id", "path", "kind", "mode")
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    path: str
    kind: TransferKind
    mode: int
    def __init__(self, sandbox_id: _Optional[str] = ..., path: _Optional[str] = ..., kind: _Optional[_Union[TransferKind, str]] = ..., mode: _Optional[int] = ...) -> None: ...

class UploadFilesRequest(_message.Message):
    __slots__ = ("header", "chunk")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    header: UploadHeader
    chunk: bytes
    def __init__(self, header: _Optional[_Union[UploadHeader, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class UploadFilesResponse(_message.Message):
    __slots__ = ("bytes", "files", "sha256")
    BYTES_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    bytes: int
    files: int
    sha256: str
    def __init__(self, bytes: _Optional[int] = ..., files: _Optional[int] = ..., sha256: _Optional[str] = ...) -> None: ...

class DownloadFilesRequest(_message.Message):
    __slots__ = ("sandbox_id", "path", "kind")
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    path: str
    kind: TransferKind
    def __init__(self, sandbox_id: _Optional[str] = ..., path: _Optional[str] = ..., kind: _Optional[_Union[TransferKind, str]] = ...) -> None: ...

class DownloadHeader(_message.Message):
    __slots__ = ("kind", "mode", "size")
    KIND_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    kind: TransferKind
    mode: int
    size: int
    def __init__(self, kind: _Optional[_Union[TransferKind, str]] = ..., mode: _Optional[int] = ..., size: _Optional[int] = ...) -> None: ...

class DownloadTrailer(_message.Message):
    __slots__ = ("bytes", "sha256")
    BYTES_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    bytes: int
    sha256: str
    def __init__(self, bytes: _Optional[int] = ..., sha256: _Optional[str] = ...) -> None: ...

class DownloadFilesResponse(_message.Message):
    __slots__ = ("header", "chunk", "trailer")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    TRAILER_FIELD_NUMBER: _ClassVar[int]
    header: DownloadHeader
    chunk: bytes
    trailer: DownloadTrailer
    def __init__(self, header: _Optional[_Union[DownloadHeader, _Mapping]] = ..., chunk: _Optional[bytes] = ..., trailer: _Optional[_Union[DownloadTrailer, _Mapping]] = ...) -> None: ...

class ListArtifactsRequest(_message.Message):
    __slots__ = ("sandbox_id",)
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    def __init__(self, sandbox_id: _Optional[str] = ...) -> None: ...

class ListArtifactsResponse(_message.Message):
    __slots__ = ("artifacts",)
    ARTIFACTS_FIELD_NUMBER: _ClassVar[int]
    artifacts: _containers.RepeatedCompositeFieldContainer[_common_pb2.Artifact]
    def __init__(self, artifacts: _Optional[_Iterable[_Union[_common_pb2.Artifact, _Mapping]]] = ...) -> None: ...

class DownloadArtifactRequest(_message.Message):
    __slots__ = ("sandbox_id", "artifact_id")
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_ID_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    artifact_id: str
    def __init__(self, sandbox_id: _Optional[str] = ..., artifact_id: _Optional[str] = ...) -> None: ...

class DownloadArtifactResponse(_message.Message):
    __slots__ = ("artifact", "chunk", "trailer")
    ARTIFACT_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    TRAILER_FIELD_NUMBER: _ClassVar[int]
    artifact: _common_pb2.Artifact
    chunk: bytes
    trailer: DownloadTrailer
    def __init__(self, artifact: _Optional[_Union[_common_pb2.Artifact, _Mapping]] = ..., chunk: _Optional[bytes] = ..., trailer: _Optional[_Union[DownloadTrailer, _Mapping]] = ...) -> None: ...

class ClearArtifactsRequest(_message.Message):
    __slots__ = ("sandbox_id",)
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    def __init__(self, sandbox_id: _Optional[str] = ...) -> None: ...

class ClearArtifactsResponse(_message.Message):
    __slots__ = ("cleared",)
    CLEARED_FIELD_NUMBER: _ClassVar[int]
    cleared: int
    def __init__(self, cleared: _Optional[int] = ...) -> None: ...

class CheckCodeRequest(_message.Message):
    __slots__ = ("language", "code", "preset", "inline", "sandbox_id")
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    PRESET_FIELD_NUMBER: _ClassVar[int]
    INLINE_FIELD_NUMBER: _ClassVar[int]
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    language: str
    code: str
    preset: str
    inline: _common_pb2.SecurityPolicy
    sandbox_id: str
    def __init__(self, language: _Optional[str] = ..., code: _Optional[str] = ..., preset: _Optional[str] = ..., inline: _Optional[_Union[_common_pb2.SecurityPolicy, _Mapping]] = ..., sandbox_id: _Optional[str] = ...) -> None: ...

class CheckCodeResponse(_message.Message):
    __slots__ = ("safe", "violations")
    SAFE_FIELD_NUMBER: _ClassVar[int]
    VIOLATIONS_FIELD_NUMBER: _ClassVar[int]
    safe: bool
    violations: _containers.RepeatedCompositeFieldContainer[_common_pb2.Violation]
    def __init__(self, safe: _Optional[bool] = ..., violations: _Optional[_Iterable[_Union[_common_pb2.Violation, _Mapping]]] = ...) -> None: ...

class BuildImageRequest(_message.Message):
    __slots__ = ("dockerfile",)
    DOCKERFILE_FIELD_NUMBER: _ClassVar[int]
    dockerfile: _common_pb2.Dockerfile
    def __init__(self, dockerfile: _Optional[_Union[_common_pb2.Dockerfile, _Mapping]] = ...) -> None: ...

class BuildImageResponse(_message.Message):
    __slots__ = ("output", "result")
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    output: str
    result: BuildImageResult
    def __init__(self, output: _Optional[str] = ..., result: _Optional[_Union[BuildImageResult, _Mapping]] = ...) -> None: ...

class BuildImageResult(_message.Message):
    __slots__ = ("image", "cached", "duration_ms")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    CACHED_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    image: str
    cached: bool
    duration_ms: int
    def __init__(self, image: _Optional[str] = ..., cached: _Optional[bool] = ..., duration_ms: _Optional[int] = ...) -> None: ...

class PauseSandboxRequest(_message.Message):
    __slots__ = ("sandbox_id",)
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    def __init__(self, sandbox_id: _Optional[str] = ...) -> None: ...

class PauseSandboxResponse(_message.Message):
    __slots__ = ("sandbox", "changed")
    SANDBOX_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    sandbox: _common_pb2.Sandbox
    changed: bool
    def __init__(self, sandbox: _Optional[_Union[_common_pb2.Sandbox, _Mapping]] = ..., changed: _Optional[bool] = ...) -> None: ...

class ResumeSandboxRequest(_message.Message):
    __slots__ = ("sandbox_id",)
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    def __init__(self, sandbox_id: _Optional[str] = ...) -> None: ...

class ResumeSandboxResponse(_message.Message):
    __slots__ = ("sandbox", "changed")
    SANDBOX_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    sandbox: _common_pb2.Sandbox
    changed: bool
    def __init__(self, sandbox: _Optional[_Union[_common_pb2.Sandbox, _Mapping]] = ..., changed: _Optional[bool] = ...) -> None: ...

class WatchSandboxRequest(_message.Message):
    __slots__ = ("sandbox_id", "interval_ms")
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    interval_ms: int
    def __init__(self, sandbox_id: _Optional[str] = ..., interval_ms: _Optional[int] = ...) -> None: ...

class WatchSandboxResponse(_message.Message):
    __slots__ = ("usage",)
    USAGE_FIELD_NUMBER: _ClassVar[int]
    usage: _common_pb2.SandboxUsage
    def __init__(self, usage: _Optional[_Union[_common_pb2.SandboxUsage, _Mapping]] = ...) -> None: ...

class WatchFilesRequest(_message.Message):
    __slots__ = ("sandbox_id", "path", "recursive")
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    RECURSIVE_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    path: str
    recursive: bool
    def __init__(self, sandbox_id: _Optional[str] = ..., path: _Optional[str] = ..., recursive: _Optional[bool] = ...) -> None: ...

class WatchFilesResponse(_message.Message):
    __slots__ = ("event", "ready")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    READY_FIELD_NUMBER: _ClassVar[int]
    event: FileEvent
    ready: bool
    def __init__(self, event: _Optional[_Union[FileEvent, _Mapping]] = ..., ready: _Optional[bool] = ...) -> None: ...

class FileEvent(_message.Message):
    __slots__ = ("type", "path", "old_path", "is_dir", "message")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    OLD_PATH_FIELD_NUMBER: _ClassVar[int]
    IS_DIR_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    type: FileEventType
    path: str
    old_path: str
    is_dir: bool
    message: str
    def __init__(self, type: _Optional[_Union[FileEventType, str]] = ..., path: _Optional[str] = ..., old_path: _Optional[str] = ..., is_dir: _Optional[bool] = ..., message: _Optional[str] = ...) -> None: ...
