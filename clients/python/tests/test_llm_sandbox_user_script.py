"""Tried as a new user would (issue 15): an llm-sandbox user's whole script - pools, artifacts,
an interactive session, copies and a timeout - runs against sandboxd with only ``llm_sandbox``
changed to ``sandboxd`` in its imports."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parent / "llm_sandbox_scripts" / "data_analyst.py"


def test_an_llm_sandbox_users_script_runs_with_only_the_import_changed(tmp_path: Path, daemon) -> None:  # noqa: ANN001
    source = SCRIPT.read_text()
    ported = re.sub(r"^(from|import) llm_sandbox\b", r"\1 sandboxd", source, flags=re.MULTILINE)
    changed = [(a, b) for a, b in zip(source.splitlines(), ported.splitlines(), strict=True) if a != b]
    assert changed and all(a.startswith(("from llm_sandbox", "import llm_sandbox")) for a, _ in changed), "only imports change"
    script = tmp_path / "script.py"
    script.write_text(ported)
    env = {**os.environ, "SANDBOXD_ADDRESS": daemon.address}
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=600, check=False)
    assert run.returncode == 0, f"stdout:\n{run.stdout}\nstderr:\n{run.stderr}"
    assert run.stdout.splitlines() == [
        "pool squares: 0,1,4",
        "pool exhausted: yes",
        "pool stats: 2 1 ['busy', 'idle', 'initializing', 'removing', 'unhealthy']",
        "plots: 2 ['plot_0.png']",
        "interactive: Result: 42 Out[3]: 43",
        "copied: 6",
        "timeout: yes fast",
        "after timeout: still usable",
    ], run.stderr
