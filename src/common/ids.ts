import { randomBytes } from "node:crypto";

const alphabet = "0123456789abcdefghijklmnopqrstuvwxyz";

/** Short random ids with a type prefix (`sbx_`, `run_`, ...) so logs say what an id names. */
export function newId(prefix: string, length = 16): string {
  const bytes = randomBytes(length);
  let out = `${prefix}_`;
  for (const b of bytes) out += alphabet[b % alphabet.length];
  return out;
}
