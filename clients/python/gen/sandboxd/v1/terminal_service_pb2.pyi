from sandboxd.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TerminalSize(_message.Message):
    __slots__ = ("rows", "cols")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    COLS_FIELD_NUMBER: _ClassVar[int]
    rows: int
    cols: int
    def __init__(self, rows: _Optional[int] = ..., cols: _Optional[int] = ...) -> None: ...

class TerminalOpen(_message.Message):
    __slots__ = ("sandbox_id", "argv", "size", "env", "cwd", "grace_ms")
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    ARGV_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    CWD_FIELD_NUMBER: _ClassVar[int]
    GRACE_MS_FIELD_NUMBER: _ClassVar[int]
    sandbox_id: str
    argv: _containers.RepeatedScalarFieldContainer[str]
    size: TerminalSize
    env: _containers.ScalarMap[str, str]
    cwd: str
    grace_ms: int
    def __init__(self, sandbox_id: _Optional[str] = ..., argv: _Optional[_Iterable[str]] = ..., size: _Optional[_Union[TerminalSize, _Mapping]] = ..., env: _Optional[_Mapping[str, str]] = ..., cwd: _Optional[str] = ..., grace_ms: _Optional[int] = ...) -> None: ...

class TerminalAttach(_message.Message):
    __slots__ = ("terminal_id", "offset")
    TERMINAL_ID_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    terminal_id: str
    offset: int
    def __init__(self, terminal_id: _Optional[str] = ..., offset: _Optional[int] = ...) -> None: ...

class TerminalRequest(_message.Message):
    __slots__ = ("open", "attach", "input", "resize", "signal", "close")
    OPEN_FIELD_NUMBER: _ClassVar[int]
    ATTACH_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    RESIZE_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    CLOSE_FIELD_NUMBER: _ClassVar[int]
    open: TerminalOpen
    attach: TerminalAttach
    input: bytes
    resize: TerminalSize
    signal: str
    close: TerminalClose
    def __init__(self, open: _Optional[_Union[TerminalOpen, _Mapping]] = ..., attach: _Optional[_Union[TerminalAttach, _Mapping]] = ..., input: _Optional[bytes] = ..., resize: _Optional[_Union[TerminalSize, _Mapping]] = ..., signal: _Optional[str] = ..., close: _Optional[_Union[TerminalClose, _Mapping]] = ...) -> None: ...

class TerminalClose(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TerminalOpened(_message.Message):
    __slots__ = ("terminal_id", "sandbox_id", "pid", "offset", "size")
    TERMINAL_ID_FIELD_NUMBER: _ClassVar[int]
    SANDBOX_ID_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    terminal_id: str
    sandbox_id: str
    pid: int
    offset: int
    size: TerminalSize
    def __init__(self, terminal_id: _Optional[str] = ..., sandbox_id: _Optional[str] = ..., pid: _Optional[int] = ..., offset: _Optional[int] = ..., size: _Optional[_Union[TerminalSize, _Mapping]] = ...) -> None: ...

class TerminalOutput(_message.Message):
    __slots__ = ("data", "offset")
    DATA_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    offset: int
    def __init__(self, data: _Optional[bytes] = ..., offset: _Optional[int] = ...) -> None: ...

class TerminalExit(_message.Message):
    __slots__ = ("status", "exit_code", "signal", "message")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.ExitStatus
    exit_code: int
    signal: int
    message: str
    def __init__(self, status: _Optional[_Union[_common_pb2.ExitStatus, str]] = ..., exit_code: _Optional[int] = ..., signal: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class TerminalResponse(_message.Message):
    __slots__ = ("opened", "output", "exit")
    OPENED_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    EXIT_FIELD_NUMBER: _ClassVar[int]
    opened: TerminalOpened
    output: TerminalOutput
    exit: TerminalExit
    def __init__(self, opened: _Optional[_Union[TerminalOpened, _Mapping]] = ..., output: _Optional[_Union[TerminalOutput, _Mapping]] = ..., exit: _Optional[_Union[TerminalExit, _Mapping]] = ...) -> None: ...
