#!/usr/bin/env node
// Copies the files the daemon reads at run time beside its code (agent and runner scripts,
// capture hooks, the policy worker's boot file: everything under src/ that tsc does not
// compile) to the same relative paths under the build's output directory.
// Usage: node scripts/copy-assets.mjs [outDir]   (default: dist)
import { copyFileSync, mkdirSync, readdirSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const root = resolve(dirname(new URL(import.meta.url).pathname), "..");
const src = join(root, "src");
const out = resolve(root, process.argv[2] ?? "dist");

let copied = 0;
for (const entry of readdirSync(src, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || entry.name.endsWith(".ts")) continue;
  const from = join(entry.parentPath ?? entry.path, entry.name); // parentPath: Node 20.12+
  const to = join(out, relative(src, from));
  mkdirSync(dirname(to), { recursive: true });
  copyFileSync(from, to);
  copied++;
}
process.stdout.write(`copied ${copied} assets to ${relative(root, out) || "."}\n`);
