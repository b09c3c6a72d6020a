import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

type Gc = (options: { type: "minor" | "major"; execution: "sync" | "async" }) => void;

let gc: Gc | undefined;
let tried = false;

function collector(): Gc | undefined {
  if (!tried) {
    tried = true;
    try {
      // The only way to reach V8's collector without starting node with --expose-gc.
      setFlagsFromString("--expose-gc");
      gc = runInNewContext("gc") as Gc;
    } catch {
      gc = undefined;
    }
  }
  return gc;
}

/** Bytes moved between two young-generation collections. */
const budgetBytes = 16 * 1024 * 1024;

/**
 * Keeps a bulk transfer's garbage small. Each chunk of a transfer becomes garbage a moment
 * later, held outside the JS heap; V8 collects such memory only once tens of MiB of it
 * piled up, so a 1 GiB transfer would lift the daemon's RSS by that much. A scavenge every
 * 16 MiB moved (about a millisecond) frees the chunks early and keeps RSS flat.
 */
export class TransferGarbage {
  private pending = 0;

  add(bytes: number): void {
    this.pending += bytes;
    if (this.pending < budgetBytes) return;
    this.pending = 0;
    collector()?.({ type: "minor", execution: "sync" });
  }
}
