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

class ExhaustionStrategy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXHAUSTION_STRATEGY_UNSPECIFIED: _ClassVar[ExhaustionStrategy]
    EXHAUSTION_STRATEGY_FAIL_FAST: _ClassVar[ExhaustionStrategy]
    EXHAUSTION_STRATEGY_WAIT: _ClassVar[ExhaustionStrategy]
    EXHAUSTION_STRATEGY_TEMPORARY: _ClassVar[ExhaustionStrategy]
EXHAUSTION_STRATEGY_UNSPECIFIED: ExhaustionStrategy
EXHAUSTION_STRATEGY_FAIL_FAST: ExhaustionStrategy
EXHAUSTION_STRATEGY_WAIT: ExhaustionStrategy
EXHAUSTION_STRATEGY_TEMPORARY: ExhaustionStrategy

class PoolSettings(_message.Message):
    __slots__ = ("min_ready", "max_size", "idle_timeout_ms", "max_lifetime_ms", "health_check_interval_ms", "exhaustion_strategy", "acquisition_timeout_ms")
    MIN_READY_FIELD_NUMBER: _ClassVar[int]
    MAX_SIZE_FIELD_NUMBER: _ClassVar[int]
    IDLE_TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    MAX_LIFETIME_MS_FIELD_NUMBER: _ClassVar[int]
    HEALTH_CHECK_INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    EXHAUSTION_STRATEGY_FIELD_NUMBER: _ClassVar[int]
    ACQUISITION_TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    min_ready: int
    max_size: int
    idle_timeout_ms: int
    max_lifetime_ms: int
    health_check_interval_ms: int
    exhaustion_strategy: ExhaustionStrategy
    acquisition_timeout_ms: int
    def __init__(self, min_ready: _Optional[int] = ..., max_size: _Optional[int] = ..., idle_timeout_ms: _Optional[int] = ..., max_lifetime_ms: _Optional[int] = ..., health_check_interval_ms: _Optional[int] = ..., exhaustion_strategy: _Optional[_Union[ExhaustionStrategy, str]] = ..., acquisition_timeout_ms: _Optional[int] = ...) -> None: ...

class PoolStats(_message.Message):
    __slots__ = ("ready", "creating", "in_use", "hits", "misses", "temporary", "exhausted", "recycled", "waiting", "last_refill_ms")
    READY_FIELD_NUMBER: _ClassVar[int]
    CREATING_FIELD_NUMBER: _ClassVar[int]
    IN_USE_FIELD_NUMBER: _ClassVar[int]
    HITS_FIELD_NUMBER: _ClassVar[int]
    MISSES_FIELD_NUMBER: _ClassVar[int]
    TEMPORARY_FIELD_NUMBER: _ClassVar[int]
    EXHAUSTED_FIELD_NUMBER: _ClassVar[int]
    RECYCLED_FIELD_NUMBER: _ClassVar[int]
    WAITING_FIELD_NUMBER: _ClassVar[int]
    LAST_REFILL_MS_FIELD_NUMBER: _ClassVar[int]
    ready: int
    creating: int
    in_use: int
    hits: int
    misses: int
    temporary: int
    exhausted: int
    recycled: int
    waiting: int
    last_refill_ms: int
    def __init__(self, ready: _Optional[int] = ..., creating: _Optional[int] = ..., in_use: _Optional[int] = ..., hits: _Optional[int] = ..., misses: _Optional[int] = ..., temporary: _Optional[int] = ..., exhausted: _Optional[int] = ..., recycled: _Optional[int] = ..., waiting: _Optional[int] = ..., last_refill_ms: _Optional[int] = ...) -> None: ...

class Pool(_message.Message):
    __slots__ = ("id", "name", "spec", "settings", "stats", "created_at", "from_config", "libraries")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    FROM_CONFIG_FIELD_NUMBER: _ClassVar[int]
    LIBRARIES_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    spec: _common_pb2.SandboxSpec
    settings: PoolSettings
    stats: PoolStats
    created_at: _timestamp_pb2.Timestamp
    from_config: bool
    libraries: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., spec: _Optional[_Union[_common_pb2.SandboxSpec, _Mapping]] = ..., settings: _Optional[_Union[PoolSettings, _Mapping]] = ..., stats: _Optional[_Union[PoolStats, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., from_config: _Optional[bool] = ..., libraries: _Optional[_Iterable[str]] = ...) -> None: ...

class CreatePoolRequest(_message.Message):
    __slots__ = ("name", "spec", "settings", "libraries")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    LIBRARIES_FIELD_NUMBER: _ClassVar[int]
    name: str
    spec: _common_pb2.SandboxSpec
    settings: PoolSettings
    libraries: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., spec: _Optional[_Union[_common_pb2.SandboxSpec, _Mapping]] = ..., settings: _Optional[_Union[PoolSettings, _Mapping]] = ..., libraries: _Optional[_Iterable[str]] = ...) -> None: ...

class CreatePoolResponse(_message.Message):
    __slots__ = ("pool",)
    POOL_FIELD_NUMBER: _ClassVar[int]
    pool: Pool
    def __init__(self, pool: _Optional[_Union[Pool, _Mapping]] = ...) -> None: ...

class GetPoolRequest(_message.Message):
    __slots__ = ("pool_id",)
    POOL_ID_FIELD_NUMBER: _ClassVar[int]
    pool_id: str
    def __init__(self, pool_id: _Optional[str] = ...) -> None: ...

class GetPoolResponse(_message.Message):
    __slots__ = ("pool",)
    POOL_FIELD_NUMBER: _ClassVar[int]
    pool: Pool
    def __init__(self, pool: _Optional[_Union[Pool, _Mapping]] = ...) -> None: ...

class ListPoolsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListPoolsResponse(_message.Message):
    __slots__ = ("pools",)
    POOLS_FIELD_NUMBER: _ClassVar[int]
    pools: _containers.RepeatedCompositeFieldContainer[Pool]
    def __init__(self, pools: _Optional[_Iterable[_Union[Pool, _Mapping]]] = ...) -> None: ...

class UpdatePoolRequest(_message.Message):
    __slots__ = ("pool_id", "settings")
    POOL_ID_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    pool_id: str
    settings: PoolSettings
    def __init__(self, pool_id: _Optional[str] = ..., settings: _Optional[_Union[PoolSettings, _Mapping]] = ...) -> None: ...

class UpdatePoolResponse(_message.Message):
    __slots__ = ("pool",)
    POOL_FIELD_NUMBER: _ClassVar[int]
    pool: Pool
    def __init__(self, pool: _Optional[_Union[Pool, _Mapping]] = ...) -> None: ...

class DeletePoolRequest(_message.Message):
    __slots__ = ("pool_id", "destroy_sandboxes")
    POOL_ID_FIELD_NUMBER: _ClassVar[int]
    DESTROY_SANDBOXES_FIELD_NUMBER: _ClassVar[int]
    pool_id: str
    destroy_sandboxes: bool
    def __init__(self, pool_id: _Optional[str] = ..., destroy_sandboxes: _Optional[bool] = ...) -> None: ...

class DeletePoolResponse(_message.Message):
    __slots__ = ("deleted", "destroyed_sandboxes")
    DELETED_FIELD_NUMBER: _ClassVar[int]
    DESTROYED_SANDBOXES_FIELD_NUMBER: _ClassVar[int]
    deleted: bool
    destroyed_sandboxes: int
    def __init__(self, deleted: _Optional[bool] = ..., destroyed_sandboxes: _Optional[int] = ...) -> None: ...
