import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { pack as tarPack } from "tar-stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Artifact } from "../../src/gen/sandboxd/v1/common_pb.js";
import { SandboxService, TransferKind, type DownloadTrailer } from "../../src/gen/sandboxd/v1/sandbox_service_pb.js";
import { hashToken } from "../../src/rpc/auth.js";
import { createClient } from "../helpers/client.js";
import { repoRoot, startDaemon, type DaemonHandle } from "../helpers/daemon.js";
import { collect, collectTransfer, type Collected } from "../helpers/events.js";

const tokens = `alpha:${hashToken("alpha-secret")},beta:${hashToken("beta-secret")}`;
let d: DaemonHandle;
let sandboxId: string;

beforeAll(async () => {
  d = await startDaemon({ env: { SANDBOXD_AUTH__TOKENS: tokens }, clientOptions: { metadata: { authorization: "Bearer alpha-secret" } } });
  sandboxId = (await d.sandbox.createSandbox({ spec: { language: "python" } })).sandbox?.id ?? "";
});

afterAll(async () => {
  await d?.stop();
});

function artifactsOf(r: Collected): Artifact[] {
  return r.events.flatMap((e) => (e.event.case === "artifact" ? [e.event.value] : []));
}

async function run(code: string, opts: { clearArtifacts?: boolean; sandbox?: string } = {}) {
  return collect(d.sandbox.run({ sandboxId: opts.sandbox ?? sandboxId, code, clearArtifacts: opts.clearArtifacts ?? false, timeoutMs: 120_000 }));
}

async function fetchArtifact(id: string, sandbox = sandboxId) {
  return collectTransfer<Artifact, DownloadTrailer>(d.sandbox.downloadArtifact({ sandboxId: sandbox, artifactId: id }), "artifact");
}

/** Width and height from a PNG's signature and IHDR chunk: what an image viewer reads first. */
function pngSize(data: Buffer): { width: number; height: number } {
  expect(data.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).toBe(true);
  expect(data.subarray(12, 16).toString("latin1")).toBe("IHDR");
  return { width: data.readUInt32BE(16), height: data.readUInt32BE(20) };
}

const twoPlots = `
import matplotlib.pyplot as plt
for i in range(2):
    plt.figure()
    plt.plot([1, 2, 3], [i, i + 1, i * 2])
    plt.show()
print("done")
`;
const onePlot = "import matplotlib.pyplot as plt\nplt.plot([3, 1, 2])\nplt.show()\n";

