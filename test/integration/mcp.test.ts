import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, mkdirSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashToken } from "../../src/rpc/auth.js";
import { repoRoot, runPrefix, startDaemon, type DaemonHandle } from "../helpers/daemon.js";
import { backendArgs } from "../helpers/engine.js";
import { freePort } from "../helpers/ports.js";

// The MCP server (docs/mcp.md) driven by real MCP clients: the TypeScript SDK's Client over
// stdio (`sandboxd mcp`, as a desktop agent starts it) and over Streamable HTTP
// (--mcp-listen, with bearer tokens and tenants), and the Python `mcp` package's client.

const serverCommand = [process.execPath, "--import", "tsx", join(repoRoot, "src/main.ts"), "mcp"];
const pngMagic = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function stdioArgs(daemonId: string): string[] {
  return [...serverCommand.slice(1), "--daemon-id", daemonId, "--log-level", "debug", "--shutdown-grace-ms", "5000", ...backendArgs()];
}

type Content = CallToolResult["content"][number];

function textOf(r: CallToolResult): string {
  const t = r.content.filter((c: Content): c is Extract<Content, { type: "text" }> => c.type === "text");
  return t.map((c) => c.text).join("\n");
}

/** The JSON of a tool's (last) text content; fails the test on a tool error. */
function json<T = Record<string, unknown>>(r: CallToolResult): T {
  expect(r.isError ?? false, textOf(r)).toBe(false);
  const t = r.content.filter((c: Content): c is Extract<Content, { type: "text" }> => c.type === "text");
  return JSON.parse(t[t.length - 1]?.text ?? "null") as T;
}

function images(r: CallToolResult): Buffer[] {
  return r.content
    .filter((c: Content): c is Extract<Content, { type: "image" }> => c.type === "image")
    .map((c) => {
      expect(c.mimeType).toBe("image/png");
      return Buffer.from(c.data, "base64");
    });
}

async function call(
  client: Client,
  name: string,
  args: Record<string, unknown> = {},
  options: Parameters<Client["callTool"]>[2] = {},
): Promise<CallToolResult> {
  return (await client.callTool({ name, arguments: args }, undefined, { timeout: 110_000, ...options })) as CallToolResult;
}

interface RunJson {
  status: string;
  exit_code: number;
  stdout: string;
  stderr: string;
  result?: string;
}

