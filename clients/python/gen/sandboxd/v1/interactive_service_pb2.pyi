import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from sandboxd.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SessionKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SESSION_KIND_UNSPECIFIED: _ClassVar[SessionKind]
    SESSION_KIND_IPYTHON: _ClassVar[SessionKind]
    SESSION_KIND_SHELL: _ClassVar[SessionKind]

class SessionState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SESSION_STATE_UNSPECIFIED: _ClassVar[SessionState]
    SESSION_STATE_IDLE: _ClassVar[SessionState]
    SESSION_STATE_BUSY: _ClassVar[SessionState]
    SESSION_STATE_CLOSED: _ClassVar[SessionState]
SESSION_KIND_UNSPECIFIED: SessionKind
SESSION_KIND_IPYTHON: SessionKind
SESSION_KIND_SHELL: SessionKind
SESSION_STATE_UNSPECIFIED: SessionState
SESSION_STATE_IDLE: SessionState
SESSION_STATE_BUSY: SessionState
SESSION_STATE_CLOSED: SessionState

class SessionSettings(_message.Message):
    __slots__ = ("cell_timeout_ms", "history_size", "memory_limit_bytes", "idle_timeout_ms")
    CELL_TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    HISTORY_SIZE_FIELD_NUMBER: _ClassVar[int]
    MEMORY_LIMIT_BYTES_FIELD_NUMBER: _ClassVar[int]
    IDLE_TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    cell_timeout_ms: int
    history_size: int
    memory_limit_bytes: int
    idle_timeout_ms: int
    def __init__(self, cell_timeout_ms: _Optional[int] = ..., history_size: _Optional[int] = ..., memory_limit_bytes: _Optional[int] = ..., idle_timeout_ms: _Optional[int] = ...) -> None: ...

class Session(_message.Message):
    __slots__ = ("id", "sandbox_id", "kind", "shell", "state", "settings", "execution_count", "created_at", "owns_sandbox")
    ID_FIELD_NUMBER: _ClassVar[int]
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SHELL_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    OWNS_SANDBOX_FIELD_NUMBER: _ClassVar[int]
    id: str
    sandbox_id: str
    kind: SessionKind
    shell: str
    state: SessionState
    settings: SessionSettings
    execution_count: int
    created_at: _timestamp_pb2.Timestamp
    owns_sandbox: bool
    def __init__(self, id: _Optional[str] = ..., sandbox_id: _Optional[str] = ..., kind: _Optional[_Union[SessionKind, str]] = ..., shell: _Optional[str] = ..., state: _Optional[_Union[SessionState, str]] = ..., settings: _Optional[_Union[SessionSettings, _Mapping]] = ..., execution_count: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., owns_sandbox: _Optional[bool] = ...) -> None: ...

class CreateSessionRequest(_message.Message):
    __slots__ = ("sandbox_id", "sandbox", "kind", "shell", "env", "settings")
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    SANDBOX_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SHELL_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    sandbox: _common_pb2.SandboxSpec
    kind: SessionKind
    shell: str
    env: _containers.ScalarMap[str, str]
    settings: SessionSettings
    def __init__(self, sandbox_id: _Optional[str] = ..., sandbox: _Optional[_Union[_common_pb2.SandboxSpec, _Mapping]] = ..., kind: _Optional[_Union[SessionKind, str]] = ..., shell: _Optional[str] = ..., env: _Optional[_Mapping[str, str]] = ..., settings: _Optional[_Union[SessionSettings, _Mapping]] = ...) -> None: ...

class CreateSessionResponse(_message.Message):
    __slots__ = ("session",)
    SESSION_FIELD_NUMBER: _ClassVar[int]
    session: Session
    def __init__(self, session: _Optional[_Union[Session, _Mapping]] = ...) -> None: ...

