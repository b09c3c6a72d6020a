import { fromBinary } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import type { Metadata } from "@grpc/grpc-js";
import { createHash } from "node:crypto";
import { createServer, type Server } from "node:net";
import { networkInterfaces } from "node:os";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { ErrorDetailSchema, ErrorStatusSchema } from "../../src/gen/sandboxd/v1/common_pb.js";
import type { BuildImageResponse } from "../../src/gen/sandboxd/v1/sandbox_service_pb.js";
import { backend, docker, onKubernetes, startDaemon, type DaemonHandle } from "../helpers/daemon.js";
import { collect } from "../helpers/events.js";

// BuildImage: a Dockerfile's build streamed to the caller while it runs, its image then used
// by sandboxes; and, from an attacker's side, a build's RUN steps cannot reach this host.

let d: DaemonHandle;
const built: string[] = [];
const nonce = () => Math.random().toString(36).slice(2, 10);

interface GrpcError {
  code: number;
  details: string;
  metadata: Metadata;
}

function reasonOf(err: GrpcError): string | undefined {
  const raw = err.metadata?.get("grpc-status-details-bin")[0] as Buffer | undefined;
  if (!raw) return undefined;
  return anyUnpack(fromBinary(ErrorStatusSchema, raw).details[0]!, ErrorDetailSchema)?.reason;
}

/** Every message of a BuildImage call, and its error when it failed. */
async function build(stream: AsyncIterable<BuildImageResponse>): Promise<{ messages: BuildImageResponse[]; output: string; error?: GrpcError }> {
  const messages: BuildImageResponse[] = [];
  try {
    for await (const m of stream) messages.push(m);
  } catch (err) {
    return { messages, output: outputOf(messages), error: err as GrpcError };
  }
  const last = messages.at(-1);
  if (last?.event.case === "result") built.push(last.event.value.image);
  return { messages, output: outputOf(messages) };
}

const outputOf = (messages: BuildImageResponse[]) => messages.flatMap((m) => (m.event.case === "output" ? [m.event.value] : [])).join("");

beforeAll(async () => {
  d = await startDaemon();
});

afterAll(async () => {
  await d?.stop();
  if (!onKubernetes)
    for (const image of built)
      await docker
        .getImage(image)
        .remove({ force: true })
        .catch(() => undefined);
});

describe.skipIf(onKubernetes)("BuildImage", () => {
  it("streams the build's output while it runs, then names an image sandboxes start from", async () => {
    const tag = nonce();
    const dockerfile = {
      content: `FROM sandboxd/base:latest\nCOPY greeting.txt /greeting.txt\nRUN echo "first-${tag}" && sleep 2 && echo "second-${tag}"\n`,
      contextFiles: { "greeting.txt": Buffer.from(`hello ${tag}\n`) },
    };
    const { messages, output, error } = await build(d.sandbox.buildImage({ dockerfile }));
    expect(error).toBeUndefined();
    // The step headers and the RUN step's own output, before the result, in order; the two
    // echoes two seconds apart arrive as separate messages (streamed, not sent at the end).
    expect(output).toMatch(/Step 1\/\d ?: FROM sandboxd\/base:latest/i); // Docker: "Step 1/3 :", Podman: "STEP 1/3:"
    // (The RUN header names both words too; the step's output lines are the words alone.)
    const line = (word: string) => new RegExp(`^${word}-${tag}$`, "m");
    const isLine = (word: string) => (m: BuildImageResponse) => m.event.case === "output" && line(word).test(m.event.value);
    expect(output.search(line("first"))).toBeGreaterThan(output.search(/Step \d\/\d ?: RUN echo/i));
    expect(output.search(line("second"))).toBeGreaterThan(output.search(line("first")));
    const firstAt = messages.findIndex(isLine("first"));
    const secondAt = messages.findIndex(isLine("second"));
    expect(firstAt).toBeGreaterThan(-1);
    expect(secondAt).toBeGreaterThan(firstAt);
    const result = messages.at(-1)!.event;
    expect(result.case).toBe("result");
    if (result.case !== "result") return;
    expect(result.value.image).toMatch(/^sandboxd-build\/[0-9a-f]{20}:latest$/);
    expect(result.value.cached).toBe(false);
    expect(result.value.durationMs).toBeGreaterThan(0n);

    // A sandbox from that image has the context file.
    const { sandbox } = await d.sandbox.createSandbox({ spec: { language: "bash", image: result.value.image } });
    try {
      const r = await collect(d.sandbox.exec({ sandboxId: sandbox!.id, argv: ["cat", "/greeting.txt"] }));
      expect(r.stdout).toBe(`hello ${tag}\n`);
    } finally {
      await d.sandbox.destroySandbox({ sandboxId: sandbox!.id });
    }

    // The same Dockerfile again: the image is there, nothing is built; a sandbox created with
    // the Dockerfile itself runs the same image.
    const again = await build(d.sandbox.buildImage({ dockerfile }));
    expect(again.messages.map((m) => m.event.case)).toEqual(["result"]);
    expect(again.messages[0]!.event.value).toMatchObject({ image: result.value.image, cached: true });
    const viaSpec = await d.sandbox.createSandbox({ spec: { language: "bash", dockerfile } });
    expect(viaSpec.sandbox!.image).toBe(result.value.image);
    await d.sandbox.destroySandbox({ sandboxId: viaSpec.sandbox!.id });
  });

  it("a failing step: its output, then INVALID_ARGUMENT with reason IMAGE_BUILD_FAILED", async () => {
    const tag = nonce();
    const r = await build(d.sandbox.buildImage({ dockerfile: { content: `FROM sandboxd/base:latest\nRUN echo "about-to-fail-${tag}" && exit 3\n` } }));
    expect(r.output).toContain(`about-to-fail-${tag}`);
    expect(r.error).toMatchObject({ code: 3, details: expect.stringMatching(/image build failed: .*(returned a non-zero code: 3|exit status 3)/) });
    expect(reasonOf(r.error!)).toBe("IMAGE_BUILD_FAILED");
  });

  it("refuses an empty Dockerfile: INVALID_ARGUMENT, reason DOCKERFILE_MISSING", async () => {
    const r = await build(d.sandbox.buildImage({ dockerfile: { content: "  \n" } }));
    expect(r.error).toMatchObject({ code: 3, details: expect.stringMatching(/dockerfile.content is required/) });
    expect(reasonOf(r.error!)).toBe("DOCKERFILE_MISSING");
  });

  it("a build whose only caller went away stops: its RUN container goes and no image is left", async () => {
    const tag = nonce();
    const dockerfile = { content: `FROM sandboxd/base:latest\nRUN echo "started-${tag}" && sleep 60\n` };
    const abort = new AbortController();
    const seen = (async () => {
      for await (const m of d.sandbox.buildImage({ dockerfile }, { signal: abort.signal })) {
        if (m.event.case === "output" && m.event.value.includes(`started-${tag}`)) abort.abort();
      }
    })();
    await expect(seen).rejects.toMatchObject({ code: 1 });
    // The engine notices the closed build connection and stops the RUN step's container.
    let buildContainers = 1;
    for (let i = 0; i < 60 && buildContainers > 0; i++) {
      await new Promise((r) => setTimeout(r, 500));
      const all = await docker.listContainers({ all: true });
      buildContainers = all.filter((c) => c.Command.includes(`started-${tag}`)).length;
    }
    expect(buildContainers).toBe(0);
    // The image the build would have made (tags are the content's hash) does not exist.
    const hash = createHash("sha256")
      .update(JSON.stringify({ content: dockerfile.content, contextFiles: {} }))
      .digest("hex")
      .slice(0, 20);
    await expect(docker.getImage(`sandboxd-build/${hash}:latest`).inspect()).rejects.toMatchObject({ statusCode: 404 });
  });
});