describe("MCP over stdio (sandboxd mcp)", () => {
  let client: Client;

  beforeAll(async () => {
    const daemonId = `${runPrefix()}mcp-${randomBytes(3).toString("hex")}`;
    const transport = new StdioClientTransport({ command: process.execPath, args: stdioArgs(daemonId), cwd: repoRoot, stderr: "pipe" });
    // The server's logs (its stderr), where the other daemons' logs are, for whoever reads them after a failure.
    const logDir = join(repoRoot, ".cache", "test-logs");
    mkdirSync(logDir, { recursive: true });
    transport.stderr?.pipe(createWriteStream(join(logDir, `${daemonId}.log`)));
    client = new Client({ name: "sandboxd-test", version: "1.0.0" });
    await client.connect(transport);
  });

  afterAll(async () => {
    await client?.close();
  });

  it("lists its tools with input schemas an LLM can follow", async () => {
    const { tools } = await client.listTools();
    const byName = new Map(tools.map((t) => [t.name, t]));
    for (const name of [
      "execute_code",
      "get_supported_languages",
      "get_language_details",
      "create_sandbox",
      "close_sandbox",
      "run_code",
      "run_command",
      "create_session",
      "run_cell",
      "interrupt_session",
      "close_session",
      "upload_file",
      "download_file",
      "list_artifacts",
      "get_artifact",
    ]) {
      const tool = byName.get(name);
      expect(tool, name).toBeDefined();
      expect(tool?.description?.length ?? 0, name).toBeGreaterThan(20);
    }
    const exec = byName.get("execute_code")!;
    expect(Object.keys(exec.inputSchema.properties ?? {}).sort()).toEqual(["code", "language", "libraries", "timeout"]);
    expect(exec.inputSchema.required).toEqual(["code"]);
    const props = exec.inputSchema.properties as Record<string, { type: string; description: string }>;
    expect(props["libraries"]?.type).toBe("array");
    expect(props["timeout"]?.description).toMatch(/seconds/);
  });

  it("execute_code prints, and a plot comes back as PNG image content", async () => {
    const r = await call(client, "execute_code", {
      code: "import matplotlib.pyplot as plt\nprint('hello from mcp')\nplt.plot([1, 4, 9])\nplt.show()\n",
      language: "python",
    });
    const out = json<RunJson>(r);
    expect(out.stdout).toBe("hello from mcp\n");
    expect(out.exit_code).toBe(0);
    const png = images(r);
    expect(png).toHaveLength(1);
    expect(png[0]!.subarray(0, 8).equals(pngMagic)).toBe(true);
    // The sandbox was ephemeral: nothing of this client remains.
    expect(json<unknown[]>(await call(client, "list_sandboxes"))).toEqual([]);
  });

  it("execute_code reports the program's failure and refuses bad input with a clear tool error", async () => {
    const failed = json<RunJson>(await call(client, "execute_code", { code: "import sys\nsys.stderr.write('bad\\n')\nsys.exit(3)" }));
    expect(failed.exit_code).toBe(3);
    expect(failed.stderr).toBe("bad\n");
    const unknown = await call(client, "execute_code", { code: "x", language: "cobol" });
    expect(unknown.isError).toBe(true);
    expect(textOf(unknown)).toMatch(/INVALID_ARGUMENT: language "cobol" is not supported; supported: .*python/);
    const tooLong = await call(client, "execute_code", { code: "print(1)", timeout: 10 ** 9 });
    expect(tooLong.isError).toBe(true);
    expect(textOf(tooLong)).toMatch(/INVALID_ARGUMENT: .*timeout/i);
    const missing = await call(client, "execute_code", {});
    expect(missing.isError).toBe(true);
    expect(textOf(missing)).toMatch(/code/);
  });

  it("answers get_supported_languages, get_language_details and the sandbox://languages resource", async () => {
    const names = json<string[]>(await call(client, "get_supported_languages"));
    expect(names).toEqual(expect.arrayContaining(["python", "javascript", "go"]));
    const py = json<{ name: string; visualization_support: boolean; libraries: boolean }>(await call(client, "get_language_details", { language: "py" }));
    expect(py).toMatchObject({ name: "python", visualization_support: true, libraries: true });
    const bad = await call(client, "get_language_details", { language: "cobol" });
    expect(bad.isError).toBe(true);
    const { resources } = await client.listResources();
    expect(resources.map((r) => r.uri)).toContain("sandbox://languages");
    const res = await client.readResource({ uri: "sandbox://languages" });
    const all = JSON.parse((res.contents[0] as { text: string }).text) as Record<string, { name: string }>;
    expect(Object.keys(all).sort()).toEqual([...names].sort());
  });

  it("keeps state across cells of an IPython session, and returns its plots as images", async () => {
    const s = json<{ session_id: string; sandbox_id: string }>(await call(client, "create_session", { kind: "ipython" }));
    const first = json<RunJson>(await call(client, "run_cell", { session_id: s.session_id, code: "x = 41\nprint('set')" }));
    expect(first.stdout).toBe("set\n");
    const second = json<RunJson>(await call(client, "run_cell", { session_id: s.session_id, code: "x + 1" }));
    expect(second.result).toBe("42");
    const plot = await call(client, "run_cell", { session_id: s.session_id, code: "import matplotlib.pyplot as plt\nplt.plot([x, 0])\nplt.show()" });
    expect(images(plot)[0]!.subarray(0, 8).equals(pngMagic)).toBe(true);
    const err = json<RunJson & { error: { name: string } }>(await call(client, "run_cell", { session_id: s.session_id, code: "1/0" }));
    expect(err.error.name).toBe("ZeroDivisionError");
    // interrupt_session stops the running cell with KeyboardInterrupt; the session's state stays.
    const sleeper = "import time\nprint('sleeping', flush=True)\ntime.sleep(600)";
    let interrupted: Promise<CallToolResult> | undefined;
    const stopped = await call(
      client,
      "run_cell",
      { session_id: s.session_id, code: sleeper },
      {
        onprogress: () => {
          interrupted ??= call(client, "interrupt_session", { session_id: s.session_id });
        },
      },
    );
    expect(json<{ interrupted: boolean }>(await interrupted!).interrupted).toBe(true);
    expect(json<RunJson & { error: { name: string } }>(stopped).error.name).toBe("KeyboardInterrupt");
    // Cancelling a run_cell call interrupts its cell too (the next cell would wait ten minutes otherwise).
    const abort = new AbortController();
    await expect(
      call(client, "run_cell", { session_id: s.session_id, code: sleeper }, { signal: abort.signal, onprogress: () => abort.abort("stop") }),
    ).rejects.toThrow(/stop|abort|cancel/i);
    expect(json<RunJson>(await call(client, "run_cell", { session_id: s.session_id, code: "x" })).result).toBe("41");
    json(await call(client, "close_session", { session_id: s.session_id }));
    const gone = await call(client, "run_cell", { session_id: s.session_id, code: "x" });
    expect(gone.isError).toBe(true);
    expect(textOf(gone)).toMatch(/NOT_FOUND|closed/);
  });

  it("keeps the working directory across commands of a shell session", async () => {
    const s = json<{ session_id: string }>(await call(client, "create_session", { kind: "shell" }));
    json(await call(client, "run_cell", { session_id: s.session_id, code: "mkdir -p /tmp/mcp-dir && cd /tmp/mcp-dir && export GREETING=hi" }));
    const r = json<RunJson>(await call(client, "run_cell", { session_id: s.session_id, code: 'pwd; echo "$GREETING"' }));
    expect(r.stdout).toBe("/tmp/mcp-dir\nhi\n");
    json(await call(client, "close_session", { session_id: s.session_id }));
  });

  it("moves files up and down, runs code and commands in a sandbox, and serves its artifacts", async () => {
    const sb = json<{ sandbox_id: string }>(await call(client, "create_sandbox", { language: "python" }));
    const id = sb.sandbox_id;
    try {
      expect(json<{ sandbox_id: string }[]>(await call(client, "list_sandboxes")).map((s) => s.sandbox_id)).toEqual([id]);
      const up = json<{ bytes: number }>(await call(client, "upload_file", { sandbox_id: id, path: "data.csv", content: "a,b\n1,2\n" }));
      expect(up.bytes).toBe(8);
      const cat = json<RunJson>(await call(client, "run_command", { sandbox_id: id, command: "wc -l < data.csv && cat data.csv" }));
      expect(cat.stdout).toBe("2\na,b\n1,2\n");
      const run = await call(client, "run_code", {
        sandbox_id: id,
        code: "import matplotlib.pyplot as plt\nrows = open('data.csv').read().split()\nopen('out.txt', 'w').write(str(len(rows)))\nplt.bar([0, 1], [1, 2])\nplt.show()\n",
      });
      expect(json<RunJson>(run).exit_code).toBe(0);
      expect(images(run)).toHaveLength(1);
      const down = await call(client, "download_file", { sandbox_id: id, path: "out.txt" });
      expect(textOf(down)).toBe("2");
      const bin = json<{ base64: string }>(
        await call(client, "upload_file", {
          sandbox_id: id,
          path: "/tmp/b.bin",
          content: Buffer.from([0, 255, 1]).toString("base64"),
          encoding: "base64",
        }).then(() => call(client, "download_file", { sandbox_id: id, path: "/tmp/b.bin" })),
      );
      expect(Buffer.from(bin.base64, "base64")).toEqual(Buffer.from([0, 255, 1]));
      const outside = await call(client, "download_file", { sandbox_id: id, path: "/etc/passwd" });
      expect(outside.isError).toBe(true);
      expect(textOf(outside)).toMatch(/PERMISSION_DENIED: .*outside the sandbox's workdir/);
      const arts = json<{ artifact_id: string; mime_type: string }[]>(await call(client, "list_artifacts", { sandbox_id: id }));
      expect(arts).toHaveLength(1);
      expect(arts[0]?.mime_type).toBe("image/png");
      const art = await call(client, "get_artifact", { sandbox_id: id, artifact_id: arts[0]!.artifact_id });
      expect(images(art)[0]!.subarray(0, 8).equals(pngMagic)).toBe(true);
    } finally {
      expect(json<{ destroyed: boolean }>(await call(client, "close_sandbox", { sandbox_id: id })).destroyed).toBe(true);
    }
    expect(json<unknown[]>(await call(client, "list_sandboxes"))).toEqual([]);
  });

  it("reports live output as progress notifications during a long run", async () => {
    const sb = json<{ sandbox_id: string }>(await call(client, "create_sandbox"));
    try {
      const messages: string[] = [];
      let resultSeen = false;
      let progressBeforeResult = 0;
      const r = await call(
        client,
        "run_code",
        { sandbox_id: sb.sandbox_id, code: "import time\nfor i in range(4):\n    print(f'tick {i}', flush=True)\n    time.sleep(0.5)\n" },
        {
          onprogress: (p) => {
            messages.push(p.message ?? "");
            if (!resultSeen) progressBeforeResult++;
          },
        },
      );
      resultSeen = true;
      expect(json<RunJson>(r).stdout).toBe("tick 0\ntick 1\ntick 2\ntick 3\n");
      // Each line was sent while the run went on, before its result.
      expect(messages.join("")).toBe("tick 0\ntick 1\ntick 2\ntick 3\n");
      expect(progressBeforeResult).toBeGreaterThanOrEqual(2);
    } finally {
      await call(client, "close_sandbox", { sandbox_id: sb.sandbox_id });
    }
  });

  it("stops a run the client cancels", async () => {
    const sb = json<{ sandbox_id: string }>(await call(client, "create_sandbox"));
    try {
      const abort = new AbortController();
      const pending = call(
        client,
        "run_code",
        { sandbox_id: sb.sandbox_id, code: "import os, time\nopen('/tmp/pid', 'w').write(str(os.getpid()))\nprint('started', flush=True)\ntime.sleep(600)\n" },
        { signal: abort.signal, onprogress: () => abort.abort("user pressed stop") },
      );
      await expect(pending).rejects.toThrow(/stop|abort|cancel/i);
      // The program is gone (it would sleep ten minutes): kill -0 fails once it was killed.
      let alive = "";
      for (let i = 0; i < 100; i++) {
        alive = json<RunJson>(
          await call(client, "run_command", { sandbox_id: sb.sandbox_id, command: 'kill -0 "$(cat /tmp/pid)" 2>/dev/null && echo alive || echo gone' }),
        ).stdout;
        if (alive === "gone\n") break;
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(alive).toBe("gone\n");
    } finally {
      await call(client, "close_sandbox", { sandbox_id: sb.sandbox_id });
    }
  });

  it("writes nothing but protocol on stdout, logs to stderr, and stops when stdin closes", async () => {
    // The client above parsed every answer, but the SDK's transport skips lines that are not
    // JSON-RPC: read this server's raw stdout instead.
    const child = spawn(process.execPath, stdioArgs(`${runPrefix()}mcpraw-${randomBytes(3).toString("hex")}`), {
      cwd: repoRoot,
      stdio: ["pipe", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    child.stderr.on("data", (c: Buffer) => (err += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    const send = (m: object) => child.stdin.write(`${JSON.stringify(m)}\n`);
    send({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "1" } },
    });
    send({ jsonrpc: "2.0", method: "notifications/initialized" });
    send({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "execute_code", arguments: { code: "print('raw')" } } });
    while (!out.includes('"id":2')) await new Promise((r) => setTimeout(r, 100));
    child.stdin.end();
    expect(await exited).toBe(0);
    const lines = out.split("\n").filter((l) => l !== "");
    for (const line of lines) expect(JSON.parse(line) as { jsonrpc: string }).toMatchObject({ jsonrpc: "2.0" });
    expect(lines.map((l) => (JSON.parse(l) as { id?: number }).id)).toEqual([1, 2]);
    const answer = JSON.parse(lines[1]!) as { result: CallToolResult };
    expect(json<RunJson>(answer.result).stdout).toBe("raw\n");
    expect(err).toMatch(/"msg":"sandbox created"/);
    expect(err).toMatch(/"msg":"shutdown requested".*\n(.*\n)*.*"msg":"stopped"/);
  });
});

describe("MCP over Streamable HTTP (--mcp-listen) with tokens and tenants", () => {
  let d: DaemonHandle;
  let url: URL;
  const tokens = `alpha:${hashToken("alpha-secret")},beta:${hashToken("beta-secret")}`;
  const clients: Client[] = [];

  async function connect(token: string): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
    const transport = new StreamableHTTPClientTransport(url, { requestInit: { headers: { authorization: `Bearer ${token}` } } });
    const client = new Client({ name: "sandboxd-test-http", version: "1.0.0" });
    await client.connect(transport);
    clients.push(client);
    return { client, transport };
  }

  beforeAll(async () => {
    const port = await freePort();
    d = await startDaemon({
      args: ["--mcp-listen", `127.0.0.1:${port}`, "--mcp-max-sessions", "4"],
      env: { SANDBOXD_AUTH__TOKENS: tokens },
      clientOptions: { metadata: { authorization: "Bearer alpha-secret" } },
    });
    url = new URL(`http://127.0.0.1:${port}/mcp`);
  });

  afterAll(async () => {
    for (const c of clients) await c.close().catch(() => undefined);
    await d?.stop();
  });

  it("refuses to serve MCP off loopback without tokens, and a malformed --mcp-listen", async () => {
    const cases = [
      [["--mcp-listen", "0.0.0.0:0"], /refusing to serve MCP on 0\.0\.0\.0:0 without bearer tokens/],
      [["--mcp-listen", "nope"], /mcp-listen must be host:port/],
    ] as const;
    const results = await Promise.all(
      cases.map(([args]) =>
        promisify(execFile)(process.execPath, [...serverCommand.slice(1, -1), "--daemon-id", `${runPrefix()}mcpbad`, ...backendArgs(), ...args], {
          cwd: repoRoot,
        }).then(
          () => ({ code: 0, stderr: "" }),
          (err: { code: number; stderr: string }) => err,
        ),
      ),
    );
    results.forEach((r, i) => {
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(cases[i]![1]);
    });
  });

  it("refuses a missing or wrong token with 401, and the SDK client cannot connect with one", async () => {
    const init = {
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "x", version: "1" } },
    };
    for (const headers of [{}, { authorization: "Bearer wrong" }, { authorization: "Basic YWxwaGE6YWxwaGEtc2VjcmV0" }]) {
      const res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json, text/event-stream", ...headers },
        body: JSON.stringify(init),
      });
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toMatch(/^Bearer/);
      expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/bearer token/);
    }
    const transport = new StreamableHTTPClientTransport(url, { requestInit: { headers: { authorization: "Bearer wrong" } } });
    await expect(new Client({ name: "x", version: "1" }).connect(transport)).rejects.toThrow(/401|invalid bearer token/i);
    const other = await fetch(new URL("/other", url), { headers: { authorization: "Bearer alpha-secret" } });
    expect(other.status).toBe(404);
  });

  it("runs code for a tenant, and two tenants do not see each other's sandboxes or sessions", async () => {
    const alpha = await connect("alpha-secret");
    const beta = await connect("beta-secret");
    expect(json<RunJson>(await call(alpha.client, "execute_code", { code: "print(6 * 7)" })).stdout).toBe("42\n");
    const sb = json<{ sandbox_id: string }>(await call(alpha.client, "create_sandbox"));
    try {
      expect(json<{ sandbox_id: string }[]>(await call(alpha.client, "list_sandboxes")).map((s) => s.sandbox_id)).toEqual([sb.sandbox_id]);
      expect(json<unknown[]>(await call(beta.client, "list_sandboxes"))).toEqual([]);
      const stolen = await call(beta.client, "run_command", { sandbox_id: sb.sandbox_id, command: "echo stolen" });
      expect(stolen.isError).toBe(true);
      expect(textOf(stolen)).toMatch(/NOT_FOUND/);
      // The sandbox belongs to the token's tenant over gRPC too.
      const { sandboxes } = await d.sandbox.listSandboxes({});
      expect(sandboxes.map((s) => s.id)).toEqual([sb.sandbox_id]);
      // Beta's token on alpha's MCP session id: that session does not exist for beta.
      const hijack = await fetch(url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
          authorization: "Bearer beta-secret",
          "mcp-session-id": alpha.transport.sessionId ?? "",
          "mcp-protocol-version": "2025-06-18",
        },
        body: JSON.stringify({ jsonrpc: "2.0", id: 9, method: "tools/call", params: { name: "list_sandboxes", arguments: {} } }),
      });
      expect(hijack.status).toBe(404);
    } finally {
      json(await call(alpha.client, "close_sandbox", { sandbox_id: sb.sandbox_id }));
    }
  });

  it("answers malformed requests with a clear error and keeps serving", async () => {
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream", authorization: "Bearer alpha-secret" },
      body: "{not json",
    });
    expect(res.status).toBe(400);
    const notInit = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream", authorization: "Bearer alpha-secret" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
    });
    expect(notInit.status).toBe(400);
    const huge = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream", authorization: "Bearer alpha-secret" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { pad: "x".repeat(13 * 1024 * 1024) } }),
    });
    expect(huge.status).toBe(413);
    expect(((await huge.json()) as { error: { message: string } }).error.message).toMatch(/larger than/);
    const { client } = await connect("alpha-secret");
    expect(json<string[]>(await call(client, "get_supported_languages"))).toContain("python");
  });

  it("bounds the number of MCP sessions, and a closed session frees its place", async () => {
    const opened: StreamableHTTPClientTransport[] = [];
    let refused: unknown;
    for (let i = 0; i < 5 && refused === undefined; i++) {
      try {
        opened.push((await connect("beta-secret")).transport);
      } catch (err) {
        refused = err;
      }
    }
    expect(String(refused)).toMatch(/503|too many MCP sessions \(4\)/);
    // HTTP DELETE ends a session; its place is free for the next client.
    await opened[0]!.terminateSession();
    const again = await connect("beta-secret");
    expect(json<string[]>(await call(again.client, "get_supported_languages"))).toContain("python");
  });
});

