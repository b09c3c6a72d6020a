"""Names shared with llm-sandbox: backends, languages and kernels."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Literal

from .v1 import common_pb2


class StrEnum(str, Enum):
    """A str enum that compares equal to its value and looks values up case-insensitively."""

    def __str__(self) -> str:
        return str(self.value)

    @classmethod
    def _missing_(cls, value: object) -> StrEnum | None:
        if isinstance(value, str):
            for member in cls:
                if member.value.lower() == value.lower():
                    return member
        return None


class SandboxBackend(StrEnum):
    """Container engines the daemon can host a sandbox on."""

    DOCKER = "docker"
    KUBERNETES = "kubernetes"
    PODMAN = "podman"
    # The daemon's own engine, with every process going through `micromamba run -n <environment>`
    # (SandboxSpec.command_wrapper): a sandbox option, not an engine of its own.
    MICROMAMBA = "micromamba"

    def to_proto(self) -> int:
        return _BACKENDS[self]


_BACKENDS = {
    SandboxBackend.DOCKER: common_pb2.BACKEND_DOCKER,
    SandboxBackend.KUBERNETES: common_pb2.BACKEND_KUBERNETES,
    SandboxBackend.PODMAN: common_pb2.BACKEND_PODMAN,
    SandboxBackend.MICROMAMBA: common_pb2.BACKEND_UNSPECIFIED,
}


class SupportedLanguage(StrEnum):
    """Languages the daemon runs."""

    PYTHON = "python"
    JAVA = "java"
    JAVASCRIPT = "javascript"
    TYPESCRIPT = "typescript"
    CPP = "cpp"
    GO = "go"
    RUBY = "ruby"
    R = "r"
    BASH = "bash"


class KernelType(StrEnum):
    """Kernels an interactive session can run."""

    STANDARD = "standard"
    IPYTHON = "ipython"


@dataclass
class DefaultImage:
    """llm-sandbox's default images, by language. Passed as ``image=``, one of these means
    "the language's default": the daemon's own image for the language is used."""

    PYTHON = "ghcr.io/vndee/sandbox-python-311-bullseye"
    JAVA = "ghcr.io/vndee/sandbox-java-11-bullseye"
    JAVASCRIPT = "ghcr.io/vndee/sandbox-node-22-bullseye"
    CPP = "ghcr.io/vndee/sandbox-cpp-11-bullseye"
    GO = "ghcr.io/vndee/sandbox-go-123-bullseye"
    RUBY = "ghcr.io/vndee/sandbox-ruby-302-bullseye"
    R = "ghcr.io/vndee/sandbox-r-451-bullseye"


DEFAULT_IMAGES = frozenset(v for k, v in vars(DefaultImage).items() if k.isupper())

# How output bytes are decoded (``bytes.decode``'s ``errors``): llm-sandbox's ``encoding_errors``.
EncodingErrorsType = Literal["strict", "replace", "ignore", "surrogateescape", "backslashreplace", "xmlcharrefreplace"]

# Languages whose runs capture plots (llm-sandbox's ``is_support_plot_detection``).
PLOT_LANGUAGES = frozenset({SupportedLanguage.PYTHON.value, SupportedLanguage.R.value})
