"""llm-sandbox's micromamba backend: a sandbox whose every run, install and command goes
through ``micromamba run -n <environment>``.

    from sandboxd.aio.micromamba import MicromambaSession   # was: from llm_sandbox.micromamba import ...

    async with MicromambaSession(image="my/micromamba-image", environment="science") as session:
        await session.run("import numpy; print(numpy.__version__)")

The sandbox runs on the daemon's own engine (Docker, Podman or Kubernetes) with
``SandboxSpec.command_wrapper = ["micromamba", "run", "-n", environment]``; the image must
have ``micromamba`` on its PATH and the environment. File copies are not wrapped, as in
llm-sandbox. What was and was not run against a real micromamba: docs/micromamba.md.
"""

from __future__ import annotations

from .session import MicromambaSession

__all__ = ["MicromambaSession"]
