import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { RequestHandlerExtra } from "@modelcontextprotocol/sdk/shared/protocol.js";
import type { CallToolResult, ServerNotification, ServerRequest } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import type { ArtifactManager } from "../artifacts/artifact-manager.js";
import { SandboxdError, describeError, invalidArgument } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import { download, uploadFile } from "../files/file-transfer.js";
import { checkTransferPath } from "../files/sandbox-paths.js";
import type { SessionManager } from "../interactive/session-manager.js";
import type { LanguageHandler, LanguageRegistry } from "../sandbox/languages.js";
import type { ArtifactInfo, Run, RunExit } from "../sandbox/run.js";
import type { RunPipeline } from "../sandbox/run-pipeline.js";
import type { Sandbox } from "../sandbox/sandbox.js";
import { emptyRequest, type SandboxRequest } from "../sandbox/sandbox-config.js";
import type { SandboxManager } from "../sandbox/sandbox-manager.js";

/** The daemon's domain parts the MCP tools call: the same ones the gRPC services call. */
export interface McpDomain {
  languages: LanguageRegistry;
  sandboxes: SandboxManager;
  sessions: SessionManager;
  pipeline: RunPipeline;
  artifacts: ArtifactManager;
  logger: Logger;
}

export interface McpOptions {
  /** The network of sandboxes MCP tools create: "none" (default) or "bridge" (SANDBOX_NETWORK_MODE). */
  network: "none" | "bridge";
  /** The daemon's version, announced to clients. */
  version: string;
}

/** Output a tool result carries per stream (the run's own limit bounds what it produces). */
const maxResultTextBytes = 256 * 1024;
/** Image bytes one tool result carries (base64 grows them by a third). */
const maxResultImageBytes = 8 * 1024 * 1024;
/** A file download_file returns inline. */
const maxDownloadBytes = 8 * 1024 * 1024;
/** A file upload_file accepts (the HTTP transport bounds a message to 4 MB anyway). */
const maxUploadBytes = 8 * 1024 * 1024;

const inlineImageTypes = new Set(["image/png", "image/jpeg", "image/gif", "image/webp"]);

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

/** A run's events gathered into what a tool returns. */
interface Collected {
  stdout: string;
  stderr: string;
  truncated: boolean;
  artifacts: ArtifactInfo[];
  images: { mimeType: string; data: Uint8Array }[];
  result: string | undefined;
  error: { name: string; value: string; traceback: string[] } | undefined;
  exit: RunExit | undefined;
}

function text(value: unknown): CallToolResult {
  return { content: [{ type: "text", text: typeof value === "string" ? value : JSON.stringify(value, null, 2) }] };
}

function toolError(message: string): CallToolResult {
  return { isError: true, content: [{ type: "text", text: message }] };
}

const seconds = (what: string) =>
  z
    .number()
    .positive()
    .max(7 * 24 * 3600)
    .optional()
    .describe(what);

/**
 * Builds the MCP server of one caller (one MCP session; its tenant owns what the tools
 * create). Tools are a thin layer over the domain: each calls what the matching gRPC method
 * calls, so the same validation, limits, policies and tenancy apply.
 */
