import { createHash } from "node:crypto";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import type { ChannelCredentials } from "@grpc/grpc-js";
import { SandboxdError, Code, violationFromProto, type Violation } from "./errors.js";
import type { Artifact, DockerfileSchema, RunEvent, Sandbox as SandboxInfo, SandboxSpecSchema, SandboxUsage } from "./gen/sandboxd/v1/common_pb.js";
import {
  InteractiveService,
  SessionKind,
  type Session as SessionInfo,
  type HistoryEntry,
  type SessionSettingsSchema,
} from "./gen/sandboxd/v1/interactive_service_pb.js";
import {
  SandboxService,
  TransferKind,
  type FileEvent,
  type CheckCodeRequestSchema,
  type DownloadHeader,
  type ExecRequestSchema,
  type RunRequestSchema,
  type UploadFilesRequestSchema,
} from "./gen/sandboxd/v1/sandbox_service_pb.js";
import { PoolService, type Pool, type PoolSettingsSchema } from "./gen/sandboxd/v1/pool_service_pb.js";
import { VolumeService, type Volume } from "./gen/sandboxd/v1/volume_service_pb.js";
import { TerminalService } from "./gen/sandboxd/v1/terminal_service_pb.js";
import { Terminal, openRequest, type AttachTerminalOptions, type TerminalOptions } from "./terminal.js";
import { ExecuteStream, type CellInput, type ExecuteOptions } from "./execute.js";
import { Execution, type OutputCallbacks } from "./run.js";
import { Transport, type CallOptions, type Stub } from "./transport.js";

type Methods<S> = S extends GenService<infer M extends GenServiceMethods> ? M : never;
export type SandboxSpec = MessageInitShape<typeof SandboxSpecSchema>;
export type SessionSettings = MessageInitShape<typeof SessionSettingsSchema>;
export type PoolSettings = MessageInitShape<typeof PoolSettingsSchema>;
export type Dockerfile = MessageInitShape<typeof DockerfileSchema>;

export interface BuildImageOptions extends CallOptions {
  /** Each piece of the build's output (step headers, the RUN steps' own output) as it comes. */
  onOutput?: (text: string) => void;
}

/** What BuildImage ends with: the image sandboxes start from (`spec.image`). */
export interface BuiltImage {
  image: string;
  /** True when the image was there already and nothing was built. */
  cached: boolean;
  durationMs: number;
}

/** What CreatePool takes (docs/pools.md). */
export interface PoolOptions {
  /** The tenant's name for it (unique per tenant); GetPool and acquire take it for the id. */
  name?: string;
  spec: SandboxSpec;
  settings?: PoolSettings;
  /** Installed in every member before it is ready. */
  libraries?: string[];
}

/** What an acquisition may set on the sandbox it gets; the rest is the pool's spec. */
export interface AcquireOptions extends CallOptions {
  labels?: Record<string, string>;
  ttlMs?: number;
  idleTimeoutMs?: number;
}

export interface ClientOptions {
  /** host:port or unix:/path. Default: SANDBOXD_ADDRESS, then 127.0.0.1:50051. */
  address?: string;
  /** Bearer token. Default: SANDBOXD_TOKEN. */
  token?: string;
  /** TLS credentials; default plaintext (the daemon listens on loopback or a unix socket). */
  credentials?: ChannelCredentials;
}

export interface RunOptions extends CallOptions, OutputCallbacks {
  libraries?: string[];
  stdin?: Uint8Array | string;
  keepStdinOpen?: boolean;
  /** The run's deadline on the daemon (kills the process tree); not a call deadline. */
  runTimeoutMs?: number;
  env?: Record<string, string>;
  args?: string[];
  clearArtifacts?: boolean;
  /** Cancelling the call leaves the run going; re-attach with `attach`. */
  detachOnCancel?: boolean;
}

export interface ExecOptions extends CallOptions, OutputCallbacks {
  workdir?: string;
  env?: Record<string, string>;
  stdin?: Uint8Array | string;
  keepStdinOpen?: boolean;
  runTimeoutMs?: number;
  detachOnCancel?: boolean;
}

