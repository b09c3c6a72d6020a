import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExitStatus, RunPhase } from "../../src/gen/sandboxd/v1/common_pb.js";
import { startDaemon, type DaemonHandle } from "../helpers/daemon.js";
import { collect, type Collected } from "../helpers/events.js";
import { gemScript, goProxyModuleScript, makeWheelCode, npmTarballScript, rPackageScript, type PackageScript } from "../helpers/packages.js";

// A sandbox without network (NETWORK_MODE_NONE, the default) cannot download libraries:
// installing one by name fails within seconds, not after the package manager's retries
// and the run's deadline, and the exit says why and how to give the sandbox egress.
// What the image already has, and package files in the sandbox, still install.

let d: DaemonHandle;

beforeAll(async () => {
  d = await startDaemon();
});

afterAll(async () => {
  await d?.stop();
});

/**
 * Well under the package managers' own retries and timeouts (pip ~8 s and more, npm ~70 s;
 * gem, go and R wait for each connection where packets are dropped rather than refused),
 * with room for a loaded machine.
 */
const fast = 20_000;
const noNetwork = /^installing libraries failed: sandbox \S+ has no network \(NETWORK_MODE_NONE\), .*create the sandbox with network NETWORK_MODE_BRIDGE/;

async function timed(call: Promise<Collected>): Promise<Collected & { ms: number }> {
  const t0 = Date.now();
  const r = await call;
  return { ...r, ms: Date.now() - t0 };
}

/** Runs a package-building script in the sandbox (no network needed). */
async function build(sandboxId: string, pkg: PackageScript): Promise<void> {
  const r = await collect(d.sandbox.exec({ sandboxId, shell: pkg.shell, timeoutMs: 110_000 }));
  expect({ exit: r.exit.exitCode, stderr: r.stderr }).toMatchObject({ exit: 0 });
}

function expectNoNetworkFailure(r: Collected & { ms: number }, library: string): void {
  expect(r.exit.status).toBe(ExitStatus.EXITED);
  expect(r.exit.phase).toBe(RunPhase.INSTALL);
  expect(r.exit.exitCode).not.toBe(0);
  expect(r.exit.message).toMatch(noNetwork);
  expect(r.exit.message).toContain(library);
  expect(r.ms).toBeLessThan(fast);
}

describe("python (pip) without network", () => {
  let id = "";
  beforeAll(async () => {
    id = (await d.sandbox.createSandbox({ spec: { language: "python" } })).sandbox!.id;
  });
  afterAll(async () => {
    await d.sandbox.destroySandbox({ sandboxId: id });
  });

  it("Install of a name it would have to download fails fast, naming the cause", async () => {
    const r = await timed(collect(d.sandbox.install({ sandboxId: id, libraries: ["sbx-not-in-the-image"] })));
    expectNoNetworkFailure(r, "sbx-not-in-the-image");
    expect(r.stderr).toMatch(/No matching distribution found for sbx-not-in-the-image/);
  });

  it("libraries of a Run fail the same way, and the program does not run", async () => {
    const r = await timed(collect(d.sandbox.run({ sandboxId: id, code: "print('never')", libraries: ["sbx-not-in-the-image==1.0"] })));
    expectNoNetworkFailure(r, "sbx-not-in-the-image==1.0");
    expect(r.stdout).not.toContain("never");
  });

  it("a library the image has, and a wheel in the sandbox, still install", async () => {
    const present = await timed(collect(d.sandbox.install({ sandboxId: id, libraries: ["numpy", "pandas"] })));
    expect(present.exit.exitCode).toBe(0);
    expect(present.stdout).toMatch(/Requirement already satisfied: numpy/);
    const wheel = (await collect(d.sandbox.run({ sandboxId: id, code: makeWheelCode("offline_sbx", "1.0", "/sandbox/wheels") }))).stdout.trim();
    const r = await collect(d.sandbox.run({ sandboxId: id, code: "import offline_sbx, numpy\nprint(offline_sbx.hello())", libraries: [wheel, "numpy"] }));
    expect(r.exit.exitCode).toBe(0);
    expect(r.stdout).toMatch(/Successfully installed offline[-_]sbx-1\.0/);
    expect(r.stdout).toContain("hello from the wheel\n");
  });

  it("a missing local file fails with the plain message (the network is not the cause)", async () => {
    const r = await collect(d.sandbox.install({ sandboxId: id, libraries: ["/sandbox/missing-1.0-py3-none-any.whl"] }));
    expect(r.exit.exitCode).not.toBe(0);
    expect(r.exit.message).toBe("installing libraries failed");
  });
});

