"""llm-sandbox code runs unchanged: names, signatures, results and exceptions."""

from __future__ import annotations

import inspect
import json

import pytest

import sandboxd
from sandboxd import (
    ArtifactSandboxSession,
    CommandEmptyError,
    ConsoleOutput,
    ExecutionResult,
    FileType,
    InteractiveSandboxSession,
    InteractiveSettings,
    KernelType,
    NotOpenSessionError,
    PlotOutput,
    RestrictedModule,
    SandboxBackend,
    SandboxError,
    SandboxSession,
    SandboxTimeoutError,
    SecurityIssueSeverity,
    SecurityPattern,
    SecurityPolicy,
    SecurityViolationError,
    SupportedLanguage,
    create_session,
    get_security_policy,
)
from sandboxd.v1 import common_pb2


def test_names_llm_sandbox_code_imports() -> None:
    for name in [
        "SandboxSession", "ArtifactSandboxSession", "InteractiveSandboxSession", "create_session", "ConsoleOutput",
        "ExecutionResult", "PlotOutput", "FileType", "SandboxBackend", "SupportedLanguage", "SecurityPolicy",
        "SecurityPattern", "RestrictedModule", "SecurityIssueSeverity", "SandboxError", "ContainerError", "SecurityError",
        "ResourceError", "ValidationError", "SandboxTimeoutError", "SecurityViolationError", "LanguageNotSupportedError",
        "NotOpenSessionError", "CommandEmptyError", "CommandFailedError", "ImageNotFoundError", "KernelType", "InteractiveSettings",
    ]:
        assert hasattr(sandboxd, name), name
    assert issubclass(SandboxTimeoutError, SandboxError)
    assert issubclass(SecurityViolationError, SandboxError)
    assert SandboxTimeoutError("x", timeout_duration=2.5).timeout_duration == 2.5


def test_signatures_match_llm_sandbox() -> None:
    run = inspect.signature(SandboxSession.run).parameters
    assert list(run)[1:6] == ["code", "libraries", "timeout", "on_stdout", "on_stderr"]
    assert list(inspect.signature(SandboxSession.execute_command).parameters)[1:3] == ["command", "workdir"]
    assert list(inspect.signature(ArtifactSandboxSession.run).parameters)[1:5] == ["code", "libraries", "timeout", "clear_plots"]
    assert list(inspect.signature(ArtifactSandboxSession.__init__).parameters)[1:5] == ["backend", "image", "dockerfile", "lang"]
    assert "enable_plotting" in inspect.signature(ArtifactSandboxSession.__init__).parameters
    interactive = inspect.signature(InteractiveSandboxSession.__init__).parameters
    for name in ["lang", "kernel_type", "history_size", "timeout", "interactive_settings", "max_memory", "enable_magic"]:
        assert name in interactive
    # The constructor takes llm-sandbox's options.
    SandboxSession(
        lang="python", image=None, dockerfile=None, backend=SandboxBackend.DOCKER, workdir="/sandbox", runtime_configs={"mem_limit": "512m"},
        security_policy=None, default_timeout=10, execution_timeout=20, session_timeout=600, keep_template=True, commit_container=False,
        container_id=None, verbose=False,
    )
    with pytest.raises(TypeError):
        SandboxSession(lang="python", no_such_option=1)


def test_spec_from_llm_sandbox_options() -> None:
    s = SandboxSession(lang="python", runtime_configs={"mem_limit": "512m", "cpu_count": 2, "pids_limit": 64, "environment": {"A": "1"}}, execution_timeout=20, session_timeout=600, workdir="/work")
    spec = s.options.to_spec()
    assert spec.resources.memory_bytes == 512 * 1024 * 1024
    assert spec.resources.cpus == 2
    assert spec.resources.pids == 64
    assert spec.env["A"] == "1"
    assert spec.execution_timeout_ms == 20_000
    assert spec.ttl_ms == 600_000
    assert spec.workdir == "/work"
    policy = SecurityPolicy(severity_threshold=SecurityIssueSeverity.MEDIUM, patterns=[SecurityPattern(pattern=r"eval\(", description="eval", severity=SecurityIssueSeverity.HIGH)])
    policy.add_restricted_module(RestrictedModule(name="os", description="os", severity=SecurityIssueSeverity.HIGH))
    spec = SandboxSession(lang="python", security_policy=policy).options.to_spec()
    assert spec.security_policy.severity_threshold == 3  # MEDIUM on the wire (SAFE = 1)
    assert spec.security_policy.restricted_modules[0].name == "os"
    assert SandboxSession(security_policy=get_security_policy("strict")).options.to_spec().security_preset == "strict"
    with pytest.raises(ValueError):
        get_security_policy("nope")
    # llm-sandbox's Kubernetes options: the manifest travels as JSON, the backend as asked.
    manifest = {"spec": {"nodeSelector": {"pool": "sandboxes"}}}
    spec = SandboxSession(lang="python", backend=SandboxBackend.KUBERNETES, kube_namespace="ml", pod_manifest=manifest).options.to_spec()
    assert json.loads(spec.pod_manifest) == manifest
    assert spec.backend == common_pb2.BACKEND_KUBERNETES


def test_results_behave_like_llm_sandbox() -> None:
    r = ExecutionResult(exit_code=0, stdout="a", stderr="", plots=[PlotOutput(format=FileType.PNG, content_base64="AA==")])
    assert r.success() and isinstance(r, ConsoleOutput)
    assert "plots" not in json.loads(r.to_json())
    assert json.loads(r.to_json(include_plots=True))["plots"][0]["format"] == "png"
    assert SupportedLanguage("PYTHON") == "python"
    assert InteractiveSettings(history_size=5).kernel_type == KernelType.IPYTHON


def test_session_must_be_open() -> None:
    s = SandboxSession(lang="python")
    with pytest.raises(NotOpenSessionError):
        s.run("print(1)")
    with pytest.raises(NotOpenSessionError):
        s.execute_command("ls")


def test_execute_commands_and_empty_command() -> None:
    with create_session(lang="python") as s:
        out = s.execute_commands(["mkdir -p /sandbox/x", ("pwd", "/sandbox/x"), "false", "echo never"])
        assert out.exit_code == 1
        ok = s.execute_commands(["true", ("pwd", "/tmp")])
        assert ok.stdout == "/tmp\n"
        with pytest.raises(CommandEmptyError):
            s.execute_command("")
        assert not s.is_safe("import os")[1]  # no policy: everything is safe, as in llm-sandbox


def test_close_is_idempotent_and_destroys() -> None:
    s = SandboxSession(lang="python")
    s.open()
    sandbox_id = s.sandbox_id
    assert s.container is not None
    s.close()
    s.close()
    with sandboxd.Client() as c:
        assert not c.destroy_sandbox(sandbox_id).destroyed


def test_attaching_to_an_existing_sandbox_leaves_it_running() -> None:
    with SandboxSession(lang="python") as owner:
        with SandboxSession(sandbox_id=owner.sandbox_id) as guest:
            assert guest.run("print('guest')").stdout == "guest\n"
        assert owner.run("print('owner')").stdout == "owner\n"