describe("MCP with the Python mcp package's client", () => {
  it("lists the tools, receives a plot as an image and keeps state across two cells, over stdio", async () => {
    const { stdout } = await promisify(execFile)(
      "python3",
      [join(repoRoot, "test/mcp/python_client.py"), process.execPath, ...stdioArgs(`${runPrefix()}mcppy-${randomBytes(3).toString("hex")}`)],
      { cwd: repoRoot, timeout: 110_000 },
    );
    interface Summary {
      is_error: boolean;
      json: RunJson;
      images: { mime_type: string; head: string }[];
    }
    const out = JSON.parse(stdout.trim().split("\n").pop() ?? "{}") as { tools: string[]; execute_code: Summary; cells: Summary[] };
    expect(out.tools).toEqual(expect.arrayContaining(["execute_code", "create_session", "run_cell", "upload_file"]));
    expect(out.execute_code.is_error).toBe(false);
    expect(out.execute_code.json).toMatchObject({ exit_code: 0, stdout: "from python 3\n" });
    expect(out.execute_code.images).toEqual([{ mime_type: "image/png", head: pngMagic.toString("hex") }]);
    expect(out.cells.map((c) => c.is_error)).toEqual([false, false]);
    expect(out.cells[1]?.json.result).toBe("42");
  });
});
