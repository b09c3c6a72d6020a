import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SandboxService } from "../../src/gen/sandboxd/v1/sandbox_service_pb.js";
import { hashToken } from "../../src/rpc/auth.js";
import { createClient } from "../helpers/client.js";
import { startDaemon, type DaemonHandle } from "../helpers/daemon.js";
import { onKubernetes, plainWorkload, type PlainWorkload } from "../helpers/engine.js";
import { collect } from "../helpers/events.js";

// SandboxSpec.container_id hands the caller a container's files and processes. Each test
// tries to take a container it was not given, from the attacker's side, and expects the
// very answer a missing container gets.
const tokens = `alpha:${hashToken("alpha-secret")},beta:${hashToken("beta-secret")}`;
const missingId = "f".repeat(64);

let open: DaemonHandle; // attaching allowed for alpha, by full id or the listed name
let closed: DaemonHandle; // attaching off (the default)
const containers: PlainWorkload[] = [];

async function plainContainer(name: string, labels: Record<string, string> = {}): Promise<PlainWorkload> {
  const c = await plainWorkload(name, labels);
  containers.push(c);
  return c;
}

const suffix = Math.random().toString(16).slice(2, 8);
let workbench: PlainWorkload; // the container alpha is meant to attach to
let unlisted: PlainWorkload; // a container nobody listed by name
let labelled: PlainWorkload;

beforeAll(async () => {
  workbench = await plainContainer(`attach-workbench-${suffix}`, { team: "data" });
  unlisted = await plainContainer(`attach-unlisted-${suffix}`, { team: "data" });
  labelled = await plainContainer(`attach-nolabel-${suffix}`);
  open = await startDaemon({
    env: { SANDBOXD_AUTH__TOKENS: tokens },
    args: ["--attach.tenants", "alpha", "--attach.names", `attach-workbench-${suffix}`, "--attach.labels", "team=data"],
    clientOptions: { metadata: { authorization: "Bearer alpha-secret" } },
  });
  closed = await startDaemon();
});

afterAll(async () => {
  await open?.stop();
  await closed?.stop();
  for (const c of containers) await c.remove();
});

const as = (d: DaemonHandle, token: string) => createClient(SandboxService, d.address, { metadata: { authorization: `Bearer ${token}` } });

/** The error for `ref`, with the reference itself replaced, to compare with a missing one's. */
async function refusal(client: { createSandbox: DaemonHandle["sandbox"]["createSandbox"] }, ref: string): Promise<{ code: number; details: string }> {
  const err = (await client.createSandbox({ spec: { language: "python", containerId: ref } }).then(
    (r) => {
      throw new Error(`attached to ${ref}: sandbox ${r.sandbox?.id}`);
    },
    (e: { code: number; details: string }) => e,
  )) as { code: number; details: string };
  return { code: err.code, details: err.details.replace(JSON.stringify(ref), "REF") };
}

describe("attaching to existing containers is a capability the operator grants", () => {
  it("by default no tenant may attach, even by full id: the same NOT_FOUND as a missing container", async () => {
    const missing = await refusal(closed.sandbox, missingId);
    expect(missing.code).toBe(grpc.status.NOT_FOUND);
    expect(await refusal(closed.sandbox, workbench.id)).toEqual(missing);
    expect(closed.logs()).toMatch(/"refusal":"attaching is not enabled for tenant default.*"msg":"attach refused"/);
  });

  it("an allowed tenant attaches by exact full id or a listed name, and the log audits it", async () => {
    // Kubernetes has no unguessable container ids (a pod's name is its id): there only listed names attach.
    if (!onKubernetes) {
      const byId = await open.sandbox.createSandbox({ spec: { language: "python", containerId: workbench.id } });
      expect(byId.sandbox?.containerId).toBe(workbench.id);
      const r = await collect(open.sandbox.exec({ sandboxId: byId.sandbox!.id, shell: "hostname" }));
      expect(r.stdout.trim()).toBe(workbench.id.slice(0, 12));
      await open.sandbox.destroySandbox({ sandboxId: byId.sandbox!.id });
    }
    const byName = await open.sandbox.createSandbox({ spec: { language: "python", containerId: `attach-workbench-${suffix}` } });
    expect(byName.sandbox?.containerId).toBe(workbench.id);
    await open.sandbox.destroySandbox({ sandboxId: byName.sandbox!.id });
    expect(await workbench.running()).toBe(true);
    expect(open.logs()).toMatch(/"audit":"attach".*attached to existing container/);
  });

  it("refuses id prefixes, unlisted names, unlabelled containers and other tenants, like a missing container", async () => {
    const missing = await refusal(open.sandbox, missingId);
    expect(missing.code).toBe(grpc.status.NOT_FOUND);
    for (const ref of [workbench.id.slice(0, 1), workbench.id.slice(0, 12), `attach-unlisted-${suffix}`, unlisted.id.slice(0, 12), labelled.id]) {
      expect(await refusal(open.sandbox, ref), ref).toEqual(missing);
    }
    const beta = as(open, "beta-secret");
    expect(await refusal(beta, workbench.id)).toEqual(await refusal(beta, missingId));
    beta.close();
  });

  it("never attaches to a sandbox (another tenant's or its own) or any container with sandboxd's labels", async () => {
    const beta = as(open, "beta-secret");
    const { sandbox } = await beta.createSandbox({ spec: { language: "python" } });
    try {
      await collect(beta.exec({ sandboxId: sandbox!.id, shell: "echo beta-data > /sandbox/secret" }));
      const missing = await refusal(open.sandbox, missingId);
      expect(await refusal(open.sandbox, sandbox!.containerId)).toEqual(missing);
      // Not even the owner may wrap its own sandbox's container a second time.
      expect(await refusal(beta, sandbox!.containerId)).toEqual(await refusal(beta, missingId));
      // A foreign container that merely carries sandboxd's labels is refused too.
      for (const label of ["org.sandboxd.managed", "org.sandboxd.daemon", "org.sandboxd.sandbox-id", "org.sandboxd.pool"]) {
        const fake = await plainContainer(`attach-fake-${label.slice(13)}-${suffix}`, { team: "data", [label]: "x" });
        expect(await refusal(open.sandbox, fake.id), label).toEqual(missing);
      }
    } finally {
      await beta.destroySandbox({ sandboxId: sandbox!.id });
      beta.close();
    }
  });
});