describe("plot capture (Python)", () => {
  it("announces each plot before the exit; plots accumulate with one counter until cleared", async () => {
    const first = await run(twoPlots);
    expect(first.stdout).toBe("done\n");
    expect(first.stderr).toBe("");
    const a1 = artifactsOf(first);
    expect(a1.map((a) => a.index)).toEqual([1, 2]);
    expect(a1.every((a) => a.format === "png" && a.mimeType === "image/png" && a.runId === first.runId && a.sandboxId === sandboxId)).toBe(true);
    // Every artifact event comes before the exit event.
    const kinds = first.events.map((e) => e.event.case);
    expect(kinds.lastIndexOf("artifact")).toBeLessThan(kinds.indexOf("exited"));
    expect((await d.sandbox.listArtifacts({ sandboxId })).artifacts.map((a) => a.index)).toEqual([1, 2]);

    const second = await run(onePlot);
    expect(artifactsOf(second).map((a) => a.index)).toEqual([3]);
    const listed = (await d.sandbox.listArtifacts({ sandboxId })).artifacts;
    expect(listed.map((a) => a.index)).toEqual([1, 2, 3]);
    expect(listed.map((a) => a.name)).toEqual(["000001.png", "000002.png", "000003.png"]);

    const cleared = await d.sandbox.clearArtifacts({ sandboxId });
    expect(cleared.cleared).toBe(3);
    expect((await d.sandbox.listArtifacts({ sandboxId })).artifacts).toEqual([]);
    await expect(fetchArtifact(listed[0]?.id ?? "")).rejects.toMatchObject({ code: 5 });
    const third = await run(onePlot);
    expect(artifactsOf(third).map((a) => a.index)).toEqual([1]);

    // clear_artifacts on a run clears first: the run's own plot is then number 1 again.
    await run(twoPlots);
    expect((await d.sandbox.listArtifacts({ sandboxId })).artifacts.length).toBe(3);
    const fresh = await run(onePlot, { clearArtifacts: true });
    expect(artifactsOf(fresh).map((a) => a.index)).toEqual([1]);
    expect((await d.sandbox.listArtifacts({ sandboxId })).artifacts.map((a) => a.index)).toEqual([1]);
  });

  it("downloads a plot whose bytes are the PNG its metadata describes", async () => {
    const r = await run("import matplotlib.pyplot as plt\nplt.figure(figsize=(4, 3), dpi=50)\nplt.plot([1, 2])\nplt.show()", { clearArtifacts: true });
    const [a] = artifactsOf(r);
    expect(a).toBeDefined();
    const { head, trailer, data } = await fetchArtifact(a?.id ?? "");
    expect(head?.id).toBe(a?.id);
    expect(Number(head?.size)).toBe(data.length);
    expect(Number(a?.size)).toBe(data.length);
    expect(trailer?.sha256).toBe(createHash("sha256").update(data).digest("hex"));
    const size = pngSize(data);
    expect(size).toEqual({ width: 200, height: 150 });
    expect([a?.width, a?.height, a?.dpi]).toEqual([200, 150, 50]);
  });

  it("keeps the program's stdout and stderr exactly as printed, and the backend Agg", async () => {
    const code = `
import sys, os
import matplotlib
import matplotlib.pyplot as plt
import seaborn as sns
print("backend", matplotlib.get_backend())
print("to err", file=sys.stderr)
plt.plot([1, 2, 3])
plt.show()
fig = plt.figure()
fig.show()
print("capture env visible:", any(k.startswith("SANDBOXD") for k in os.environ), "PYTHONPATH" in os.environ, any("sandboxd" in p for p in sys.path))
`;
    const r = await run(code);
    expect(r.stdout).toBe("backend agg\ncapture env visible: False False False\n");
    expect(r.stderr).toBe("to err\n");
    expect(r.exit.exitCode).toBe(0);
    expect(artifactsOf(r).length).toBe(1); // the empty figure shown with fig.show() is not a plot
  });

  it("leaves programs that plot nothing alone and does not import plotting libraries for them", async () => {
    const r = await run("import sys\nprint(sorted(m for m in ('matplotlib', 'plotly', 'bokeh', 'numpy') if m in sys.modules))");
    expect(r.stdout).toBe("[]\n");
    expect(r.stderr).toBe("");
    expect(artifactsOf(r)).toEqual([]);
  });

  it("captures savefig copies in their format, figures left open at exit, and seaborn", async () => {
    const code = `
import io
import matplotlib.pyplot as plt
import seaborn as sns
fig, ax = plt.subplots(figsize=(2, 2), dpi=100)
ax.plot([1, 2])
fig.savefig("chart.svg")
fig.savefig("chart.pdf")
fig.savefig("chart.jpg")
buf = io.BytesIO()
fig.savefig(buf, format="png")
plt.close(fig)
sns.histplot([1, 2, 2, 3, 3, 3])
print(open("chart.svg").read().startswith("<?xml"))
`;
    const r = await run(code, { clearArtifacts: true });
    expect(r.stdout).toBe("True\n");
    expect(r.stderr).toBe("");
    const arts = artifactsOf(r);
    expect(arts.map((a) => a.format)).toEqual(["svg", "pdf", "jpeg", "png", "png"]);
    expect(arts.map((a) => a.mimeType)).toEqual(["image/svg+xml", "application/pdf", "image/jpeg", "image/png", "image/png"]);
    const svg = (await fetchArtifact(arts[0]?.id ?? "")).data;
    expect(parseWithPython(svg, "import sys, xml.etree.ElementTree as E; print(E.fromstring(sys.stdin.buffer.read()).tag)")).toBe(
      "{http://www.w3.org/2000/svg}svg",
    );
    const pdf = (await fetchArtifact(arts[1]?.id ?? "")).data;
    expect(pdf.subarray(0, 5).toString("latin1")).toBe("%PDF-");
    expect(pdf.subarray(-6).toString("latin1")).toMatch(/%%EOF\s*$/);
    const jpeg = (await fetchArtifact(arts[2]?.id ?? "")).data;
    expect(jpeg.subarray(0, 3).equals(Buffer.from([0xff, 0xd8, 0xff]))).toBe(true);
    expect(jpeg.subarray(-2).equals(Buffer.from([0xff, 0xd9]))).toBe(true);
    expect(pngSize((await fetchArtifact(arts[3]?.id ?? "")).data)).toEqual({ width: 200, height: 200 });
    // The seaborn histogram was never shown or saved: captured when the program ended.
    expect(pngSize((await fetchArtifact(arts[4]?.id ?? "")).data).width).toBeGreaterThan(100);
  });

  it("captures matplotlib, seaborn, plotly and bokeh plots, each in the format it claims", async () => {
    const wheels = bokehWheels();
    const { sandbox } = await d.sandbox.createSandbox({ spec: { language: "python" } });
    const id = sandbox?.id ?? "";
    try {
      if (wheels.length > 0) {
        await d.sandbox.uploadFiles(uploadTar(id, "wheels", wheels));
        const install = await collect(
          d.sandbox.exec({
            sandboxId: id,
            shell: "python3 -m pip install --user --break-system-packages --no-index --find-links wheels bokeh >/dev/null 2>&1 && echo ok",
          }),
        );
        expect(install.stdout).toBe("ok\n");
      }
      const code = `
import matplotlib.pyplot as plt
import seaborn as sns
import plotly.express as px
plt.plot([1, 2, 3]); plt.title("matplotlib"); plt.show()
sns.barplot(x=["a", "b"], y=[1, 2]); plt.show()
px.line(x=[1, 2, 3], y=[3, 1, 2], title="plotly").show()
try:
    from bokeh.plotting import figure, show
    p = figure(title="bokeh", width=300, height=200)
    p.line([1, 2, 3], [1, 3, 2])
    show(p)
except ImportError:
    pass
print("plotted")
`;
      const r = await run(code, { sandbox: id });
      expect(r.stdout).toBe("plotted\n");
      expect(r.stderr).toBe("");
      const arts = artifactsOf(r);
      const expected = wheels.length > 0 ? ["png", "png", "html", "html"] : ["png", "png", "html"];
      expect(arts.map((a) => a.format)).toEqual(expected);
      expect(arts.map((a) => a.index)).toEqual(expected.map((_, i) => i + 1));
      for (const a of arts.slice(0, 2)) {
        const size = pngSize((await fetchArtifact(a.id, id)).data);
        expect([size.width, size.height]).toEqual([a.width, a.height]);
      }
      const plotly = (await fetchArtifact(arts[2]?.id ?? "", id)).data;
      expect(plotly.toString("utf8")).toMatch(/^<html>[\s\S]*Plotly\.newPlot[\s\S]*<\/html>\s*$/);
      expect(htmlTags(plotly)).toMatchObject({ html: 1, body: 1 });
      if (wheels.length > 0) {
        const bokeh = (await fetchArtifact(arts[3]?.id ?? "", id)).data;
        expect(bokeh.toString("utf8")).toMatch(/<!DOCTYPE html>[\s\S]*Bokeh[\s\S]*<\/html>\s*$/);
        expect(htmlTags(bokeh)).toMatchObject({ html: 1, body: 1 });
        expect([arts[3]?.width, arts[3]?.height]).toEqual([300, 200]);
      }
    } finally {
      await d.sandbox.destroySandbox({ sandboxId: id });
    }
  });

  it("captures plotly write_html and bokeh-free HTML files; write_image needs kaleido, which the image lacks", async () => {
    const code = `
import plotly.graph_objects as go
fig = go.Figure(go.Bar(x=[1, 2], y=[2, 1]))
fig.write_html("bar.html")
try:
    fig.write_image("bar.png")
except Exception as e:
    print("write_image:", type(e).__name__)
`;
    const r = await run(code, { clearArtifacts: true });
    expect(r.stdout).toBe("write_image: ValueError\n");
    expect(artifactsOf(r).map((a) => [a.format, a.mimeType])).toEqual([["html", "text/html"]]);
  });

  it("turns files written to the output dir into artifacts, also for languages without plots", async () => {
    const r = await run(
      "import os\nos.makedirs('output/sub', exist_ok=True)\nopen('output/report.csv', 'w').write('a,b\\n1,2\\n')\nopen('output/sub/notes.txt', 'w').write('hi')",
    );
    const arts = artifactsOf(r);
    expect(arts.map((a) => [a.name, a.format, a.mimeType, Number(a.size)]).sort()).toEqual([
      ["report.csv", "csv", "text/csv", 8],
      ["sub/notes.txt", "txt", "text/plain", 2],
    ]);
    const again = await run("print('unchanged outputs are not announced twice')");
    expect(artifactsOf(again)).toEqual([]);
    const csv = arts.find((a) => a.name === "report.csv");
    expect((await fetchArtifact(csv?.id ?? "")).data.toString()).toBe("a,b\n1,2\n");

    const bash = await collect(d.sandbox.run({ language: "bash", code: "mkdir -p output && printf 'x' > output/from-bash.txt" }));
    expect(artifactsOf(bash).map((a) => a.name)).toEqual(["from-bash.txt"]);
    // Compiled languages too (their program file rides on the compile step).
    const cpp = await collect(
      d.sandbox.run({
        language: "cpp",
        code: '#include <fstream>\n#include <sys/stat.h>\nint main() { mkdir("output", 0755); std::ofstream("output/from-cpp.txt") << "c"; }',
      }),
    );
    expect(artifactsOf(cpp).map((a) => a.name)).toEqual(["from-cpp.txt"]);
  });

  it("does not capture plots when the sandbox turned capture off", async () => {
    const { sandbox } = await d.sandbox.createSandbox({ spec: { language: "python", artifacts: { disablePlotCapture: true } } });
    const id = sandbox?.id ?? "";
    try {
      expect(sandbox?.spec?.artifacts?.disablePlotCapture).toBe(true);
      const r = await run(
        `${onePlot}import os\nos.makedirs('output', exist_ok=True)\nopen('output/kept.txt', 'w').write('k')\nprint(os.environ.get('PYTHONPATH'))`,
        { sandbox: id },
      );
      expect(r.stdout).toBe("None\n");
      expect(artifactsOf(r).map((a) => a.name)).toEqual(["kept.txt"]);
    } finally {
      await d.sandbox.destroySandbox({ sandboxId: id });
    }
  });

  it("shows a sandbox's artifacts only to its tenant", async () => {
    const beta = createClient(SandboxService, d.address, { metadata: { authorization: "Bearer beta-secret" } });
    try {
      await expect(beta.listArtifacts({ sandboxId })).rejects.toMatchObject({ code: 5 });
      await expect(beta.clearArtifacts({ sandboxId })).rejects.toMatchObject({ code: 5 });
      const mine = (await d.sandbox.listArtifacts({ sandboxId })).artifacts;
      expect(mine.length).toBeGreaterThan(0);
      await expect(
        (async () => {
          for await (const _ of beta.downloadArtifact({ sandboxId, artifactId: mine[0]?.id ?? "" })) void _;
        })(),
      ).rejects.toMatchObject({ code: 5 });
      // Another sandbox of the same tenant does not reach this sandbox's artifacts either.
      const { sandbox } = await d.sandbox.createSandbox({ spec: { language: "python" } });
      await expect(fetchArtifact(mine[0]?.id ?? "", sandbox?.id ?? "")).rejects.toMatchObject({ code: 5 });
      await d.sandbox.destroySandbox({ sandboxId: sandbox?.id ?? "" });
    } finally {
      beta.close();
    }
  });
});

