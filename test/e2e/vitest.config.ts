import { defineConfig } from "vitest/config";

// The e2e project: each generated client driven against a real daemon with real containers.
// Run alone with `npx vitest run --config test/e2e/vitest.config.ts`, or add this file to the
// root config's `projects`.
export default defineConfig({
  test: {
    name: "e2e",
    root: new URL("../..", import.meta.url).pathname,
    include: ["test/e2e/typescript/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    pool: "forks",
    maxWorkers: 2,
    minWorkers: 1,
  },
});