describe("javascript (npm) without network", () => {
  let id = "";
  beforeAll(async () => {
    id = (await d.sandbox.createSandbox({ spec: { language: "javascript" } })).sandbox!.id;
  });
  afterAll(async () => {
    await d.sandbox.destroySandbox({ sandboxId: id });
  });

  it("Install of a registry package fails fast, naming the cause", async () => {
    const r = await timed(collect(d.sandbox.install({ sandboxId: id, libraries: ["left-pad"] })));
    expectNoNetworkFailure(r, "left-pad");
    expect(r.stderr).toMatch(/ENOTCACHED/);
  });

  it("libraries of an ephemeral Run fail the same way", async () => {
    const r = await timed(collect(d.sandbox.run({ language: "javascript", code: "console.log('never')", libraries: ["left-pad@1.3.0"] })));
    expectNoNetworkFailure(r, "left-pad@1.3.0");
    expect(r.stdout).not.toContain("never");
  });

  it("a tarball in the sandbox still installs, and then its name is satisfied offline", async () => {
    const pkg = npmTarballScript("/sandbox/pkgs", "sbx-offline", "1.0.0", { "index.js": 'exports.hello = () => "hello offline";' });
    expect((await collect(d.sandbox.exec({ sandboxId: id, shell: pkg.shell, timeoutMs: 60_000 }))).exit.exitCode).toBe(0);
    const r = await collect(d.sandbox.install({ sandboxId: id, libraries: [pkg.path] }));
    expect(r.exit.exitCode).toBe(0);
    expect(r.stdout).toMatch(/added 1 package/);
    const again = await collect(d.sandbox.run({ sandboxId: id, code: 'console.log(require("sbx-offline").hello())', libraries: ["sbx-offline"] }));
    expect(again.exit.exitCode).toBe(0);
    expect(again.stdout).toContain("hello offline\n");
  });
});

