import type { SandboxChannel } from "../runtime/sandbox-channel.js";
import type { SandboxConfig } from "./sandbox-config.js";

/**
 * Who a warm pool member was handed to. Its labels are fixed at creation, so the record is
 * a file inside it, written at hand-out and read when a restarted daemon adopts it.
 */
export interface OwnerRecord {
  sandboxId: string;
  tenant: string;
  createdAt: number;
  config: SandboxConfig;
  /** The API pool (PoolService) it was acquired from, if any. */
  poolId?: string;
}

const ownerFile = "/tmp/.sandboxd/owner.json";

export function writeOwner(channel: SandboxChannel, owner: OwnerRecord): Promise<void> {
  return channel.writeFile(ownerFile, Buffer.from(JSON.stringify(owner)), 0o600);
}

/** The owner record of a handed-out pool member, if it has one. */
export async function readOwner(channel: SandboxChannel): Promise<OwnerRecord | undefined> {
  try {
    const data = await channel.readFile(ownerFile, { maxBytes: 16 * 1024 * 1024 });
    if (!data) return undefined;
    const owner = JSON.parse(Buffer.from(data).toString("utf8")) as OwnerRecord;
    return owner.sandboxId && owner.tenant && owner.config ? owner : undefined;
  } catch {
    return undefined;
  }
}
