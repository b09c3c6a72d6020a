"""Security policies as llm-sandbox spells them; the daemon enforces them.

A policy travels with the sandbox (``SandboxSpec.security_policy``) and the daemon checks
every run and install against it before anything executes. ``is_safe`` asks the daemon
(``CheckCode``) too, so the client and the server can never disagree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import IntEnum

from .exceptions import InvalidRegexPatternError
from .v1 import common_pb2


class SecurityIssueSeverity(IntEnum):
    """Severity of a security issue."""

    SAFE = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3

    def to_proto(self) -> int:
        return int(self) + 1  # SECURITY_SEVERITY_SAFE = 1, ...

    @classmethod
    def from_proto(cls, value: int) -> SecurityIssueSeverity:
        return cls(max(0, value - 1))


@dataclass
class SecurityPattern:
    """A regular expression the policy looks for in code."""

    pattern: str
    description: str
    severity: SecurityIssueSeverity

    def __post_init__(self) -> None:
        self.severity = SecurityIssueSeverity(self.severity)
        self.validate_pattern(self.pattern)

    @classmethod
    def validate_pattern(cls, v: str) -> str:
        """``v`` if it is a valid regular expression, else ``InvalidRegexPatternError``."""
        try:
            re.compile(v)
        except re.error as e:
            raise InvalidRegexPatternError(v) from e
        return v


@dataclass
class RestrictedModule:
    """A module whose import (and installation) the policy refuses at its severity."""

    name: str
    description: str
    severity: SecurityIssueSeverity

    def __post_init__(self) -> None:
        self.severity = SecurityIssueSeverity(self.severity)


@dataclass
class Violation(SecurityPattern):
    """One finding of a policy check: where, what and how bad.

    It is a ``SecurityPattern`` (``pattern`` is the rule that matched, ``import:<module>``
    for a restricted module), so code written for llm-sandbox's ``is_safe`` reads it as is.
    """

    line: int = 0
    column: int = 0
    snippet: str = ""

    def __post_init__(self) -> None:
        self.severity = SecurityIssueSeverity(self.severity)  # rules from the daemon need no re-check

    @property
    def rule(self) -> str:
        return self.pattern

    @classmethod
    def from_proto(cls, v: common_pb2.Violation) -> Violation:
        return cls(
            pattern=v.rule,
            description=v.description,
            severity=SecurityIssueSeverity.from_proto(v.severity),
            line=v.line,
            column=v.column,
            snippet=v.snippet,
        )


@dataclass
class SecurityPolicy:
    """A static code policy: code whose violations reach ``severity_threshold`` is refused.

    ``preset`` names one of the daemon's presets (see :func:`get_security_policy`); a preset
    policy is sent by name, so it cannot be combined with patterns of its own.
    """

    severity_threshold: SecurityIssueSeverity = SecurityIssueSeverity.SAFE
    patterns: list[SecurityPattern] | None = None
    restricted_modules: list[RestrictedModule] | None = None
    preset: str | None = field(default=None, kw_only=True)

    def add_pattern(self, pattern: SecurityPattern) -> None:
        self._check_not_preset()
        if self.patterns is None:
            self.patterns = []
        self.patterns.append(pattern)

    def add_restricted_module(self, module: RestrictedModule) -> None:
        self._check_not_preset()
        if self.restricted_modules is None:
            self.restricted_modules = []
        self.restricted_modules.append(module)

    def _check_not_preset(self) -> None:
        if self.preset is not None:
            msg = f"security policy preset {self.preset!r} is applied by name on the daemon; build a SecurityPolicy of your own to add rules"
            raise ValueError(msg)

    def to_proto(self) -> common_pb2.SecurityPolicy:
        return common_pb2.SecurityPolicy(
            severity_threshold=SecurityIssueSeverity(self.severity_threshold).to_proto(),
            patterns=[
                common_pb2.SecurityPattern(pattern=p.pattern, description=p.description, severity=p.severity.to_proto())
                for p in self.patterns or []
            ],
            restricted_modules=[
                common_pb2.RestrictedModule(name=m.name, description=m.description, severity=m.severity.to_proto())
                for m in self.restricted_modules or []
            ],
        )


PRESET_NAMES = ("development", "production", "educational", "data_science", "web_scraping", "minimal", "strict")


def get_security_policy(name: str) -> SecurityPolicy:
    """One of the daemon's named policies (llm-sandbox's presets of the same names)."""
    key = name.lower()
    if key not in PRESET_NAMES:
        msg = f"Unknown preset '{name}'. Available: {', '.join(PRESET_NAMES)}"
        raise ValueError(msg)
    return SecurityPolicy(preset=key)


def apply_policy(spec: common_pb2.SandboxSpec, policy: SecurityPolicy | str | None) -> None:
    """Puts a policy (or a preset name) into a sandbox spec."""
    if policy is None:
        return
    if isinstance(policy, str):
        spec.security_preset = policy
    elif policy.preset is not None:
        spec.security_preset = policy.preset
    else:
        spec.security_policy.CopyFrom(policy.to_proto())