export interface WatchFilesOptions extends CallOptions {
  /** Also every directory below the path. */
  recursive?: boolean;
  /** Called (and awaited) once the watch is in place. */
  onReady?: () => unknown;
}

export interface TransferOptions extends CallOptions {
  /** Called as bytes move: (done, total); total is 0 when unknown. */
  onProgress?: (done: number, total: number) => void;
}

const CHUNK = 256 * 1024;
const bytes = (v: Uint8Array | string | undefined) => (typeof v === "string" ? new TextEncoder().encode(v) : (v ?? new Uint8Array()));

async function* events(responses: AsyncIterable<{ event?: RunEvent | undefined }>): AsyncGenerator<RunEvent> {
  for await (const r of responses) if (r.event) yield r.event;
}

/**
 * A connection to sandboxd. Dispose it (`using client = createClient()`) or call
 * `close()`; sandboxes and sessions it made are disposed separately.
 */
export class SandboxdClient implements Disposable {
  readonly transport: Transport;
  readonly sandboxes: Stub<Methods<typeof SandboxService>>;
  readonly interactive: Stub<Methods<typeof InteractiveService>>;
  /** PoolService: warm pools of this tenant (and the daemon configuration's, read-only). */
  readonly pools: Stub<Methods<typeof PoolService>>;
  /** VolumeService: named volumes of this tenant (docs/volumes.md). */
  readonly volumes: Stub<Methods<typeof VolumeService>>;
  /** TerminalService: pseudo-terminals in sandboxes (openTerminal, attachTerminal). */
  readonly terminals: Stub<Methods<typeof TerminalService>>;
  readonly address: string;

  constructor(options: ClientOptions = {}) {
    this.address = options.address ?? process.env["SANDBOXD_ADDRESS"] ?? "127.0.0.1:50051";
    this.transport = new Transport({ address: this.address, token: options.token ?? process.env["SANDBOXD_TOKEN"], credentials: options.credentials });
    this.sandboxes = this.transport.stub(SandboxService);
    this.interactive = this.transport.stub(InteractiveService);
    this.pools = this.transport.stub(PoolService);
    this.volumes = this.transport.stub(VolumeService);
    this.terminals = this.transport.stub(TerminalService);
  }

  /** Opens a terminal in a sandbox; resolves once it runs (rejects with the daemon's refusal). */
  async openTerminal(sandboxId: string, options: TerminalOptions = {}): Promise<Terminal> {
    const call = this.terminals.terminal(options);
    const term = new Terminal(call, options.onOutput);
    call.send(openRequest(sandboxId, options));
    await term.ready();
    return term;
  }

  /** Attaches to a running terminal by id: the output it kept is replayed first. */
  async attachTerminal(terminalId: string, options: AttachTerminalOptions = {}): Promise<Terminal> {
    const call = this.terminals.terminal(options);
    const term = new Terminal(call, options.onOutput);
    call.send({ message: { case: "attach", value: { terminalId, offset: BigInt(options.offset ?? 0) } } });
    await term.ready();
    return term;
  }

