"""The Python `mcp` package's client against `sandboxd mcp` over stdio.

Usage: python3 python_client.py <node> <args of the server...>
Prints one JSON object: the tool names, and what execute_code returned.
"""

import asyncio
import json
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


async def main() -> None:
    params = StdioServerParameters(command=sys.argv[1], args=sys.argv[2:])
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = await session.list_tools()
            result = await session.call_tool(
                "execute_code",
                {"code": "import sys\nprint('from python', sys.version_info[0])", "language": "python"},
            )
            # mcp 2.x names fields in snake_case (is_error), 1.x as the protocol does (isError).
            is_error = bool(getattr(result, "is_error", None) or getattr(result, "isError", False))
            texts = [c.text for c in result.content if getattr(c, "type", "") == "text"]
            print(
                json.dumps(
                    {
                        "tools": sorted(t.name for t in tools.tools),
                        "is_error": is_error,
                        "result": json.loads(texts[-1]) if texts and not is_error else texts,
                    }
                ),
                flush=True,
            )


asyncio.run(main())
