"""sandboxd: run untrusted code on a sandboxd daemon, with llm-sandbox's API.

Change ``from llm_sandbox import ...`` to ``from sandboxd import ...``; the asyncio flavour
of every class is in :mod:`sandboxd.aio`.
"""

from .client import Client
from .const import DefaultImage, SandboxBackend, SupportedLanguage
from .core.config import SessionConfig
from .data import ConsoleOutput, ExecutionResult, FileType, PlotOutput, StreamCallback
from .exceptions import (
    AuthenticationError,
    CommandEmptyError,
    CommandFailedError,
    ContainerError,
    DaemonUnavailableError,
    ExtraArgumentsError,
    ImageNotFoundError,
    ImagePullError,
    InvalidRegexPatternError,
    LanguageHandlerNotInitializedError,
    LanguageNotSupportedError,
    LanguageNotSupportPlotError,
    LibraryInstallationNotSupportedError,
    MissingDependencyError,
    NotOpenSessionError,
    PackageManagerError,
    PathNotFoundError,
    PermissionDeniedError,
    ResourceError,
    RunCancelledError,
    RuntimeConfigError,
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
from .micromamba import MicromambaSession
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
    "DefaultImage",
    "ExecutionResult",
    "ExtraArgumentsError",
    "FileType",
    "ImageNotFoundError",
    "ImagePullError",
    "InteractiveSandboxSession",
    "InteractiveSettings",
    "InvalidRegexPatternError",
    "KernelType",
    "LanguageHandlerNotInitializedError",
    "LanguageNotSupportPlotError",
    "LanguageNotSupportedError",
    "LibraryInstallationNotSupportedError",
    "MicromambaSession",
    "MissingDependencyError",
    "NotOpenSessionError",
    "PackageManagerError",
    "PathNotFoundError",
    "PermissionDeniedError",
    "PlotOutput",
    "ResourceError",
    "RestrictedModule",
    "RunCancelledError",
    "RuntimeConfigError",
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
    "SessionConfig",
    "ShellSession",
    "StreamCallback",
    "SupportedLanguage",
    "UnimplementedError",
    "UnsupportedBackendError",
    "ValidationError",
    "Violation",
    "create_session",
    "get_security_policy",
]