  close(): void {
    this.transport.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** Creates a sandbox; `await using sandbox = await client.createSandbox(...)` destroys it at scope end. */
  async createSandbox(spec: SandboxSpec, options?: CallOptions): Promise<Sandbox> {
    const res = await this.sandboxes.createSandbox({ spec }, options);
    if (!res.sandbox) throw new SandboxdError(Code.Internal, "the daemon returned no sandbox");
    return new Sandbox(this, res.sandbox, true);
  }

  /**
   * Builds a Dockerfile (its content and context files) into an image, streaming the build's
   * output to `onOutput`; a build that fails rejects with INVALID_ARGUMENT, reason
   * `IMAGE_BUILD_FAILED`, after its output. The same content again is `cached`. Aborting the
   * call stops the build unless another caller waits for the same one. Builds have no network
   * unless the daemon runs with `--network.build default`.
   */
  async buildImage(dockerfile: Dockerfile, options: BuildImageOptions = {}): Promise<BuiltImage> {
    const { onOutput, ...call } = options;
    for await (const m of this.sandboxes.buildImage({ dockerfile }, call)) {
      if (m.event.case === "output") onOutput?.(m.event.value);
      else if (m.event.case === "result") return { image: m.event.value.image, cached: m.event.value.cached, durationMs: Number(m.event.value.durationMs) };
    }
    throw new SandboxdError(Code.Internal, "the build ended without a result");
  }

  /**
   * A sandbox from warm pool `poolId` (its id or this tenant's name for it): a ready member,
   * or per the pool's exhaustion strategy (RESOURCE_EXHAUSTED, reason POOL_EXHAUSTED, when
   * it gives up). Disposing it destroys it, which frees its place; it is never reused.
   */
  async acquireSandbox(poolId: string, options: AcquireOptions = {}): Promise<Sandbox> {
    const { labels, ttlMs, idleTimeoutMs, ...call } = options;
    const res = await this.sandboxes.createSandbox({ poolId, spec: { labels: labels ?? {}, ttlMs: ttlMs ?? 0, idleTimeoutMs: idleTimeoutMs ?? 0 } }, call);
    if (!res.sandbox) throw new SandboxdError(Code.Internal, "the daemon returned no sandbox");
    return new Sandbox(this, res.sandbox, true);
  }

  /** Creates a warm pool of this tenant. */
  async createPool(pool: PoolOptions, options?: CallOptions): Promise<Pool> {
    const res = await this.pools.createPool(
      { name: pool.name ?? "", spec: pool.spec, settings: pool.settings ?? {}, libraries: pool.libraries ?? [] },
      options,
    );
    if (!res.pool) throw new SandboxdError(Code.Internal, "the daemon returned no pool");
    return res.pool;
  }

  /** The pool by id or name, with its settings and stats. */
  async getPool(poolId: string, options?: CallOptions): Promise<Pool> {
    const res = await this.pools.getPool({ poolId }, options);
    if (!res.pool) throw new SandboxdError(Code.NotFound, `pool ${poolId} not found`, { reason: "POOL_NOT_FOUND" });
    return res.pool;
  }

  async listPools(options?: CallOptions): Promise<Pool[]> {
    return (await this.pools.listPools({}, options)).pools;
  }

  /** Replaces the pool's settings (unset fields are their defaults); the spec stays. */
  async updatePool(poolId: string, settings: PoolSettings, options?: CallOptions): Promise<Pool> {
    const res = await this.pools.updatePool({ poolId, settings }, options);
    if (!res.pool) throw new SandboxdError(Code.Internal, "the daemon returned no pool");
    return res.pool;
  }

  /** Idempotent: `deleted` false when it was gone. `destroySandboxes` also destroys those handed out. */
  async deletePool(poolId: string, destroySandboxes = false, options?: CallOptions): Promise<{ deleted: boolean; destroyedSandboxes: number }> {
    const res = await this.pools.deletePool({ poolId, destroySandboxes }, options);
    return { deleted: res.deleted, destroyedSandboxes: res.destroyedSandboxes };
  }

  /**
   * Creates a named volume of this tenant; mount it with `spec.mounts` ({ source: { case:
   * "volume", value: name }, path, readOnly }). The size limit is recorded, not enforced on
   * Docker and Podman (docs/volumes.md).
   */
  async createVolume(name: string, sizeLimitBytes = 0, options?: CallOptions): Promise<Volume> {
    const res = await this.volumes.createVolume({ name, sizeLimitBytes: BigInt(sizeLimitBytes) }, options);
    if (!res.volume) throw new SandboxdError(Code.Internal, "the daemon returned no volume");
    return res.volume;
  }

  /** The volume by id or name, with the bytes it holds now. */
  async getVolume(volume: string, options?: CallOptions): Promise<Volume> {
    const res = await this.volumes.getVolume({ volume }, options);
    if (!res.volume) throw new SandboxdError(Code.NotFound, `volume ${volume} not found`, { reason: "VOLUME_NOT_FOUND" });
    return res.volume;
  }

  async listVolumes(options?: CallOptions): Promise<Volume[]> {
    return (await this.volumes.listVolumes({}, options)).volumes;
  }

  /** Idempotent: false when it was gone. FAILED_PRECONDITION (VOLUME_IN_USE) while a live sandbox mounts it. */
  async deleteVolume(volume: string, options?: CallOptions): Promise<boolean> {
    return (await this.volumes.deleteVolume({ volume }, options)).deleted;
  }

  /** A handle on an existing sandbox; disposing it leaves the sandbox running. */
  async getSandbox(sandboxId: string, options?: CallOptions): Promise<Sandbox> {
    const res = await this.sandboxes.getSandbox({ sandboxId }, options);
    if (!res.sandbox) throw new SandboxdError(Code.NotFound, `sandbox ${sandboxId} not found`, { reason: "SANDBOX_NOT_FOUND" });
    return new Sandbox(this, res.sandbox, false);
  }

  async listSandboxes(labels: Record<string, string> = {}, options?: CallOptions): Promise<SandboxInfo[]> {
    return (await this.sandboxes.listSandboxes({ labels }, options)).sandboxes;
  }

  /** The sandbox's usage now (memory, CPU, processes, writable paths' used bytes); `available` false where it cannot be measured. */
  async getUsage(sandboxId: string, options?: CallOptions): Promise<SandboxUsage | undefined> {
    return (await this.sandboxes.getSandbox({ sandboxId }, options)).sandbox?.usage;
  }

  /**
   * The sandbox's usage every `intervalMs` (at least 100), the first at once; the iteration
   * ends when the sandbox goes away (destroyed or reaped), or when `options.signal` aborts.
   */
  async *watchSandbox(sandboxId: string, intervalMs = 1000, options?: CallOptions): AsyncGenerator<SandboxUsage> {
    for await (const m of this.sandboxes.watchSandbox({ sandboxId, intervalMs }, options)) if (m.usage) yield m.usage;
  }

  /**
   * Changes under `path` (absolute, or relative to the workdir) as they happen: create,
   * write, remove, rename (and overflow when events were lost), with absolute paths. The
   * watch is in place when `onReady` is called (awaited: changes made in it are seen); the
   * iteration ends when the sandbox goes away, or when `options.signal` aborts (or the loop breaks).
   */
  async *watchFiles(sandboxId: string, path: string, options: WatchFilesOptions = {}): AsyncGenerator<FileEvent> {
    const { recursive, onReady, ...call } = options;
    for await (const m of this.sandboxes.watchFiles({ sandboxId, path, recursive: recursive ?? false }, call)) {
      if (m.message.case === "event") yield m.message.value;
      else if (m.message.case === "ready") await onReady?.();
    }
  }

  /** Idempotent: false when the sandbox was already gone. */
  async destroySandbox(sandboxId: string, options?: CallOptions): Promise<boolean> {
    return (await this.sandboxes.destroySandbox({ sandboxId }, options)).destroyed;
  }

  /**
   * Freezes every process of the sandbox (Docker and Podman; Kubernetes answers
   * FAILED_PRECONDITION, reason NOT_SUPPORTED_BY_BACKEND). Idempotent: `changed` is false
   * when it was paused already. A paused sandbox is never idle; its TTL keeps running.
   */
  async pauseSandbox(sandboxId: string, options?: CallOptions): Promise<{ sandbox: SandboxInfo | undefined; changed: boolean }> {
    const res = await this.sandboxes.pauseSandbox({ sandboxId }, options);
    return { sandbox: res.sandbox, changed: res.changed };
  }

  /** Thaws a paused sandbox. Idempotent: `changed` is false when it was running already. */
  async resumeSandbox(sandboxId: string, options?: CallOptions): Promise<{ sandbox: SandboxInfo | undefined; changed: boolean }> {
    const res = await this.sandboxes.resumeSandbox({ sandboxId }, options);
    return { sandbox: res.sandbox, changed: res.changed };
  }

  /** Runs code in a throwaway sandbox of `language`, destroyed afterwards. */
  runEphemeral(language: string, code: string, options: RunOptions & { spec?: SandboxSpec } = {}): Execution {
    const request: MessageInitShape<typeof RunRequestSchema> = { ...runRequest("", code, options), language };
    if (options.spec) request.ephemeral = options.spec;
    return this.#run(request, options);
  }

  /** Follows a run again from a byte offset: replays what was missed, then live. */
  attach(runId: string, offset = 0, options: CallOptions & OutputCallbacks = {}): Execution {
    return new Execution(events(this.sandboxes.attach({ runId, offset: BigInt(offset) }, options)), options);
  }

  async signal(runId: string, signal: string, options?: CallOptions): Promise<void> {
    await this.sandboxes.signal({ runId, signal }, options);
  }

  async writeInput(runId: string, data: Uint8Array | string, close = false, options?: CallOptions): Promise<void> {
    await this.sandboxes.writeInput({ runId, data: bytes(data), close }, options);
  }

  /** Static policy check; nothing runs. */
  async checkCode(request: MessageInitShape<typeof CheckCodeRequestSchema>, options?: CallOptions): Promise<{ safe: boolean; violations: Violation[] }> {
    const res = await this.sandboxes.checkCode(request, options);
    return { safe: res.safe, violations: res.violations.map(violationFromProto) };
  }

  async listSessions(sandboxId = "", options?: CallOptions): Promise<SessionInfo[]> {
    return (await this.interactive.listSessions({ sandboxId }, options)).sessions;
  }

  /** @internal */
  #run(request: MessageInitShape<typeof RunRequestSchema>, options: RunOptions): Execution {
    return new Execution(events(this.sandboxes.run(request, options)), options);
  }

