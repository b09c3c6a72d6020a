"""sandboxd: run untrusted code on a sandboxd daemon, with llm-sandbox's API.

Change ``from llm_sandbox import ...`` to ``from sandboxd import ...``; the asyncio flavour
of every class is in :mod:`sandboxd.aio`.
"""

from .client import Client
from .const import SandboxBackend, SupportedLanguage
from .data import ConsoleOutput, ExecutionResult, FileType, PlotOutput
from .exceptions import (
    AuthenticationError,
    CommandEmptyError,
    CommandFailedError,
    ContainerError,
    DaemonUnavailableError,
    ExtraArgumentsError,
    ImageNotFoundError,
    InvalidRegexPatternError,
    LanguageNotSupportedError,
    LanguageNotSupportPlotError,
    LibraryInstallationNotSupportedError,
    MissingDependencyError,
    NotOpenSessionError,
    PermissionDeniedError,
    ResourceError,
    RunCancelledError,
    SandboxError,
    SandboxNotFoundError,
    SandboxStateError,
    SandboxTimeoutError,
    SecurityError,
    SecurityPolicyViolation,
    SecurityViolationError,
    UnimplementedError,
    UnsupportedBackendError,
    ValidationError,
)
from .interactive import InteractiveSandboxSession, InteractiveSettings, KernelType
from .security import (
    RestrictedModule,
    SecurityIssueSeverity,
    SecurityPattern,
    SecurityPolicy,
    Violation,
    get_security_policy,
)
from .session import ArtifactSandboxSession, SandboxSession, ShellSession, create_session

__version__ = "0.1.0"

__all__ = [
    "ArtifactSandboxSession",
    "AuthenticationError",
    "Client",
    "CommandEmptyError",
    "CommandFailedError",
    "ConsoleOutput",
    "ContainerError",
    "DaemonUnavailableError",
    "ExecutionResult",
    "ExtraArgumentsError",
    "FileType",
    "ImageNotFoundError",
    "InteractiveSandboxSession",
    "InteractiveSettings",
    "InvalidRegexPatternError",
    "KernelType",
    "LanguageNotSupportPlotError",
    "LanguageNotSupportedError",
    "LibraryInstallationNotSupportedError",
    "MissingDependencyError",
    "NotOpenSessionError",
    "PermissionDeniedError",
    "PlotOutput",
    "ResourceError",
    "RestrictedModule",
    "RunCancelledError",
    "SandboxBackend",
    "SandboxError",
    "SandboxNotFoundError",
    "SandboxSession",
    "SandboxStateError",
    "SandboxTimeoutError",
    "SecurityError",
    "SecurityIssueSeverity",
    "SecurityPattern",
    "SecurityPolicy",
    "SecurityPolicyViolation",
    "SecurityViolationError",
    "ShellSession",
    "SupportedLanguage",
    "UnimplementedError",
    "UnsupportedBackendError",
    "ValidationError",
    "Violation",
    "create_session",
    "get_security_policy",
]
