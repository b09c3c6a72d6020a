"""Results as llm-sandbox returns them, plus what the daemon adds (status, signal, timing)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from dataclasses import asdict, dataclass, field
from enum import Enum

# Receives each decoded chunk of stdout or stderr as it arrives (llm-sandbox's name).
StreamCallback = Callable[[str], None]


class FileType(Enum):
    """Formats of captured artifacts."""

    PNG = "png"
    JPEG = "jpeg"
    PDF = "pdf"
    SVG = "svg"
    CSV = "csv"
    JSON = "json"
    TXT = "txt"
    HTML = "html"

    @classmethod
    def from_format(cls, fmt: str, mime_type: str = "") -> FileType:
        key = (fmt or mime_type.rsplit("/", 1)[-1]).lower().replace("jpg", "jpeg").replace("svg+xml", "svg")
        for member in cls:
            if member.value == key:
                return member
        return cls.PNG if mime_type.startswith("image/") else cls.TXT


@dataclass(frozen=True)
class PlotOutput:
    """A plot or other captured artifact, content base64 encoded."""

    format: FileType
    content_base64: str
    width: int | None = None
    height: int | None = None
    dpi: int | None = None
    # sandboxd: the artifact's id, name and per-sandbox plot counter.
    id: str = ""
    name: str = ""
    index: int = 0


@dataclass(frozen=True)
class ConsoleOutput:
    """stdout, stderr and the exit code of code or a command.

    ``status`` says how it ended (``EXITED``, ``KILLED``, ``OOM``, ...); for a process
    killed by a signal ``exit_code`` is ``128 + signal``, as a shell reports it.
    """

    exit_code: int = 0
    stderr: str = ""
    stdout: str = ""
    status: str = "EXITED"
    signal: int = 0
    duration_ms: int = 0
    truncated: bool = False
    run_id: str = ""
    # sandboxd: the run's own peak memory (largest resident set of its processes, as reaped)
    # and CPU time; 0 where they were not measured.
    peak_memory_bytes: int = 0
    cpu_time_ms: int = 0

    def text(self) -> str:
        """Deprecated in llm-sandbox: use ``stdout``."""
        return self.stdout

    def success(self) -> bool:
        """True when the exit code is 0."""
        return not self.exit_code

    def to_json(self, include_plots: bool = False) -> str:
        result = asdict(self)
        result.pop("run_plots", None)  # a subset of plots: llm-sandbox's JSON has plots only
        if not include_plots:
            result.pop("plots", None)
        else:
            for p in result.get("plots", []):
                p["format"] = p["format"].value
        return json.dumps(result, indent=2)


@dataclass(frozen=True)
class ExecutionResult(ConsoleOutput):
    """A run's console output plus plots.

    ``plots`` is every plot of the sandbox since the last clear (``clear_plots()`` or
    ``run(..., clear_plots=True)``), oldest first, as llm-sandbox returns them: after a run
    that showed 2 plots and another that showed 1, the second result has 3. ``run_plots``
    (sandboxd) is only the plots this run made.
    """

    plots: list[PlotOutput] = field(default_factory=list)
    run_plots: list[PlotOutput] = field(default_factory=list)


@dataclass(frozen=True)
class CellEvent:
    """An event of an ``Execute`` stream (``session.execute()``), tagged with its cell's id."""

    cell_id: str
    event: Any  # sandboxd.v1.common_pb2.RunEvent

    @property
    def kind(self) -> str:
        """The event's kind: ``started``, ``output``, ``display``, ``result``, ``error``, ``artifact``, ``exited``."""
        return str(self.event.WhichOneof("event"))


@dataclass(frozen=True)
class CellResult(ConsoleOutput):
    """How a cell of an ``Execute`` stream ended: its console output and ``status``
    (``EXITED``, ``CANCELLED`` when interrupted or dropped from the queue, ``TIMEOUT``, ...),
    not an exception. ``events`` are the cell's events in order (keepalives left out).
    """

    cell_id: str = ""
    events: list[Any] = field(default_factory=list)

    def results(self) -> list[str]:
        """The ``text/plain`` of each value the cell showed as its result (IPython's ``Out[n]``)."""
        return [e.result.data["text/plain"].decode() for e in self.events if e.WhichOneof("event") == "result" and "text/plain" in e.result.data]

    def to_json(self, include_plots: bool = False) -> str:  # noqa: ARG002 - ConsoleOutput's signature
        fields = {k: getattr(self, k) for k in ConsoleOutput.__dataclass_fields__}
        return json.dumps({**fields, "cell_id": self.cell_id}, indent=2)