  /** @internal used by Sandbox */
  _run(request: MessageInitShape<typeof RunRequestSchema>, options: RunOptions): Execution {
    return this.#run(request, options);
  }
}

function runRequest(sandboxId: string, code: string, o: RunOptions): MessageInitShape<typeof RunRequestSchema> {
  return {
    sandboxId,
    code,
    libraries: o.libraries ?? [],
    stdin: bytes(o.stdin),
    keepStdinOpen: o.keepStdinOpen ?? false,
    timeoutMs: o.runTimeoutMs ?? 0,
    env: o.env ?? {},
    args: o.args ?? [],
    clearArtifacts: o.clearArtifacts ?? false,
    detachOnCancel: o.detachOnCancel ?? false,
  };
}

export function createClient(options: ClientOptions = {}): SandboxdClient {
  return new SandboxdClient(options);
}

/** A sandbox on the daemon. `await using` destroys it (if this handle created it). */
export class Sandbox implements AsyncDisposable {
  readonly id: string;
  #disposed = false;

  constructor(
    readonly client: SandboxdClient,
    readonly info: SandboxInfo,
    private readonly owned: boolean,
  ) {
    this.id = info.id;
  }

  /** Runs code in the sandbox's language. Iterate for events or await `.result()`. */
  run(code: string, options: RunOptions = {}): Execution {
    return this.client._run(runRequest(this.id, code, options), options);
  }