class InteractiveServiceRunRequest(_message.Message):
    __slots__ = ("session_id", "code", "timeout_ms", "stdin")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    STDIN_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    code: str
    timeout_ms: int
    stdin: bytes
    def __init__(self, session_id: _Optional[str] = ..., code: _Optional[str] = ..., timeout_ms: _Optional[int] = ..., stdin: _Optional[bytes] = ...) -> None: ...

class InteractiveServiceRunResponse(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: _common_pb2.RunEvent
    def __init__(self, event: _Optional[_Union[_common_pb2.RunEvent, _Mapping]] = ...) -> None: ...

class Cell(_message.Message):
    __slots__ = ("cell_id", "code", "timeout_ms", "stdin")
    CELL_ID_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    STDIN_FIELD_NUMBER: _ClassVar[int]
    cell_id: str
    code: str
    timeout_ms: int
    stdin: bytes
    def __init__(self, cell_id: _Optional[str] = ..., code: _Optional[str] = ..., timeout_ms: _Optional[int] = ..., stdin: _Optional[bytes] = ...) -> None: ...

class CellInterrupt(_message.Message):
    __slots__ = ("cell_id",)
    CELL_ID_FIELD_NUMBER: _ClassVar[int]
    cell_id: str
    def __init__(self, cell_id: _Optional[str] = ...) -> None: ...

class ExecuteRequest(_message.Message):
    __slots__ = ("session_id", "cell", "interrupt")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    CELL_FIELD_NUMBER: _ClassVar[int]
    INTERRUPT_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    cell: Cell
    interrupt: CellInterrupt
    def __init__(self, session_id: _Optional[str] = ..., cell: _Optional[_Union[Cell, _Mapping]] = ..., interrupt: _Optional[_Union[CellInterrupt, _Mapping]] = ...) -> None: ...

class ExecuteResponse(_message.Message):
    __slots__ = ("cell_id", "event")
    CELL_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    cell_id: str
    event: _common_pb2.RunEvent
    def __init__(self, cell_id: _Optional[str] = ..., event: _Optional[_Union[_common_pb2.RunEvent, _Mapping]] = ...) -> None: ...

class InterruptRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class InterruptResponse(_message.Message):
    __slots__ = ("interrupted",)
    INTERRUPTED_FIELD_NUMBER: _ClassVar[int]
    interrupted: bool
    def __init__(self, interrupted: _Optional[bool] = ...) -> None: ...

class ResetRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class ResetResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetHistoryRequest(_message.Message):
    __slots__ = ("session_id", "limit")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    limit: int
    def __init__(self, session_id: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class HistoryEntry(_message.Message):
    __slots__ = ("cell_id", "code", "execution_count", "status", "exit_code", "error", "started_at", "duration_ms")
    CELL_ID_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_COUNT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    cell_id: str
    code: str
    execution_count: int
    status: _common_pb2.ExitStatus
    exit_code: int
    error: _common_pb2.CellError
    started_at: _timestamp_pb2.Timestamp
    duration_ms: int
    def __init__(self, cell_id: _Optional[str] = ..., code: _Optional[str] = ..., execution_count: _Optional[int] = ..., status: _Optional[_Union[_common_pb2.ExitStatus, str]] = ..., exit_code: _Optional[int] = ..., error: _Optional[_Union[_common_pb2.CellError, _Mapping]] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., duration_ms: _Optional[int] = ...) -> None: ...

class GetHistoryResponse(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[HistoryEntry]
    def __init__(self, entries: _Optional[_Iterable[_Union[HistoryEntry, _Mapping]]] = ...) -> None: ...

class ListSessionsRequest(_message.Message):
    __slots__ = ("sandbox_id",)
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    def __init__(self, sandbox_id: _Optional[str] = ...) -> None: ...

class ListSessionsResponse(_message.Message):
    __slots__ = ("sessions",)
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    sessions: _containers.RepeatedCompositeFieldContainer[Session]
    def __init__(self, sessions: _Optional[_Iterable[_Union[Session, _Mapping]]] = ...) -> None: ...

class CloseSessionRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class CloseSessionResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
