"""The Python `mcp` package's client against `sandboxd mcp` over stdio.

Usage: python3 python_client.py <command> <args of the server...>
Prints one JSON object: the tool names, what execute_code returned (its JSON and the
images' MIME types and first bytes), and the results of two cells of an IPython session.
"""

import asyncio
import base64
import json
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


def is_error(result) -> bool:
    # mcp 2.x names fields in snake_case (is_error), 1.x as the protocol does (isError).
    return bool(getattr(result, "is_error", None) or getattr(result, "isError", False))


def summary(result) -> dict:
    texts = [c.text for c in result.content if c.type == "text"]
    images = [
        {"mime_type": getattr(c, "mime_type", None) or getattr(c, "mimeType", None), "head": base64.b64decode(c.data)[:8].hex()}
        for c in result.content
        if c.type == "image"
    ]
    return {"is_error": is_error(result), "json": None if is_error(result) else json.loads(texts[-1]), "text": texts, "images": images}


async def main() -> None:
    params = StdioServerParameters(command=sys.argv[1], args=sys.argv[2:])
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = await session.list_tools()
            code = "import matplotlib.pyplot as plt\nimport sys\nprint('from python', sys.version_info[0])\nplt.plot([1, 2])\nplt.show()\n"
            executed = await session.call_tool("execute_code", {"code": code, "language": "python"})
            created = summary(await session.call_tool("create_session", {"kind": "ipython"}))
            sid = created["json"]["session_id"]
            first = summary(await session.call_tool("run_cell", {"session_id": sid, "code": "total = 40"}))
            second = summary(await session.call_tool("run_cell", {"session_id": sid, "code": "total + 2"}))
            await session.call_tool("close_session", {"session_id": sid})
            print(
                json.dumps(
                    {
                        "tools": sorted(t.name for t in tools.tools),
                        "execute_code": summary(executed),
                        "cells": [first, second],
                    }
                ),
                flush=True,
            )


asyncio.run(main())
