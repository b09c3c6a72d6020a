"""Exceptions, named as llm-sandbox names them so existing ``except`` clauses keep working.

Every error the daemon sends becomes one of these through :func:`error_from_rpc`: the gRPC
status code picks the family and the machine-readable reason from the status details
(``sandboxd.v1.ErrorDetail``) picks the exact class. Each carries ``code`` (the
``grpc.StatusCode``), ``reason``, ``metadata`` and ``violations`` for programs that want
more than the message.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum
from typing import Any, Protocol

import grpc


class Finding(Protocol):
    """What an exception holds of a policy finding.

    A :class:`sandboxd.security.Violation` from the daemon, or an llm-sandbox
    ``SecurityPattern``: described by shape, as ``sandboxd.security`` imports this module.
    """

    @property
    def pattern(self) -> str: ...

    @property
    def description(self) -> str: ...

    @property
    def severity(self) -> IntEnum: ...


class SandboxError(Exception):
    """Base exception for all sandbox related errors."""

    code: grpc.StatusCode | None = None
    reason: str = ""
    metadata: dict[str, str]
    violations: list[Finding]

    def __init__(self, message: str = "", **info: Any) -> None:
        super().__init__(message)
        self.message = message
        self.metadata = {}
        self.violations = []
        _attach(self, info)

    @property
    def request_id(self) -> str:
        """The daemon's request id, for its log."""
        return self.metadata.get("request_id", "")


def _attach(err: SandboxError, info: dict[str, Any]) -> None:
    for key in ("code", "reason", "metadata", "violations"):
        if key in info and info[key] is not None:
            setattr(err, key, info[key])


class ContainerError(SandboxError):
    """Raised when container operations fail."""


class SecurityError(SandboxError):
    """Raised for security related issues."""


class ResourceError(SandboxError):
    """Raised when resource limits are exceeded."""


class ValidationError(SandboxError):
    """Raised when input validation fails."""


class ExtraArgumentsError(SandboxError):
    """Raised when extra arguments are provided."""


class LanguageNotSupportedError(SandboxError):
    """Raised when the language is not supported."""

    def __init__(self, lang: str, message: str | None = None, **info: Any) -> None:
        super().__init__(message or f"Language {lang} is not supported", **info)
        self.lang = lang


class ImageNotFoundError(SandboxError):
    """Raised when the image is not found."""

    def __init__(self, image: str, message: str | None = None, **info: Any) -> None:
        super().__init__(message or f"Image {image} not found", **info)
        self.image = image


class NotOpenSessionError(SandboxError):
    """Raised when the session is not open."""

    def __init__(self, message: str | None = None, **info: Any) -> None:
        super().__init__(message or "Session is not open. Please call open() method before running code.", **info)


class LibraryInstallationNotSupportedError(SandboxError):
    """Raised when the library installation is not supported."""

    def __init__(self, lang: str, message: str | None = None, **info: Any) -> None:
        super().__init__(message or f"Library installation is not supported for {lang}", **info)
        self.lang = lang


class CommandEmptyError(SandboxError):
    """Raised when the command is empty."""

    def __init__(self, message: str | None = None, **info: Any) -> None:
        super().__init__(message or "Command cannot be empty", **info)


class CommandFailedError(SandboxError):
    """Raised when a command fails."""

    def __init__(self, command: str, exit_code: int, output: str, **info: Any) -> None:
        super().__init__(f"Command {command} failed with exit code {exit_code}:\n{output}", **info)
        self.command = command
        self.exit_code = exit_code
        self.output = output


class PackageManagerError(SandboxError):
    """Raised when the package manager is not found."""

    def __init__(self, package_manager: str, message: str | None = None, **info: Any) -> None:
        super().__init__(message or f"Package manager {package_manager} not found", **info)
        self.package_manager = package_manager


class ImagePullError(SandboxError):
    """Raised when the image cannot be pulled."""

    def __init__(self, image: str, error: str = "", message: str | None = None, **info: Any) -> None:
        super().__init__(message or f"Failed to pull image {image}: {error}", **info)
        self.image = image


