import { randomBytes } from "node:crypto";

const alphabet = "0123456789abcdefghijklmnopqrstuvwxyz";

/** Short random ids with a type prefix (`sbx_`, `run_`, ...) so logs say what an id names. */
export function newId(prefix: string, length = 16): string {
  const bytes = randomBytes(length);
  let out = `${prefix}_`;
  for (const b of bytes) out += alphabet[b % alphabet.length];
  return out;
}

const idPattern = /^[a-z]{2,8}_[0-9a-z]{4,64}$/;

/** True when a client-supplied id has the shape of one of ours (before any lookup). */
export function isWellFormedId(id: string): boolean {
  return idPattern.test(id);
}