describe.skipIf(!onKubernetes)("BuildImage on Kubernetes", () => {
  it("is refused with FAILED_PRECONDITION, reason NOT_SUPPORTED_BY_BACKEND", async () => {
    const r = await build(d.sandbox.buildImage({ dockerfile: { content: "FROM sandboxd/base:latest\n" } }));
    expect(r.error).toMatchObject({ code: 9, details: expect.stringMatching(/building images .* not available on the Kubernetes backend/) });
    expect(reasonOf(r.error!)).toBe("NOT_SUPPORTED_BY_BACKEND");
  });
});

// ---- From the attacker's side: a Dockerfile's RUN steps cannot reach this host ----------

/** A non-loopback IPv4 address of this machine (services listening on 0.0.0.0 answer on it). */
function hostAddress(): string {
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === "IPv4" && !a.internal && !a.address.startsWith("172.") && !a.address.startsWith("10.88.")) return a.address;
  }
  for (const addrs of Object.values(networkInterfaces())) for (const a of addrs ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
  throw new Error("no non-loopback IPv4 address");
}

describe.skipIf(onKubernetes)("a build's network", () => {
  let server: Server;
  let port = 0;
  const connections: string[] = [];
  beforeAll(async () => {
    server = createServer((socket) => {
      socket.on("data", (b) => connections.push(b.toString()));
      socket.end("host-secret\n");
    });
    await new Promise<void>((resolve) => server.listen(0, "0.0.0.0", resolve));
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => server?.close());

  const probe = (tag: string) => ({
    content:
      "FROM sandboxd/base:latest\n" +
      `RUN python3 -c "import socket; s = socket.create_connection(('${hostAddress()}', ${port}), 5); s.sendall(b'${tag}'); print('got', s.recv(100))"\n`,
  });

  it("by default RUN steps have no network: a build that connects to a server on this host fails, and the server sees nothing (Podman: refused)", async () => {
    const tag = `probe-${nonce()}`;
    // The suite's Podman daemons allow networked builds (engine.ts); this one has the default.
    const offline = backend === "podman" ? await startDaemon({ args: ["--network.build", "none"] }) : d;
    onTestFinished(async () => {
      if (offline !== d) await offline.stop();
    });
    const r = await build(offline.sandbox.buildImage({ dockerfile: probe(tag) }));
    if (backend === "podman") {
      // Podman's build API would run the step in the host's network namespace: nothing runs.
      expect(r.error).toMatchObject({ code: 9, details: expect.stringMatching(/cannot be kept off the host's network/) });
      expect(reasonOf(r.error!)).toBe("BUILD_NETWORK_UNAVAILABLE");
      expect(r.output).toBe("");
      expect(connections.filter((c) => c.includes(tag))).toEqual([]);
      return;
    }
    expect(r.error).toMatchObject({ code: 3 });
    expect(reasonOf(r.error!)).toBe("IMAGE_BUILD_FAILED");
    expect(r.output).toMatch(/Network is unreachable|OSError|Errno/);
    expect(r.output).not.toContain("host-secret");
    expect(connections.filter((c) => c.includes(tag))).toEqual([]);
  });

  it("the probe itself works: with --network.build default the same build reaches the server (what the default prevents)", async () => {
    const open = await startDaemon({ args: ["--network.build", "default"] });
    try {
      const tag = `probe-${nonce()}`;
      const r = await build(open.sandbox.buildImage({ dockerfile: probe(tag) }));
      expect(r.error).toBeUndefined();
      expect(r.output).toContain("host-secret");
      expect(connections.some((c) => c.includes(tag))).toBe(true);
    } finally {
      await open.stop();
    }
  });
});