/** Runs a real parser (the host's Python standard library) over artifact bytes. */
function parseWithPython(data: Buffer, program: string): string {
  return execFileSync("python3", ["-c", program], { input: data, encoding: "utf8" }).trim();
}

/** Counts of the tags an HTML parser finds (html.parser from the host's Python). */
function htmlTags(data: Buffer): Record<string, number> {
  const program = [
    "import sys, json, collections, html.parser",
    "c = collections.Counter()",
    "class P(html.parser.HTMLParser):",
    "    def handle_starttag(self, tag, attrs): c[tag] += 1",
    "P().feed(sys.stdin.read())",
    "print(json.dumps(c))",
  ].join("\n");
  return JSON.parse(parseWithPython(data, program)) as Record<string, number>;
}

/** Bokeh is not in the image; its wheels come from PyPI into .cache once (no network in sandboxes). */
function bokehWheels(): string[] {
  const dir = join(repoRoot, ".cache", "wheels", "bokeh");
  if (!existsSync(dir) || readdirSync(dir).length < 6) {
    try {
      execFileSync(
        "python3",
        [
          "-m",
          "pip",
          "download",
          "--no-deps",
          "--only-binary=:all:",
          "--python-version",
          "3.11",
          "--implementation",
          "cp",
          "--abi",
          "cp311",
          "--platform",
          "manylinux_2_17_x86_64",
          "--platform",
          "manylinux2014_x86_64",
          "--platform",
          "any",
          "-d",
          dir,
          "bokeh==3.3.4",
          "Jinja2==3.1.4",
          "MarkupSafe==2.1.5",
          "tornado==6.4.1",
          "PyYAML==6.0.2",
          "xyzservices==2024.9.0",
        ],
        { stdio: "ignore", timeout: 120_000 },
      );
    } catch {
      return [];
    }
  }
  return readdirSync(dir)
    .filter((f) => f.endsWith(".whl"))
    .map((f) => join(dir, f));
}