  /** Opens a terminal (a pseudo-terminal with a shell, or options.argv) in this sandbox. */
  terminal(options: TerminalOptions = {}): Promise<Terminal> {
    return this.client.openTerminal(this.id, options);
  }

  /** Runs a command: a string through `/bin/sh -c`, an array as argv. */
  exec(command: string | string[], options: ExecOptions = {}): Execution {
    const req: MessageInitShape<typeof ExecRequestSchema> = {
      sandboxId: this.id,
      ...(typeof command === "string" ? { shell: command } : { argv: command }),
      workdir: options.workdir ?? "",
      env: options.env ?? {},
      stdin: bytes(options.stdin),
      keepStdinOpen: options.keepStdinOpen ?? false,
      timeoutMs: options.runTimeoutMs ?? 0,
      detachOnCancel: options.detachOnCancel ?? false,
    };
    return new Execution(events(this.client.sandboxes.exec(req, options)), options);
  }

  install(libraries: string[], options: CallOptions & OutputCallbacks & { runTimeoutMs?: number } = {}): Execution {
    return new Execution(events(this.client.sandboxes.install({ sandboxId: this.id, libraries, timeoutMs: options.runTimeoutMs ?? 0 }, options)), options);
  }

  /** PauseSandbox: freezes its processes; true when it was running (false: paused already). */
  async pause(options?: CallOptions): Promise<boolean> {
    return (await this.client.pauseSandbox(this.id, options)).changed;
  }

