"""llm-sandbox's runtime_configs ``volumes`` (docker-py's forms) as SandboxSpec mounts; no daemon needed."""

from __future__ import annotations

import pytest

from sandboxd._core import apply_runtime_configs, check_runtime_configs
from sandboxd.exceptions import RuntimeConfigError
from sandboxd.v1 import common_pb2


def _mounts(volumes: object) -> list[tuple[str, str, str, bool]]:
    spec = common_pb2.SandboxSpec(language="python")
    apply_runtime_configs(spec, {"volumes": volumes})
    return [(m.WhichOneof("source") or "", m.volume or m.host_path, m.path, m.read_only) for m in spec.mounts]


def test_dict_form_host_paths_and_volume_names() -> None:
    got = _mounts({"/srv/data": {"bind": "/data/in", "mode": "ro"}, "results": {"bind": "/data/out", "mode": "rw"}, "cache": {"bind": "/mnt/c"}})
    assert got == [
        ("host_path", "/srv/data", "/data/in", True),
        ("volume", "results", "/data/out", False),
        ("volume", "cache", "/mnt/c", False),  # docker-py's default mode is rw
    ]


def test_list_form() -> None:
    assert _mounts(["/srv/data:/data/in:ro", "results:/data/out"]) == [("host_path", "/srv/data", "/data/in", True), ("volume", "results", "/data/out", False)]


@pytest.mark.parametrize("bad", [{"/srv": "/data"}, {"/srv": {"mode": "ro"}}, ["just-a-name"], ["a:b:c:d"], "/srv:/data", {"/srv": {"bind": "/data", "mode": "rx"}}])
def test_malformed_values_raise_runtime_config_error(bad: object) -> None:
    with pytest.raises(RuntimeConfigError):
        check_runtime_configs({"volumes": bad})