async function* uploadTar(sandbox: string, path: string, files: string[]) {
  yield { message: { case: "header" as const, value: { sandboxId: sandbox, path, kind: TransferKind.TAR } } };
  const p = tarPack();
  for (const f of files) p.entry({ name: f.slice(f.lastIndexOf("/") + 1) }, readFileSync(f));
  p.finalize();
  for await (const c of p) yield { message: { case: "chunk" as const, value: c as Uint8Array } };
}

describe("the capture hook under concurrent runs", () => {
  it("runs starting together in one sandbox never import a half-written hook (each run writes it anew)", async () => {
    for (let round = 0; round < 4; round++) {
      const results = await Promise.all(Array.from({ length: 12 }, (_, i) => run(`print(${i})`)));
      results.forEach((r, i) => {
        expect(r.stderr).toBe("");
        expect(r.stdout).toBe(`${i}\n`);
      });
    }
  });
});

describe("live plots (announced while the run goes on)", () => {
  it("a saved plot's artifact event comes before the output printed after it and before the exit; each plot once, in order", async () => {
    const code = `
import time
import matplotlib.pyplot as plt
print("before")
for i in range(3):
    plt.figure()
    plt.plot([1, 2, 3], [i, i + 1, i * 2])
    plt.savefig("p%d.png" % i)
    print("saved %d" % i)
    time.sleep(0.3)
print("end")
`;
    const r = await run(code, { clearArtifacts: true });
    expect(r.stdout).toBe("before\nsaved 0\nsaved 1\nsaved 2\nend\n");
    const order: string[] = [];
    for (const e of r.events) {
      if (e.event.case === "artifact") order.push(`artifact ${e.event.value.index}`);
      else if (e.event.case === "exited") order.push("exited");
      else if (e.event.case === "output")
        order.push(
          ...Buffer.from(e.event.value.data)
            .toString()
            .split("\n")
            .filter((l) => l !== ""),
        );
    }
    expect(order).toContain("saved 0");
    // Each plot is announced before the line the program printed right after saving it.
    for (const i of [0, 1, 2]) expect(order.indexOf(`artifact ${i + 1}`)).toBeLessThan(order.indexOf(`saved ${i}`));
    expect(order.indexOf("artifact 3")).toBeLessThan(order.indexOf("end"));
    expect(order.filter((o) => o.startsWith("artifact"))).toEqual(["artifact 1", "artifact 2", "artifact 3"]);
    const listed = (await d.sandbox.listArtifacts({ sandboxId })).artifacts;
    expect(listed.map((a) => [a.index, a.name])).toEqual([
      [1, "000001.png"],
      [2, "000002.png"],
      [3, "000003.png"],
    ]);
    for (const a of listed) {
      const { data } = await fetchArtifact(a.id);
      expect(Number(a.size)).toBe(data.length);
      expect(pngSize(data)).toEqual({ width: a.width, height: a.height });
    }
  });

  it("a plot saved before a long sleep is announced before the run exits, and the result lists it once", async () => {
    const code = "import time\nimport matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()\nprint('marker', flush=True)\ntime.sleep(2)\nprint('after')\n";
    const r = await run(code, { clearArtifacts: true });
    const kinds = r.events.map((e) => (e.event.case === "output" ? Buffer.from(e.event.value.data).toString() : e.event.case));
    const art = kinds.indexOf("artifact");
    expect(art).toBeGreaterThanOrEqual(0);
    expect(art).toBeLessThan(kinds.findIndex((k) => k?.includes("marker")));
    expect(kinds.filter((k) => k === "artifact").length).toBe(1);
    expect((await d.sandbox.listArtifacts({ sandboxId })).artifacts.map((a) => a.index)).toEqual([1]);
  });
});