  /** ResumeSandbox: thaws it; true when it was paused (false: running already). */
  async resume(options?: CallOptions): Promise<boolean> {
    return (await this.client.resumeSandbox(this.id, options)).changed;
  }

  /** Changes under a path of it as they happen (see SandboxdClient.watchFiles). */
  watchFiles(path: string, options: WatchFilesOptions = {}): AsyncGenerator<FileEvent> {
    return this.client.watchFiles(this.id, path, options);
  }

  /** Its usage now (see SandboxdClient.getUsage). */
  async usage(options?: CallOptions): Promise<SandboxUsage | undefined> {
    return this.client.getUsage(this.id, options);
  }

  /** Its usage every `intervalMs` until it goes away (see SandboxdClient.watchSandbox). */
  watch(intervalMs = 1000, options?: CallOptions): AsyncGenerator<SandboxUsage> {
    return this.client.watchSandbox(this.id, intervalMs, options);
  }

  async refresh(options?: CallOptions): Promise<SandboxInfo> {
    const res = await this.client.sandboxes.getSandbox({ sandboxId: this.id }, options);
    if (!res.sandbox) throw new SandboxdError(Code.NotFound, `sandbox ${this.id} not found`, { reason: "SANDBOX_NOT_FOUND" });
    return res.sandbox;
  }

  /** Writes a file (or unpacks a tar into a directory when `kind` is TAR). */
  async upload(
    path: string,
    data: Uint8Array | string,
    options: TransferOptions & { mode?: number; kind?: TransferKind } = {},
  ): Promise<{ bytes: number; sha256: string }> {
    const body = bytes(data);
    const sandboxId = this.id;
    async function* requests(): AsyncGenerator<MessageInitShape<typeof UploadFilesRequestSchema>> {
      yield { message: { case: "header", value: { sandboxId, path, kind: options.kind ?? TransferKind.FILE, mode: options.mode ?? 0 } } };
      for (let at = 0; at < body.byteLength; at += CHUNK) {
        const chunk = body.subarray(at, at + CHUNK);
        yield { message: { case: "chunk", value: chunk } };
        options.onProgress?.(at + chunk.byteLength, body.byteLength);
      }
    }
    const res = await this.client.sandboxes.uploadFiles(requests(), options);
    const sha256 = createHash("sha256").update(body).digest("hex");
    if (res.sha256 && res.sha256 !== sha256)
      throw new SandboxdError(Code.DataLoss, `upload to ${path} was corrupted in transit`, { reason: "CHECKSUM_MISMATCH" });
    return { bytes: Number(res.bytes), sha256 };
  }

  /** Reads a file, or a directory as a tar (the header's `kind` says which). */
  async download(path: string, options: TransferOptions & { kind?: TransferKind } = {}): Promise<{ header: DownloadHeader | undefined; data: Uint8Array }> {
    let header: DownloadHeader | undefined;
    const parts: Uint8Array[] = [];
    const hash = createHash("sha256");
    let got = 0;
    let trailerSha = "";
    for await (const res of this.client.sandboxes.downloadFiles({ sandboxId: this.id, path, kind: options.kind ?? TransferKind.UNSPECIFIED }, options)) {
      const m = res.message;
      if (m.case === "header") header = m.value;
      else if (m.case === "chunk") {
        parts.push(m.value);
        hash.update(m.value);
        got += m.value.byteLength;
        options.onProgress?.(got, Number(header?.size ?? 0n));
      } else if (m.case === "trailer") trailerSha = m.value.sha256;
    }
    if (trailerSha && trailerSha !== hash.digest("hex"))
      throw new SandboxdError(Code.DataLoss, `download of ${path} was corrupted in transit`, { reason: "CHECKSUM_MISMATCH" });
    return { header, data: Buffer.concat(parts) };
  }

