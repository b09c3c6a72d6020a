"""Executes every Python example in README.md against the live daemon."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import feature_available

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"(?:<!-- feature: (?P<feature>\w+) -->\n)?```python\n(?P<code>.*?)```", re.S)
EXAMPLES = [(m.group("feature"), m.group("code")) for m in BLOCK.finditer(README.read_text())]


@pytest.mark.parametrize(("feature", "code"), EXAMPLES, ids=[f"example{i + 1}" for i in range(len(EXAMPLES))])
def test_readme_example(feature: str | None, code: str, daemon) -> None:  # noqa: ANN001
    if feature and not feature_available(feature, daemon.address):
        pytest.skip(f"daemon does not implement feature {feature!r} yet (UNIMPLEMENTED)")
    exec(compile(code, str(README), "exec"), {"__name__": "__readme__"})  # noqa: S102
