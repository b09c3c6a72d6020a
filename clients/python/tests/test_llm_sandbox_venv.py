"""llm-sandbox's venv paths (/tmp/venv) on a session, as its users call them in execute_command."""

from __future__ import annotations

from sandboxd import SandboxSession


def test_venv_paths_run_the_sandbox_python_and_pip(daemon) -> None:  # noqa: ANN001
    with SandboxSession(lang="python", address=daemon.address) as session:
        assert session.python_executable_path == "/tmp/venv/bin/python"
        assert session.pip_executable_path == "/tmp/venv/bin/pip"
        assert session.pip_cache_dir_path == "/tmp/pip_cache"
        out = session.execute_command(f"{session.python_executable_path} -c 'import sys, numpy; print(sys.executable)'")
        assert (out.exit_code, out.stdout) == (0, "/tmp/venv/bin/python\n")
        assert session.execute_command(f"{session.python_executable_path} -c 'import sys; sys.exit(3)'").exit_code == 3
        pip = session.execute_command(f"{session.pip_executable_path} --version")
        assert pip.exit_code == 0 and pip.stdout.startswith("pip ")
        # What that pip installs, the session's runs import.
        session.run(
            "import os, zipfile\n"
            "os.makedirs('/sandbox/w', exist_ok=True)\n"
            "with zipfile.ZipFile('/sandbox/w/venvpy-1.0-py3-none-any.whl', 'w') as z:\n"
            "    z.writestr('venvpy/__init__.py', 'X = 7\\n')\n"
            "    z.writestr('venvpy-1.0.dist-info/METADATA', 'Metadata-Version: 2.1\\nName: venvpy\\nVersion: 1.0\\n')\n"
            "    z.writestr('venvpy-1.0.dist-info/WHEEL', 'Wheel-Version: 1.0\\nGenerator: t\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n')\n"
            "    z.writestr('venvpy-1.0.dist-info/RECORD', '')\n"
        )
        installed = session.execute_command(f"{session.pip_executable_path} install /sandbox/w/venvpy-1.0-py3-none-any.whl --cache-dir {session.pip_cache_dir_path}")
        assert installed.exit_code == 0, installed.stderr
        assert session.run("import venvpy\nprint(venvpy.X)").stdout == "7\n"