class UnsupportedBackendError(SandboxError):
    """Raised when an unsupported backend is provided."""

    def __init__(self, backend: str, message: str | None = None, **info: Any) -> None:
        super().__init__(message or f"Unsupported backend: {backend}", **info)
        self.backend = backend


class MissingDependencyError(SandboxError):
    """Raised when a required dependency is not installed."""


class LanguageNotSupportPlotError(SandboxError):
    """Raised when the language does not support plot detection."""

    def __init__(self, lang: str, message: str | None = None, **info: Any) -> None:
        super().__init__(message or f"Language {lang} does not support plot detection", **info)
        self.lang = lang


class InvalidRegexPatternError(SandboxError):
    """Raised when a regex pattern is invalid."""

    def __init__(self, pattern: str, message: str | None = None, **info: Any) -> None:
        super().__init__(message or f"Invalid regex pattern: {pattern}", **info)
        self.pattern = pattern


class LanguageHandlerNotInitializedError(SandboxError):
    """Raised when the language handler is not initialized."""

    def __init__(self, language: str = "", message: str | None = None, **info: Any) -> None:
        super().__init__(message or f"Language handler for {language} is not initialized", **info)
        self.language = self.lang = language


class SecurityViolationError(SandboxError):
    """Raised when a security policy is violated; ``violations`` lists what matched."""


class SecurityPolicyViolation(SecurityViolationError):  # noqa: N818 - llm-sandbox's name
    """Raised when the policy blocks code; carries the violations and the threshold."""

    def __init__(
        self,
        violations: Sequence[Finding],
        severity_threshold: IntEnum | None = None,
        message: str | None = None,
        **info: Any,
    ) -> None:
        self.severity_threshold = severity_threshold
        super().__init__(message or _violation_message(violations, severity_threshold), **info)
        self.violations = list(violations)


def _violation_message(violations: list[Any], threshold: Any) -> str:
    if not violations:
        return "Security policy violation: code blocked by enforced security policy"
    part = f" (threshold: {threshold.name})" if threshold is not None else ""
    items = [f"  - [{v.severity.name}] {v.description} (pattern: {getattr(v, 'pattern', getattr(v, 'rule', ''))})" for v in violations]
    return f"Security policy violation{part}: {len(violations)} issue(s) detected\n" + "\n".join(items)


class SandboxTimeoutError(SandboxError):
    """Raised when an operation times out.

    ``timeout_duration`` is the limit in seconds; for a run that hit its deadline,
    ``result`` holds what it printed before it was killed.
    """

    def __init__(self, message: str, timeout_duration: float | None = None, **info: Any) -> None:
        super().__init__(message, **info)
        self.timeout_duration = timeout_duration
        self.result: Any = info.get("result")


# sandboxd-specific refinements; each still derives from the llm-sandbox family above.


class AuthenticationError(SecurityError):
    """The daemon refused the call's credentials (missing or wrong bearer token)."""


class PermissionDeniedError(SecurityError):
    """The caller may not do this (another tenant's sandbox, a refused library, ...)."""


class SandboxNotFoundError(ContainerError):
    """No sandbox (or run, session, artifact) with that id exists for this caller."""


class SandboxStateError(ContainerError):
    """The sandbox cannot do this now: it stopped, failed or is being destroyed.

    A sandbox that outlived its ``session_timeout`` (or ``idle_timeout``) is not this but
    :class:`SandboxTimeoutError`, as in llm-sandbox.
    """


class PathNotFoundError(SandboxNotFoundError, FileNotFoundError):
    """A path in the sandbox does not exist (``copy_from_runtime``): a ``FileNotFoundError``, as in llm-sandbox."""


