"""Every name of llm-sandbox 0.3.39's API reference is in sandboxd, or the table says why not.

docs/llm-sandbox-compatibility.md has one row per class, function, method, parameter and
exception: ``| `llm_sandbox...` | `sandboxd...` | status | note |``. For each row whose
status is ``same`` or ``differs`` this imports the sandboxd name and, for a parameter row
(``sandboxd.X(name)``), checks that ``X`` takes that parameter. Pure imports: no daemon.

Rows whose note starts with ``[pending: <part>]`` (``pools``, say) describe a part of
``sandboxd`` as it is being built; they fail here until it lands (the failure message says so).
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.no_daemon

TABLE = Path(__file__).resolve().parents[3] / "docs" / "llm-sandbox-compatibility.md"
ROW = re.compile(r"^\| `(?P<llm>[^`]+)` \| (?P<sbx>`[^`]+`|—) \| (?P<status>[a-z ]+) \| (?P<note>.*) \|$")
STATUSES = {"same", "differs", "not supported"}
PENDING = re.compile(r"^\[pending: (\w+)\]")


def _rows() -> list[dict[str, str]]:
    rows = []
    for line in TABLE.read_text(encoding="utf-8").splitlines():
        m = ROW.match(line)
        if m:
            rows.append({**m.groupdict(), "sbx": m["sbx"].strip("`")})
    return rows


ROWS = _rows()
CHECKED = [r for r in ROWS if r["status"] in ("same", "differs")]


PACKAGE = Path(importlib.import_module("sandboxd").__file__ or "").resolve().parent


def _resolve(path: str) -> Any:
    """``sandboxd.a.B.c``: the longest importable module prefix, then attributes. A module
    must come from this checkout's package (an editable install elsewhere on the machine
    could otherwise answer for a module this checkout lacks)."""
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        module_name = ".".join(parts[:i])
        try:
            obj: Any = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name is not None and not module_name.startswith(err.name) and not err.name.startswith(module_name):
                raise  # the module exists but fails to import: a real error
            continue
        where = Path(getattr(obj, "__file__", None) or PACKAGE).resolve()
        assert where.is_relative_to(PACKAGE), f"{module_name} is imported from {where}, outside this checkout's sandboxd ({PACKAGE})"
        break
    else:
        msg = f"no module of {path} can be imported"
        raise AssertionError(msg)
    for attr in parts[i:]:
        assert hasattr(obj, attr), f"{'.'.join(parts[: parts.index(attr)])} has no {attr!r}"
        obj = getattr(obj, attr)
    return obj


def _takes(target: Any, param: str) -> None:
    """``target`` (a class or a callable) accepts the parameter ``param``."""
    signature = inspect.signature(target)
    kinds = {p.kind for p in signature.parameters.values()}
    if param.startswith("**"):
        assert inspect.Parameter.VAR_KEYWORD in kinds, f"{target} takes no **kwargs"
        return
    if param.startswith("*"):
        assert inspect.Parameter.VAR_POSITIONAL in kinds, f"{target} takes no *args"
        return
    named = {n for n, p in signature.parameters.items() if p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)}
    if param in named:
        return
    assert inspect.Parameter.VAR_KEYWORD in kinds, f"{target} has no parameter {param!r}"
    if not inspect.isclass(target):
        return  # a function's **kwargs takes it (the table points at where it goes when that matters)
    # A class whose **kwargs are checked when it is made (SandboxSession refuses unknown
    # keywords with TypeError): make one, nothing is contacted until open().
    required = {
        n: None
        for n, p in signature.parameters.items()
        if p.default is inspect.Parameter.empty and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }
    try:
        target(**required, **{param: None})
    except TypeError as err:
        assert f"'{param}'" not in str(err), f"{target.__qualname__} refuses {param!r}: {err}"
    except Exception:  # noqa: BLE001, S110 - the keyword was taken; a None value may be refused later
        pass


def _split(sbx: str) -> tuple[str, str | None]:
    m = re.fullmatch(r"(?P<path>[\w.]+)(?:\((?P<param>\*{0,2}\w+)\))?", sbx)
    assert m, f"unreadable sandboxd name {sbx!r}"
    return m["path"], m["param"]


@pytest.mark.parametrize("row", CHECKED, ids=[r["llm"] for r in CHECKED])
def test_sandboxd_has_the_name(row: dict[str, str]) -> None:
    pending = PENDING.match(row["note"])
    path, param = _split(row["sbx"])
    try:
        target = _resolve(path)
        if param is not None:
            _takes(target, param)
    except AssertionError as err:
        if pending:
            pytest.fail(f"{row['sbx']}: {err} (pending: sandboxd.{'pool' if pending[1] == 'pools' else pending[1]} is being built apart; this row is what it will be)")
        raise


def test_the_table_is_whole_and_readable() -> None:
    assert len(ROWS) > 300, "the table was not parsed"
    names = [r["llm"] for r in ROWS]
    assert len(names) == len(set(names)), sorted({n for n in names if names.count(n) > 1})
    for r in ROWS:
        assert r["status"] in STATUSES, r
        assert r["llm"].startswith("llm_sandbox"), r
        assert (r["sbx"] == "—") == (r["status"] == "not supported"), r
        if r["status"] != "same":
            assert PENDING.sub("", r["note"]).strip(), f"{r['llm']} is {r['status']!r} without a reason"


def test_every_api_reference_object_has_a_row() -> None:
    # The objects llm-sandbox 0.3.39's docs/api-reference.md documents (its `::: name` lines,
    # its exception list, its examples' imports), by their llm-sandbox name.
    documented = [
        "llm_sandbox.SandboxSession", "llm_sandbox.session.ArtifactSandboxSession", "llm_sandbox.InteractiveSandboxSession",
        "llm_sandbox.interactive.InteractiveSettings", "llm_sandbox.interactive.KernelType", "llm_sandbox.data.ConsoleOutput",
        "llm_sandbox.data.ExecutionResult", "llm_sandbox.data.PlotOutput", "llm_sandbox.security.SecurityPolicy",
        "llm_sandbox.security.SecurityPattern", "llm_sandbox.security.RestrictedModule", "llm_sandbox.security.SecurityIssueSeverity",
        "llm_sandbox.const.SandboxBackend", "llm_sandbox.const.SupportedLanguage", "llm_sandbox.data.FileType", "llm_sandbox.create_session",
        "llm_sandbox.exceptions.SandboxError", "llm_sandbox.exceptions.SandboxTimeoutError", "llm_sandbox.exceptions.ContainerError",
        "llm_sandbox.exceptions.SecurityError", "llm_sandbox.exceptions.ResourceError", "llm_sandbox.exceptions.ValidationError",
        "llm_sandbox.exceptions.LanguageNotSupportedError", "llm_sandbox.exceptions.ImageNotFoundError",
        "llm_sandbox.language_handlers.base.AbstractLanguageHandler", "llm_sandbox.language_handlers.LanguageConfig",
        "llm_sandbox.docker.SandboxDockerSession", "llm_sandbox.kubernetes.SandboxKubernetesSession", "llm_sandbox.podman.SandboxPodmanSession",
        "llm_sandbox.micromamba.MicromambaSession", "llm_sandbox.data.StreamCallback", "llm_sandbox.language_handlers.base.ContainerProtocol",
        "llm_sandbox.get_security_policy",
    ]  # fmt: skip
    names = {r["llm"] for r in ROWS}
    assert [n for n in documented if n not in names] == []