export function createMcpServer(domain: McpDomain, tenant: string, options: McpOptions): McpServer {
  const { languages, sandboxes, sessions, pipeline, artifacts } = domain;
  const log = domain.logger.child({ component: "mcp", tenant });
  const server = new McpServer(
    { name: "sandboxd", version: options.version },
    {
      capabilities: { logging: {} },
      instructions:
        "sandboxd runs code in isolated containers. For one-off code use execute_code. For work that keeps state, create_sandbox then run_code/run_command, or create_session for a persistent IPython or shell session; close what you create when done.",
    },
  );

  /** Runs a tool body; a domain error becomes a tool error with its code and message. */
  const guarded =
    <A>(name: string, fn: (args: A, extra: Extra) => Promise<CallToolResult>) =>
    async (args: A, extra: Extra): Promise<CallToolResult> => {
      try {
        return await fn(args, extra);
      } catch (err) {
        if (err instanceof SandboxdError) return toolError(`${err.code}: ${err.message}`);
        log.error({ tool: name, err: describeError(err) }, "tool failed");
        return toolError(`INTERNAL: ${describeError(err)}`);
      }
    };

  const request = (o: {
    language: string;
    image?: string | undefined;
    ttlSeconds?: number | undefined;
    idleSeconds?: number | undefined;
    env?: Record<string, string> | undefined;
  }): SandboxRequest => ({
    ...emptyRequest(o.language),
    image: o.image ?? "",
    network: options.network,
    env: { ...(o.env ?? {}) },
    ttlMs: Math.round((o.ttlSeconds ?? 0) * 1000),
    idleTimeoutMs: Math.round((o.idleSeconds ?? 0) * 1000),
    labels: { "sandboxd.dev/created-by": "mcp" },
  });

  /**
   * Follows a run to its exit, reporting live output as progress notifications when the
   * client asked for progress; the client's cancellation calls `cancel` (the run then ends
   * and its exit is still collected).
   */
  const follow = async (run: Run, extra: Extra, cancel: () => void): Promise<Collected> => {
    const c: Collected = { stdout: "", stderr: "", truncated: false, artifacts: [], images: [], result: undefined, error: undefined, exit: undefined };
    const token = extra._meta?.progressToken;
    let progress = 0;
    const onAbort = () => {
      log.info({ runId: run.id }, "client cancelled the call; cancelling its run");
      cancel();
    };
    if (extra.signal.aborted) onAbort();
    else extra.signal.addEventListener("abort", onAbort, { once: true });
    const stop = new AbortController();
    let imageBytes = 0;
    try {
      for await (const ev of run.follow(0, stop.signal)) {
        const b = ev.body;
        switch (b.type) {
          case "output": {
            const chunk = Buffer.from(b.data).toString("utf8");
            const stream = b.stream;
            if (Buffer.byteLength(c[stream]) + b.data.byteLength <= maxResultTextBytes) c[stream] += chunk;
            else c.truncated = true;
            if (token !== undefined && !extra.signal.aborted) {
              progress += b.data.byteLength;
              // Live output: each chunk is the message of a progress notification.
              await extra
                .sendNotification({ method: "notifications/progress", params: { progressToken: token, progress, message: chunk } })
                .catch(() => undefined);
            }
            break;
          }
          case "artifact":
            c.artifacts.push(b.artifact);
            break;
          case "display":
            for (const [mime, data] of Object.entries(b.data)) {
              if (inlineImageTypes.has(mime) && imageBytes + data.byteLength <= maxResultImageBytes) {
                imageBytes += data.byteLength;
                c.images.push({ mimeType: mime, data });
                break;
              }
            }
            break;
          case "result":
            c.result = b.data["text/plain"] ? Buffer.from(b.data["text/plain"]).toString("utf8") : c.result;
            break;
          case "error":
            c.error = { name: b.name, value: b.value, traceback: b.traceback };
            break;
          case "exited":
            c.exit = b.exit;
            if (b.exit.truncated) c.truncated = true;
            break;
          case "started":
            break;
        }
      }
    } finally {
      stop.abort();
      extra.signal.removeEventListener("abort", onAbort);
    }
    return c;
  };

  /** The bytes of images a run saved as artifacts (plots), while its sandbox is alive. */
  const fetchImages = async (sandbox: Sandbox, infos: ArtifactInfo[], c: Collected, signal: AbortSignal): Promise<void> => {
    let total = c.images.reduce((n, i) => n + i.data.byteLength, 0);
    for (const info of infos) {
      if (!inlineImageTypes.has(info.mimeType) || total + info.size > maxResultImageBytes) continue;
      const data = await readArtifact(sandbox, info.id, signal);
      total += data.byteLength;
      c.images.push({ mimeType: info.mimeType, data });
    }
  };

  const readArtifact = async (sandbox: Sandbox, id: string, signal: AbortSignal): Promise<Buffer> => {
    const chunks: Uint8Array[] = [];
    let n = 0;
    for await (const part of artifacts.download(sandbox, id, signal)) {
      if (part.type !== "chunk") continue;
      n += part.data.byteLength;
      if (n > maxResultImageBytes) throw invalidArgument(`artifact ${id} is larger than ${maxResultImageBytes} bytes; download it over gRPC`);
      chunks.push(part.data);
    }
    return Buffer.concat(chunks);
  };

  /** A run's outcome as MCP content: images first, then one JSON text. */
  const outcome = (c: Collected, extra: Record<string, unknown>): CallToolResult => {
    const summary = {
      ...extra,
      status: c.exit?.status ?? "unknown",
      exit_code: c.exit?.exitCode ?? -1,
      ...(c.exit?.signal ? { signal: c.exit.signal } : {}),
      ...(c.exit?.message ? { message: c.exit.message } : {}),
      stdout: c.stdout,
      stderr: c.stderr,
      ...(c.result !== undefined ? { result: c.result } : {}),
      ...(c.error ? { error: c.error } : {}),
      ...(c.truncated ? { truncated: true } : {}),
      ...(c.artifacts.length > 0 ? { artifacts: c.artifacts.map(artifactJson) } : {}),
      duration_ms: c.exit?.durationMs ?? 0,
    };
    return {
      content: [
        ...c.images.map((i) => ({ type: "image" as const, data: Buffer.from(i.data).toString("base64"), mimeType: i.mimeType })),
        { type: "text" as const, text: JSON.stringify(summary, null, 2) },
      ],
    };
  };

  // -- llm-sandbox's tools --------------------------------------------------------------------
  server.registerTool(
    "execute_code",
    {
      title: "Execute code",
      description:
        "Run code once in a fresh, isolated sandbox that is removed afterwards (no state is kept between calls). Returns stdout, stderr and the exit code as JSON, and any plots or images the code draws (matplotlib etc.) as images. Use create_sandbox or create_session to keep state.",
      inputSchema: {
        code: z.string().min(1).describe("The program's source code"),
        language: z.string().default("python").describe("Programming language; see get_supported_languages (default python)"),
        libraries: z.array(z.string()).default([]).describe('Packages to install before running, e.g. ["requests"] (pip for Python, npm for JavaScript)'),
        timeout: z.number().positive().default(30).describe("Execution timeout in seconds (default 30)"),
      },
      annotations: { openWorldHint: false },
    },
    guarded("execute_code", async ({ code, language, libraries, timeout }, extra) => {
      const handler = languages.get(language);
      languages.validateLibraries(handler, libraries);
      const sandbox = await sandboxes.create(tenant, request({ language: handler.name }), { signal: extra.signal });
      try {
        const started = await pipeline.run(tenant, codeRun(sandbox.id, code, libraries, timeout, request({ language: handler.name })), extra.signal);
        const c = await follow(started.run, extra, () => started.run.cancel("cancelled"));
        await fetchImages(sandbox, c.artifacts, c, extra.signal);
        c.artifacts = [];
        return outcome(c, { language: handler.name });
      } finally {
        await sandboxes
          .destroy(tenant, sandbox.id)
          .catch((err: unknown) => log.warn({ sandboxId: sandbox.id, err: describeError(err) }, "removing execute_code's sandbox failed"));
      }
    }),
  );

  server.registerTool(
    "get_supported_languages",
    { title: "Supported languages", description: "List the programming languages sandboxes can run.", annotations: { readOnlyHint: true } },
    async () => text(languages.names()),
  );

  server.registerTool(
    "get_language_details",
    {
      title: "Language details",
      description: "Details of one language: its image, whether libraries can be installed and plots captured, and its aliases.",
      inputSchema: { language: z.string().describe("A language name from get_supported_languages") },
      annotations: { readOnlyHint: true },
    },
    guarded("get_language_details", async ({ language }) => text(languageDetails(languages.get(language)))),
  );

  server.registerResource(
    "languages",
    "sandbox://languages",
    { title: "Supported languages", description: "Every supported language with its details (JSON).", mimeType: "application/json" },
    async (uri) => ({
      contents: [
        {
          uri: uri.href,
          mimeType: "application/json",
          text: JSON.stringify(Object.fromEntries(languages.names().map((n) => [n, languageDetails(languages.get(n))])), null, 2),
        },
      ],
    }),
  );

  // -- sandboxes ------------------------------------------------------------------------------
  server.registerTool(
    "create_sandbox",
    {
      title: "Create a sandbox",
      description:
        "Create a sandbox that keeps its files and installed libraries between calls. Returns its sandbox_id for run_code, run_command, upload_file, download_file and the artifact tools. The daemon removes it after its TTL or when idle; close it with close_sandbox when done.",
      inputSchema: {
        language: z.string().default("python").describe("The sandbox's language (default python)"),
        libraries: z.array(z.string()).default([]).describe("Packages to install right away"),
        env: z.record(z.string()).optional().describe("Environment variables of every program in the sandbox"),
        ttl_seconds: seconds("Remove the sandbox after this many seconds (default: the daemon's)"),
        idle_timeout_seconds: seconds("Remove the sandbox after this many idle seconds (default: the daemon's)"),
      },
    },
    guarded("create_sandbox", async ({ language, libraries, env, ttl_seconds, idle_timeout_seconds }, extra) => {
      const handler = languages.get(language);
      languages.validateLibraries(handler, libraries);
      const sandbox = await sandboxes.create(tenant, request({ language: handler.name, env, ttlSeconds: ttl_seconds, idleSeconds: idle_timeout_seconds }), {
        signal: extra.signal,
      });
      if (libraries.length > 0) {
        const started = await pipeline.install(tenant, { sandboxId: sandbox.id, libraries, timeoutMs: 0 });
        const c = await follow(started.run, extra, () => started.run.cancel("cancelled"));
        if (c.exit?.status !== "exited" || c.exit.exitCode !== 0) {
          await sandboxes.destroy(tenant, sandbox.id).catch(() => undefined);
          return toolError(
            `installing ${libraries.join(", ")} failed (${c.exit?.status ?? "unknown"}, exit code ${c.exit?.exitCode ?? -1}):\n${c.stderr || c.stdout}`,
          );
        }
      }
      return text(sandboxJson(sandbox));
    }),
  );

  server.registerTool(
    "list_sandboxes",
    { title: "List sandboxes", description: "The sandboxes you own, with their ids and languages.", annotations: { readOnlyHint: true } },
    async () => text(sandboxes.list(tenant, {}).map(sandboxJson)),
  );

  server.registerTool(
    "close_sandbox",
    {
      title: "Close a sandbox",
      description: "Remove a sandbox and everything in it (files, sessions, artifacts).",
      inputSchema: { sandbox_id: z.string().min(1).describe("The sandbox to remove") },
      annotations: { destructiveHint: true },
    },
    guarded("close_sandbox", async ({ sandbox_id }) => text({ destroyed: (await sandboxes.destroy(tenant, sandbox_id)).destroyed })),
  );

  server.registerTool(
    "run_code",
    {
      title: "Run code in a sandbox",
      description:
        "Run a program in an existing sandbox (its language). Files and installed libraries persist between runs, variables do not (use create_session for that). Returns stdout, stderr, the exit code and the run's plots as images.",
      inputSchema: {
        sandbox_id: z.string().min(1).describe("From create_sandbox"),
        code: z.string().min(1).describe("The program's source code"),
        libraries: z.array(z.string()).default([]).describe("Packages to install before running"),
        timeout: z.number().positive().default(30).describe("Execution timeout in seconds (default 30)"),
      },
    },
    guarded("run_code", async ({ sandbox_id, code, libraries, timeout }, extra) => {
      const started = await pipeline.run(tenant, codeRun(sandbox_id, code, libraries, timeout, request({ language: "" })), extra.signal);
      const c = await follow(started.run, extra, () => started.run.cancel("cancelled"));
      await fetchImages(started.sandbox, c.artifacts, c, extra.signal);
      return outcome(c, { run_id: started.run.id, sandbox_id });
    }),
  );

  server.registerTool(
    "run_command",
    {
      title: "Run a command in a sandbox",
      description: 'Run a shell command (sh -c) in an existing sandbox, e.g. "ls -la" or "pip list". Returns stdout, stderr and the exit code.',
      inputSchema: {
        sandbox_id: z.string().min(1).describe("From create_sandbox"),
        command: z.string().min(1).describe("The shell command line"),
        workdir: z.string().default("").describe("Working directory (default: the sandbox's workdir)"),
        timeout: z.number().positive().default(30).describe("Timeout in seconds (default 30)"),
      },
    },
    guarded("run_command", async ({ sandbox_id, command, workdir, timeout }, extra) => {
      const started = await pipeline.exec(tenant, {
        sandboxId: sandbox_id,
        argv: [],
        shell: command,
        workdir,
        env: {},
        stdin: new Uint8Array(),
        keepStdinOpen: false,
        timeoutMs: Math.round(timeout * 1000),
        detachOnCancel: false,
      });
      const c = await follow(started.run, extra, () => started.run.cancel("cancelled"));
      return outcome(c, { run_id: started.run.id, sandbox_id });
    }),
  );

  // -- sessions -------------------------------------------------------------------------------
  server.registerTool(
    "create_session",
    {
      title: "Create a session",
      description:
        'Start a persistent session: "ipython" keeps Python variables, imports and definitions between run_cell calls (like a notebook); "shell" keeps the working directory and exported variables between commands. Without sandbox_id the session gets its own sandbox, removed when the session closes.',
      inputSchema: {
        kind: z.enum(["ipython", "shell"]).default("ipython").describe("ipython (default) or shell"),
        sandbox_id: z.string().optional().describe("Run the session in this existing sandbox (a Python sandbox for ipython)"),
        language: z.string().default("python").describe("The language of the session's own sandbox when sandbox_id is not given"),
        cell_timeout_seconds: seconds("Default timeout of each cell (default: the daemon's)"),
        idle_timeout_seconds: seconds("Close the session after this many idle seconds (default: the daemon's)"),
      },
    },
    guarded("create_session", async ({ kind, sandbox_id, language, cell_timeout_seconds, idle_timeout_seconds }, extra) => {
      const session = await sessions.open(
        tenant,
        {
          target: sandbox_id ? { sandboxId: sandbox_id } : { spec: request({ language: languages.get(language).name }) },
          kind,
          shell: "",
          env: {},
          settings: {
            cellTimeoutMs: Math.round((cell_timeout_seconds ?? 0) * 1000),
            historySize: 0,
            memoryLimitBytes: 0,
            idleTimeoutMs: Math.round((idle_timeout_seconds ?? 0) * 1000),
          },
        },
        extra.signal,
      );
      return text({ session_id: session.id, sandbox_id: session.sandbox.id, kind: session.kind, owns_sandbox: session.ownsSandbox });
    }),
  );

  server.registerTool(
    "run_cell",
    {
      title: "Run a cell in a session",
      description:
        "Run code in a session: Python in an ipython session (state persists; the last expression's value is returned as result; plots come back as images), or a shell command line in a shell session.",
      inputSchema: {
        session_id: z.string().min(1).describe("From create_session"),
        code: z.string().min(1).describe("The cell's code"),
        timeout: z.number().positive().optional().describe("Timeout of this cell in seconds (default: the session's)"),
      },
    },
    guarded("run_cell", async ({ session_id, code, timeout }, extra) => {
      const session = sessions.get(tenant, session_id);
      const timeoutMs = Math.round((timeout ?? 0) * 1000);
      await pipeline.admitCell(session.sandbox, session.kind === "shell" ? "bash" : "python", code, timeoutMs);
      const detach = session.attachStream();
      try {
        const cell = session.submit({ cellId: "", code, timeoutMs, stdin: new Uint8Array() });
        const c = await follow(cell.run, extra, () => session.interrupt(cell.cellId));
        return outcome(c, { session_id, cell_id: cell.cellId, execution_count: session.executionCount });
      } finally {
        detach();
      }
    }),
  );

  server.registerTool(
    "interrupt_session",
    {
      title: "Interrupt a session",
      description: "Interrupt the cell a session is running (KeyboardInterrupt in IPython, SIGINT in a shell); the session and its state stay.",
      inputSchema: { session_id: z.string().min(1).describe("From create_session") },
    },
    guarded("interrupt_session", async ({ session_id }) => text({ interrupted: sessions.get(tenant, session_id).interrupt() })),
  );

  server.registerTool(
    "close_session",
    {
      title: "Close a session",
      description: "Close a session (and its sandbox, when the session created it).",
      inputSchema: { session_id: z.string().min(1).describe("From create_session") },
      annotations: { destructiveHint: true },
    },
    guarded("close_session", async ({ session_id }) => {
      await sessions.close(tenant, session_id);
      return text({ closed: true });
    }),
  );

  // -- files and artifacts --------------------------------------------------------------------
  server.registerTool(
    "upload_file",
    {
      title: "Upload a file",
      description: "Write a file into a sandbox (relative paths are under its workdir; only the workdir and /tmp are writable).",
      inputSchema: {
        sandbox_id: z.string().min(1).describe("The sandbox (from create_sandbox or create_session)"),
        path: z.string().min(1).describe("Where to write, e.g. data.csv"),
        content: z.string().describe("The file's content"),
        encoding: z.enum(["utf8", "base64"]).default("utf8").describe("How content is encoded: utf8 text (default) or base64 bytes"),
      },
    },
    guarded("upload_file", async ({ sandbox_id, path, content, encoding }, extra) => {
      const sandbox = await sandboxes.ready(tenant, sandbox_id);
      sandbox.touch();
      const abs = checkTransferPath(sandbox.config.workdir, path);
      const bytes = Buffer.from(content, encoding);
      if (bytes.byteLength > maxUploadBytes) throw invalidArgument(`the file is larger than ${maxUploadBytes} bytes; upload it over gRPC`);
      const res = await uploadFile({ channel: await sandbox.runner(), workdir: sandbox.config.workdir }, abs, 0o644, oneChunk(bytes), extra.signal);
      sandbox.touch();
      return text({ path: abs, bytes: res.bytes, sha256: res.sha256 });
    }),
  );

  server.registerTool(
    "download_file",
    {
      title: "Download a file",
      description: "Read a file from a sandbox. Text comes back as text, images as images, other bytes as base64.",
      inputSchema: {
        sandbox_id: z.string().min(1).describe("The sandbox"),
        path: z.string().min(1).describe("The file, e.g. out.txt (relative to the workdir) or /tmp/x"),
      },
      annotations: { readOnlyHint: true },
    },
    guarded("download_file", async ({ sandbox_id, path }, extra) => {
      const sandbox = await sandboxes.ready(tenant, sandbox_id);
      sandbox.touch();
      const abs = checkTransferPath(sandbox.config.workdir, path);
      const chunks: Uint8Array[] = [];
      let n = 0;
      for await (const part of download({ channel: await sandbox.runner(), workdir: sandbox.config.workdir }, abs, "file", extra.signal)) {
        if (part.type === "header" && part.size > maxDownloadBytes)
          throw invalidArgument(`${abs} is ${part.size} bytes, more than ${maxDownloadBytes}; download it over gRPC`);
        if (part.type !== "chunk") continue;
        n += part.data.byteLength;
        if (n > maxDownloadBytes) throw invalidArgument(`${abs} is more than ${maxDownloadBytes} bytes; download it over gRPC`);
        chunks.push(part.data);
      }
      sandbox.touch();
      return fileContent(abs, Buffer.concat(chunks));
    }),
  );

  server.registerTool(
    "list_artifacts",
    {
      title: "List artifacts",
      description: "The plots and images runs in a sandbox produced, newest last, with their ids for get_artifact.",
      inputSchema: { sandbox_id: z.string().min(1).describe("The sandbox") },
      annotations: { readOnlyHint: true },
    },
    guarded("list_artifacts", async ({ sandbox_id }) => {
      const sandbox = await sandboxes.ready(tenant, sandbox_id);
      sandbox.touch();
      return text((await artifacts.list(sandbox)).map(artifactJson));
    }),
  );

  server.registerTool(
    "get_artifact",
    {
      title: "Get an artifact",
      description: "Fetch one artifact (a plot or image) of a sandbox; images come back as images.",
      inputSchema: { sandbox_id: z.string().min(1).describe("The sandbox"), artifact_id: z.string().min(1).describe("From list_artifacts or a run's result") },
      annotations: { readOnlyHint: true },
    },
    guarded("get_artifact", async ({ sandbox_id, artifact_id }, extra) => {
      const sandbox = await sandboxes.ready(tenant, sandbox_id);
      sandbox.touch();
      const info = (await artifacts.list(sandbox)).find((a) => a.id === artifact_id);
      const data = await readArtifact(sandbox, artifact_id, extra.signal);
      const mimeType = info?.mimeType ?? "application/octet-stream";
      return inlineImageTypes.has(mimeType)
        ? { content: [{ type: "image", data: data.toString("base64"), mimeType }] }
        : fileContent(info?.name ?? artifact_id, data);
    }),
  );

  return server;
}