  async listArtifacts(options?: CallOptions): Promise<Artifact[]> {
    return (await this.client.sandboxes.listArtifacts({ sandboxId: this.id }, options)).artifacts;
  }

  async downloadArtifact(artifactId: string, options: TransferOptions = {}): Promise<{ artifact: Artifact | undefined; data: Uint8Array }> {
    let artifact: Artifact | undefined;
    const parts: Uint8Array[] = [];
    let got = 0;
    for await (const res of this.client.sandboxes.downloadArtifact({ sandboxId: this.id, artifactId }, options)) {
      const m = res.message;
      if (m.case === "artifact") artifact = m.value;
      else if (m.case === "chunk") {
        parts.push(m.value);
        got += m.value.byteLength;
        options.onProgress?.(got, Number(artifact?.size ?? 0n));
      }
    }
    return { artifact, data: Buffer.concat(parts) };
  }

  async clearArtifacts(options?: CallOptions): Promise<number> {
    return (await this.client.sandboxes.clearArtifacts({ sandboxId: this.id }, options)).cleared;
  }

  async checkCode(code: string, options?: CallOptions): Promise<{ safe: boolean; violations: Violation[] }> {
    return this.client.checkCode({ code, policy: { case: "sandboxId", value: this.id } }, options);
  }

  /** A persistent shell or IPython session in this sandbox; `await using` closes it. */
  async createSession(
    options: CallOptions & { kind?: "ipython" | "shell"; shell?: string; env?: Record<string, string>; settings?: SessionSettings } = {},
  ): Promise<Session> {
    const res = await this.client.interactive.createSession(
      {
        target: { case: "sandboxId", value: this.id },
        kind: options.kind === "shell" ? SessionKind.SHELL : SessionKind.IPYTHON,
        shell: options.shell ?? "",
        env: options.env ?? {},
        ...(options.settings ? { settings: options.settings } : {}),
      },
      options,
    );
    if (!res.session) throw new SandboxdError(Code.Internal, "the daemon returned no session");
    return new Session(this.client, res.session);
  }

  /** Destroys the sandbox; safe to call twice. */
  async destroy(options?: CallOptions): Promise<boolean> {
    if (this.#disposed) return false;
    this.#disposed = true;
    return this.client.destroySandbox(this.id, options);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.owned) await this.destroy();
  }
}

/** A persistent shell or IPython kernel. Cells run one at a time, state carries over. */
export class Session implements AsyncDisposable {
  readonly id: string;
  #closed = false;

  constructor(
    readonly client: SandboxdClient,
    readonly info: SessionInfo,
  ) {
    this.id = info.id;
  }

  /** Runs one cell (or one shell command line). */
  run(code: string, options: CallOptions & OutputCallbacks & { cellTimeoutMs?: number; stdin?: Uint8Array | string } = {}): Execution {
    return new Execution(
      events(this.client.interactive.run({ sessionId: this.id, code, timeoutMs: options.cellTimeoutMs ?? 0, stdin: bytes(options.stdin) }, options)),
      options,
    );
  }

  /**
   * An interactive `Execute` stream: many cells on one call, their events tagged with cell
   * ids, per-cell interrupts. `cells`, when given, are sent in order and the stream is
   * half-closed after the last; otherwise `send` them and call `end()`.
   */
  execute(cells?: AsyncIterable<string | CellInput> | Iterable<string | CellInput>, options: ExecuteOptions = {}): ExecuteStream {
    return new ExecuteStream(this.id, (o) => this.client.interactive.execute(o), cells, options);
  }

  async interrupt(options?: CallOptions): Promise<boolean> {
    return (await this.client.interactive.interrupt({ sessionId: this.id }, options)).interrupted;
  }

  async reset(options?: CallOptions): Promise<void> {
    await this.client.interactive.reset({ sessionId: this.id }, options);
  }

  async history(limit = 0, options?: CallOptions): Promise<HistoryEntry[]> {
    return (await this.client.interactive.getHistory({ sessionId: this.id, limit }, options)).entries;
  }

  async close(options?: CallOptions): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.client.interactive.closeSession({ sessionId: this.id }, options);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