describe("ruby (gem) without network", () => {
  let id = "";
  beforeAll(async () => {
    id = (await d.sandbox.createSandbox({ spec: { language: "ruby" } })).sandbox!.id;
  });
  afterAll(async () => {
    await d.sandbox.destroySandbox({ sandboxId: id });
  });

  it("Install of a gem it would have to download fails fast, naming the cause", async () => {
    const r = await timed(collect(d.sandbox.install({ sandboxId: id, libraries: ["sbx-not-in-the-image"] })));
    expectNoNetworkFailure(r, "sbx-not-in-the-image");
    // --local: RubyGems does not even try rubygems.org (it would say "Unable to download data").
    expect(r.stderr).toMatch(/Could not find a valid gem 'sbx-not-in-the-image' \(>= 0\) in any repository/);
    expect(r.stderr).not.toMatch(/rubygems\.org/);
  });

  it("libraries of a Run fail the same way, and the program does not run", async () => {
    const r = await timed(collect(d.sandbox.run({ sandboxId: id, code: 'puts "never"', libraries: ["sbx-not-in-the-image:1.0"] })));
    expectNoNetworkFailure(r, "sbx-not-in-the-image:1.0");
    expect(r.stdout).not.toContain("never");
  });

  it("a gem the image has, and a .gem in the sandbox, still install; then its name is satisfied offline", async () => {
    const present = await collect(d.sandbox.run({ sandboxId: id, code: 'require "rake"\nputs Rake::VERSION', libraries: ["rake"] }));
    expect(present.exit.exitCode, present.stderr).toBe(0);
    expect(present.stdout).toMatch(/^\d+\.\d+/);
    const gem = gemScript("/sandbox/pkgs", "sbx_offline", "1.0.0", { "lib/sbx_offline.rb": 'module SbxOffline\n  def self.hello = "hello offline"\nend' });
    await build(id, gem);
    const r = await collect(d.sandbox.install({ sandboxId: id, libraries: [gem.path] }));
    expect(r.exit.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain("Successfully installed sbx_offline-1.0.0");
    const again = await collect(d.sandbox.run({ sandboxId: id, code: 'require "sbx_offline"\nputs SbxOffline.hello', libraries: ["sbx_offline"] }));
    expect(again.exit.exitCode, again.stderr).toBe(0);
    expect(again.stdout).toBe("hello offline\n");
  });

  it("a missing .gem fails with the plain message (the network is not the cause)", async () => {
    const r = await collect(d.sandbox.install({ sandboxId: id, libraries: ["/sandbox/missing-1.0.0.gem"] }));
    expect(r.exit.exitCode).not.toBe(0);
    expect(r.exit.message).toBe("installing libraries failed");
  });
});

describe("go (go get) without network", () => {
  let id = "";
  beforeAll(async () => {
    // GONOSUMDB: the test's module is in no checksum database (as a private module would be).
    id = (await d.sandbox.createSandbox({ spec: { language: "go", env: { GONOSUMDB: "example.com" } } })).sandbox!.id;
  });
  afterAll(async () => {
    await d.sandbox.destroySandbox({ sandboxId: id });
  });

  it("Install of a module it would have to download fails fast, naming the cause", async () => {
    const r = await timed(collect(d.sandbox.install({ sandboxId: id, libraries: ["golang.org/x/sbx-not-in-the-image"] })));
    expectNoNetworkFailure(r, "golang.org/x/sbx-not-in-the-image");
    expect(r.stderr).toMatch(/module lookup disabled by GOPROXY=off/);
  });

  it("libraries of an ephemeral Run fail the same way, and the program does not run", async () => {
    const code = 'package main\n\nimport "fmt"\n\nfunc main() {\n\tfmt.Println("never")\n}';
    const r = await timed(collect(d.sandbox.run({ language: "go", code, libraries: ["github.com/google/uuid@v1.6.0"] })));
    expectNoNetworkFailure(r, "github.com/google/uuid@v1.6.0");
    expect(r.stdout).not.toContain("never");
  });

  it("a module already in the sandbox's module cache still installs", async () => {
    const mod = goProxyModuleScript("/tmp/goproxy", "example.com/offline", "v1.0.0", {
      "offline.go": 'package offline\n\nfunc Hello() string { return "hello offline" }\n',
    });
    await build(id, mod);
    // Into the module cache (GOPATH) from a file-system proxy, as a custom image would carry it.
    const cached = await collect(
      d.sandbox.exec({ sandboxId: id, shell: "cd /tmp && GOPROXY=file:///tmp/goproxy go mod download example.com/offline@v1.0.0", timeoutMs: 110_000 }),
    );
    expect(cached.exit.exitCode, cached.stderr).toBe(0);
    const code = 'package main\n\nimport (\n\t"fmt"\n\n\t"example.com/offline"\n)\n\nfunc main() {\n\tfmt.Println(offline.Hello())\n}';
    const r = await collect(d.sandbox.run({ sandboxId: id, code, libraries: ["example.com/offline@v1.0.0"], timeoutMs: 110_000 }));
    expect(r.exit.phase, r.stderr).toBe(RunPhase.RUN);
    expect(r.exit.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toContain("go: added example.com/offline v1.0.0");
    expect(r.stdout).toBe("hello offline\n");
  });
});

describe("r (install.packages) without network", () => {
  let id = "";
  beforeAll(async () => {
    id = (await d.sandbox.createSandbox({ spec: { language: "r" } })).sandbox!.id;
  });
  afterAll(async () => {
    await d.sandbox.destroySandbox({ sandboxId: id });
  });

  it("Install of a package it would have to download fails fast, naming the cause", async () => {
    const r = await timed(collect(d.sandbox.install({ sandboxId: id, libraries: ["sbx.not.in.the.image"] })));
    expectNoNetworkFailure(r, "sbx.not.in.the.image");
    expect(r.stderr).toMatch(/not installed, and not downloadable without network: sbx\.not\.in\.the\.image/);
    expect(r.stderr).not.toMatch(/cloud\.r-project\.org|unable to access index/);
  });

  it("libraries of a Run fail the same way, and the program does not run", async () => {
    const r = await timed(collect(d.sandbox.run({ sandboxId: id, code: 'cat("never\\n")', libraries: ["lattice", "sbx.not.in.the.image"] })));
    expectNoNetworkFailure(r, "sbx.not.in.the.image");
    expect(r.stdout).not.toContain("never");
  });

  it("packages the image has, and a source package in the sandbox, still install; then its name is satisfied offline", async () => {
    const present = await collect(d.sandbox.run({ sandboxId: id, code: 'library(lattice)\ncat("lattice ok\\n")', libraries: ["ggplot2", "lattice"] }));
    expect(present.exit.exitCode, present.stderr).toBe(0);
    expect(present.stdout).toBe("lattice ok\n");
    const pkg = rPackageScript("/sandbox/my_pkgs", "sbxoffline", "1.0", ["hello"], 'hello <- function() "hello offline"\n');
    await build(id, pkg);
    const r = await collect(d.sandbox.install({ sandboxId: id, libraries: [pkg.path] }));
    expect(r.exit.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toContain("DONE (sbxoffline)");
    const again = await collect(d.sandbox.run({ sandboxId: id, code: 'library(sbxoffline)\ncat(hello(), "\\n", sep = "")', libraries: ["sbxoffline"] }));
    expect(again.exit.exitCode, again.stderr).toBe(0);
    expect(again.stdout).toBe("hello offline\n");
  });

  it("a missing source package fails with the plain message (the network is not the cause)", async () => {
    const r = await collect(d.sandbox.install({ sandboxId: id, libraries: ["/sandbox/missing_1.0.tar.gz"] }));
    expect(r.exit.exitCode).not.toBe(0);
    expect(r.exit.message).toBe("installing libraries failed");
  });
});
