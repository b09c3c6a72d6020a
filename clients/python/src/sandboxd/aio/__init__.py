"""The asyncio flavour of every sandboxd class (grpc.aio underneath).

    from sandboxd.aio import SandboxSession

    async with SandboxSession(lang="python") as session:
        result = await session.run("print('hi')")

These modules are the source of the synchronous ones: ``scripts/gen_sync.py`` writes
``sandboxd/client.py``, ``session.py``, ``interactive.py``, ``micromamba.py`` and (for
:mod:`sandboxd.pool`) ``_pool.py`` from them; llm-sandbox's pools in asyncio are
:mod:`sandboxd.aio.pool`. Output callbacks
may be plain functions or coroutine functions.
"""

from .client import Client
from .interactive import ExecuteStream, InteractiveSandboxSession
from .micromamba import MicromambaSession
from .session import ArtifactSandboxSession, SandboxSession, ShellSession, Terminal, TerminalExit, create_session

__all__ = ["ArtifactSandboxSession", "Client", "ExecuteStream", "InteractiveSandboxSession", "MicromambaSession", "SandboxSession", "ShellSession", "Terminal", "TerminalExit", "create_session"]
