"""The asyncio flavour of every sandboxd class (grpc.aio underneath).

    from sandboxd.aio import SandboxSession

    async with SandboxSession(lang="python") as session:
        result = await session.run("print('hi')")
"""

from .client import Client
from .session import (
    ArtifactSandboxSession,
    InteractiveSandboxSession,
    SandboxSession,
    ShellSession,
    create_session,
)

__all__ = ["ArtifactSandboxSession", "Client", "InteractiveSandboxSession", "SandboxSession", "ShellSession", "create_session"]
