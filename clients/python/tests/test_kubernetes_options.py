"""llm-sandbox's Kubernetes options (``backend``, ``kube_namespace``, ``pod_manifest``) against
the backend the daemon really runs (``SANDBOXD_BACKEND``, as scripts/test.sh sets it for the
Kubernetes pass): on Kubernetes the manifest reaches the pod; elsewhere it is refused."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from sandboxd import SandboxBackend, SandboxSession
from sandboxd.exceptions import SandboxError

BACKEND = os.environ.get("SANDBOXD_BACKEND", "docker")


def test_pod_manifest_reaches_the_pod_or_is_refused(daemon) -> None:  # noqa: ANN001
    manifest = {"metadata": {"labels": {"team": "py"}}, "spec": {"tolerations": [{"key": "example.org/py", "operator": "Exists"}]}}
    session = SandboxSession(lang="python", backend=SandboxBackend.KUBERNETES, kube_namespace="ml", pod_manifest=manifest)
    if BACKEND != "kubernetes":
        with pytest.raises(SandboxError, match="pod_manifest"):
            session.open()
        return
    with session:
        assert session.run("print(6 * 7)").stdout == "42\n"
        out = subprocess.run(
            ["kubectl", "get", "pod", "-n", os.environ["SANDBOXD_KUBERNETES__NAMESPACE"], session.container_id, "-o", "json"],
            capture_output=True,
            text=True,
            check=True,
        )
        pod = json.loads(out.stdout)
        assert pod["metadata"]["labels"]["team"] == "py"
        assert any(t.get("key") == "example.org/py" for t in pod["spec"]["tolerations"])
        # The daemon's hardening stays whatever the manifest says.
        assert pod["spec"]["automountServiceAccountToken"] is False
