// The layer rules of docs/architecture.md, checked on every `npm test` (`npm run lint:layers`).
// Dependencies point one way: rpc → services → domain (and mcp → domain) (sandbox, interactive, artifacts,
// files, security) → runtime → common; engine clients and generated code stay in their folders.
const domain = "^src/(sandbox|interactive|artifacts|files|security)/";
const composition = "^src/(main|daemon)[.]ts$";

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      severity: "error",
      comment:
        "Import cycles hide the order modules load in and the route a request takes. A cycle made only of `import type` is erased at compile time and allowed (output-budget.ts <-> run.ts).",
      from: { path: "^src/" },
      to: { circular: true, viaOnly: { dependencyTypesNot: ["type-only"] } },
    },
    {
      name: "dockerode-only-in-runtime-docker",
      severity: "error",
      comment: "Only src/runtime/docker/ talks to the engine's client library; the rest sees ContainerRuntime.",
      from: { path: "^src/", pathNot: "^src/runtime/docker/" },
      // Resolved into node_modules, or named but not installed.
      to: { path: ["(^|/)node_modules/(@types/)?(dockerode|docker-modem)/", "^(dockerode|docker-modem)$"] },
    },
    {
      name: "kubernetes-only-in-runtime-kubernetes",
      severity: "error",
      comment: "Only src/runtime/kubernetes/ may import the Kubernetes client.",
      from: { path: "^src/", pathNot: "^src/runtime/kubernetes/" },
      to: { path: ["(^|/)node_modules/@kubernetes/client-node/", "^@kubernetes/client-node($|/)"] },
    },
    {
      name: "generated-code-only-in-rpc-and-services",
      severity: "error",
      comment: "Proto types stop at the service layer (convert.ts); the domain has its own types.",
      from: { path: "^src/", pathNot: ["^src/(rpc|services|gen)/", composition] },
      to: { path: "^src/gen/" },
    },
    {
      name: "domain-not-on-services-or-rpc",
      severity: "error",
      comment: "The domain knows nothing of gRPC, its services, the MCP layer or the composition root.",
      from: { path: domain },
      to: { path: ["^src/(services|rpc|mcp)/", composition] },
    },
    {
      name: "mcp-beside-services",
      severity: "error",
      comment: "src/mcp/ is a thin layer over the domain, beside the gRPC services: it calls the domain, never gRPC (no client of itself).",
      from: { path: "^src/mcp/" },
      to: { path: ["^src/(services|rpc|gen)/", "^src/main[.]ts$", "^src/daemon[.]ts$", "(^|/)node_modules/@grpc/", "^@grpc/"] },
    },
    {
      name: "runtime-not-on-domain-or-services",
      severity: "error",
      comment: "The runtime is below the domain: it runs processes and containers, and knows no sandbox.",
      from: { path: "^src/runtime/" },
      to: { path: [domain, "^src/(services|rpc)/", composition] },
    },
    {
      name: "common-imports-only-common",
      severity: "error",
      comment: "src/common/ is the bottom layer: it imports nothing of ours but itself.",
      from: { path: "^src/common/" },
      to: { path: "^src/", pathNot: "^src/common/" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "[.]test[.]ts$" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
      extensions: [".ts", ".js", ".mjs", ".d.ts"],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
