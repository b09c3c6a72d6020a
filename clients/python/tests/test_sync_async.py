"""The sync and asyncio APIs stay one API (unit tests: no daemon).

``sandboxd/aio`` is the source and ``scripts/gen_sync.py`` writes the sync modules from it;
these tests catch drift even where the generator is not run: the same public methods with
the same signatures, awaited exactly where the asyncio flavour awaits, and no import cycle.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import re
from pathlib import Path

import pytest

import sandboxd
import sandboxd.aio

pytestmark = pytest.mark.no_daemon

PACKAGE = Path(sandboxd.__file__).resolve().parent
CLASSES = ["Client", "SandboxSession", "ArtifactSandboxSession", "InteractiveSandboxSession", "ShellSession", "ExecuteStream"]
ASYNC_DUNDERS = {"__aenter__": "__enter__", "__aexit__": "__exit__"}


def _public(cls: type) -> dict[str, object]:
    """Public members (and the context-manager dunders), by their sync name."""
    return {
        ASYNC_DUNDERS.get(name, name): inspect.getattr_static(cls, name)
        for name in dir(cls)
        if not name.startswith("_") or name in ("__init__", "__enter__", "__exit__", *ASYNC_DUNDERS)
    }


def _sync_annotation(annotation: object) -> str:
    # The two rewrites the generator makes in annotations.
    return re.sub(r"\bAsyncIterator\b", "Iterator", str(annotation)).replace("grpc.aio.", "grpc.")


def _shape(member: object) -> tuple[object, ...]:
    if isinstance(member, property):
        return ("property", _sync_annotation(inspect.signature(member.fget).return_annotation))  # type: ignore[arg-type]
    function = inspect.unwrap(member)  # type: ignore[arg-type]
    signature = inspect.signature(function)
    params = [(p.name, p.kind, repr(p.default), _sync_annotation(p.annotation)) for p in signature.parameters.values()]
    return ("function", function.__name__.replace("__a", "__"), params, _sync_annotation(signature.return_annotation))


@pytest.mark.parametrize("name", CLASSES)
def test_same_public_methods_and_signatures(name: str) -> None:
    sync_cls, async_cls = getattr(sandboxd, name), getattr(sandboxd.aio, name)
    sync_members, async_members = _public(sync_cls), _public(async_cls)
    assert sorted(sync_members) == sorted(async_members)
    for member, async_member in async_members.items():
        assert _shape(sync_members[member]) == _shape(async_member), f"{name}.{member}"


# Plain methods of the asyncio API: they build an object, return a stream to iterate, or
# (ExecuteStream's send/interrupt/end) only queue a request.
NOT_AWAITED = {"__init__", "session", "stream", "run", "exec", "install", "attach", "session_run", "execute", "send", "interrupt", "end", "watch_sandbox", "watch_files"}


@pytest.mark.parametrize("name", CLASSES)
def test_awaited_exactly_where_asyncio_awaits(name: str) -> None:
    sync_cls, async_cls = getattr(sandboxd, name), getattr(sandboxd.aio, name)
    for member, async_member in _public(async_cls).items():
        if isinstance(async_member, property):
            continue
        sync_member = inspect.unwrap(_public(sync_cls)[member])  # type: ignore[arg-type]
        assert not inspect.iscoroutinefunction(sync_member) and not inspect.isasyncgenfunction(sync_member), f"sandboxd.{name}.{member}"
        plain = member in NOT_AWAITED and str(inspect.signature(async_member).return_annotation).startswith(("AsyncIterator", "None", "ShellSession", "ExecuteStream", "str"))  # type: ignore[arg-type]
        assert inspect.iscoroutinefunction(async_member) != plain, f"sandboxd.aio.{name}.{member}"


def test_same_factories_and_exports() -> None:
    for name in sandboxd.aio.__all__:
        assert hasattr(sandboxd, name), name
    assert _shape(sandboxd.create_session) == _shape(sandboxd.aio.create_session)


def _gen_sync():  # noqa: ANN202 - the script, loaded as a module
    spec = importlib.util.spec_from_file_location("gen_sync", PACKAGE.parents[1] / "scripts" / "gen_sync.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generator_rewrites() -> None:
    source = '''"""Use ``sandboxd.aio``: async with S() as s: await s.run()."""
import inspect  # async only
import grpc.aio  # async only
from .. import _core
from ..x import y
from .client import Client


class C:
    async def __aenter__(self) -> C:
        return self

    async def f(self, events: AsyncIterator[int], ch: grpc.aio.Channel) -> int:
        async with self.lock:
            async for e in events:
                g(await e)
                if inspect.isawaitable(e):  # async only: dropped, with its block
                    await e
        await events.aclose()
        return (await self.call(1, (2, 3))).value + list((await self.items()))[0]
'''
    assert _gen_sync().rewrite(source) == '''"""Use ``sandboxd``: with S() as s: s.run()."""
from . import _core
from .x import y
from .client import Client


class C:
    def __enter__(self) -> C:
        return self

    def f(self, events: Iterator[int], ch: grpc.Channel) -> int:
        with self.lock:
            for e in events:
                g(e)
        events.close()
        return self.call(1, (2, 3)).value + list(self.items())[0]
'''


def test_generator_rewrites_stepwise_iteration() -> None:
    # ExecuteStream reads its call one response at a time; the sync twin does the same with next().
    source = """class S:
    def __aiter__(self) -> AsyncIterator[int]:
        return aiter(self.call)

    async def read(self) -> int | None:
        try:
            return await anext(self.responses)
        except StopAsyncIteration:
            return None
        except asyncio.CancelledError:  # async only: grpc.aio's cancelled call
            return None
"""
    assert _gen_sync().rewrite(source) == """class S:
    def __iter__(self) -> Iterator[int]:
        return iter(self.call)

    def read(self) -> int | None:
        try:
            return next(self.responses)
        except StopIteration:
            return None
"""


def test_sync_modules_are_generated_from_aio() -> None:
    gen_sync = _gen_sync()
    for name, target in gen_sync.MODULES.items():
        generated = (PACKAGE / target).read_text(encoding="utf-8")
        assert generated.startswith("# Generated by"), f"{target} lost its header"
        assert generated == gen_sync.generate(name), f"sandboxd/{target} differs from what aio/{name} makes: run python3 clients/python/scripts/gen_sync.py"


def _imports(path: Path) -> set[str]:
    """Every sandboxd module a module imports, TYPE_CHECKING blocks and functions included."""
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("sandboxd"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            if not base.startswith("sandboxd"):
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if (PACKAGE.parent / sub.replace(".", "/")).with_suffix(".py").exists() or (PACKAGE.parent / sub.replace(".", "/")).is_dir() else base)
    return {m for m in found if m != module and not m.startswith("sandboxd.v1")}


def test_no_import_cycles() -> None:
    graph = {".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__"): _imports(p) for p in PACKAGE.rglob("*.py")}

    def visit(node: str, path: list[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            assert nxt not in path, "import cycle: " + " -> ".join([*path[path.index(nxt) :], nxt])
            visit(nxt, [*path, nxt])

    for start in sorted(graph):
        visit(start, [start])