class RuntimeConfigError(ValidationError, ValueError):
    """A ``runtime_configs`` value asks for something the daemon does not grant
    (``network_mode: host``, ``privileged: True``, ``cap_add``, ...); also a ``ValueError``."""

    def __init__(self, key: str, value: Any, message: str | None = None, **info: Any) -> None:
        super().__init__(message or f"runtime_configs[{key!r}] = {value!r} is not granted by sandboxd", **info)
        self.key = key
        self.value = value


class DaemonUnavailableError(ContainerError):
    """The daemon or its container engine cannot be reached."""


class RunCancelledError(SandboxError):
    """The run was cancelled or interrupted before it finished."""


class UnimplementedError(SandboxError):
    """The daemon does not implement this call (an older daemon, or a feature turned off)."""


_REASONS: dict[str, type[SandboxError]] = {
    "LANGUAGE_NOT_SUPPORTED": LanguageNotSupportedError,
    "LANGUAGE_MISMATCH": ValidationError,
    "IMAGE_MISSING": ImageNotFoundError,
    "IMAGE_BUILD_FAILED": ContainerError,
    "INSTALL_NOT_SUPPORTED": LibraryInstallationNotSupportedError,
    "POLICY_VIOLATION": SecurityPolicyViolation,
    "SANDBOX_NOT_FOUND": SandboxNotFoundError,
    "RUN_NOT_FOUND": SandboxNotFoundError,
    "SESSION_NOT_FOUND": SandboxNotFoundError,
    "SANDBOX_EXPIRED": SandboxTimeoutError,  # session_timeout (the sandbox's TTL) or idle_timeout
    "PATH_NOT_FOUND": PathNotFoundError,
    "SANDBOX_STOPPED": SandboxStateError,
    "SANDBOX_FAILED": SandboxStateError,
    "SANDBOX_DESTROYED": SandboxStateError,
    "ENGINE_UNAVAILABLE": DaemonUnavailableError,
    "INVALID_REGEX": InvalidRegexPatternError,
}

_CODES: dict[grpc.StatusCode, type[SandboxError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: ValidationError,
    grpc.StatusCode.OUT_OF_RANGE: ValidationError,
    grpc.StatusCode.NOT_FOUND: SandboxNotFoundError,
    grpc.StatusCode.ALREADY_EXISTS: ContainerError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
    grpc.StatusCode.UNAUTHENTICATED: AuthenticationError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceError,
    grpc.StatusCode.FAILED_PRECONDITION: SandboxStateError,
    grpc.StatusCode.UNAVAILABLE: DaemonUnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: SandboxTimeoutError,
    grpc.StatusCode.CANCELLED: RunCancelledError,
    grpc.StatusCode.UNIMPLEMENTED: UnimplementedError,
}


def make_error(code: grpc.StatusCode | None, message: str, reason: str, metadata: dict[str, str], violations: Sequence[Finding]) -> SandboxError:
    """Builds the exception for a status: the reason decides first, then the code."""
    cls = _REASONS.get(reason)
    if cls is None and violations:
        cls = SecurityPolicyViolation
    if cls is None:
        cls = _CODES.get(code, SandboxError) if code is not None else SandboxError
    info: dict[str, Any] = {"code": code, "reason": reason, "metadata": metadata, "violations": violations}
    err: SandboxError
    if cls is LanguageNotSupportedError or cls is LibraryInstallationNotSupportedError or cls is LanguageNotSupportPlotError:
        err = cls(metadata.get("language", ""), message, **info)  # type: ignore[call-arg]
    elif cls is ImageNotFoundError:
        err = ImageNotFoundError(metadata.get("image", ""), message, **info)
    elif cls is InvalidRegexPatternError:
        err = InvalidRegexPatternError(metadata.get("pattern", ""), message, **info)
    elif cls is SecurityPolicyViolation:
        err = SecurityPolicyViolation(violations, None, message, **{k: v for k, v in info.items() if k != "violations"})
    elif cls is SandboxTimeoutError:
        err = SandboxTimeoutError(message, None, **info)
    else:
        err = cls(message, **info)
    return err