function codeRun(sandboxId: string, code: string, libraries: string[], timeoutSeconds: number, ephemeral: SandboxRequest) {
  return {
    sandboxId,
    language: "",
    code,
    args: [],
    libraries,
    env: {},
    stdin: new Uint8Array(),
    keepStdinOpen: false,
    timeoutMs: Math.round(timeoutSeconds * 1000),
    detachOnCancel: false,
    clearArtifacts: false,
    ephemeral,
  };
}

async function* oneChunk(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  if (bytes.byteLength > 0) yield bytes;
}

function fileContent(name: string, data: Buffer): CallToolResult {
  const lower = name.toLowerCase();
  const image = lower.endsWith(".png") ? "image/png" : /\.jpe?g$/.test(lower) ? "image/jpeg" : lower.endsWith(".gif") ? "image/gif" : undefined;
  if (image) return { content: [{ type: "image", data: data.toString("base64"), mimeType: image }] };
  const asText = new TextDecoder("utf-8", { fatal: true });
  try {
    return { content: [{ type: "text", text: asText.decode(data) }] };
  } catch {
    return { content: [{ type: "text", text: JSON.stringify({ path: name, bytes: data.byteLength, base64: data.toString("base64") }) }] };
  }
}

function languageDetails(h: LanguageHandler) {
  return {
    name: h.name,
    aliases: h.aliases ?? [],
    image: h.image,
    libraries: h.install !== undefined,
    ...(h.libraryHint ? { library_hint: h.libraryHint } : {}),
    visualization_support: h.plots,
    compiled: h.compile !== undefined,
  };
}

function sandboxJson(s: Sandbox) {
  return { sandbox_id: s.id, language: s.handler.name, image: s.config.image, workdir: s.config.workdir, network: s.config.network };
}

function artifactJson(a: ArtifactInfo) {
  return { artifact_id: a.id, name: a.name, mime_type: a.mimeType, size: a.size, width: a.width, height: a.height, run_id: a.runId };
}
