import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExitStatus, Stream, type RunEvent } from "../../src/gen/sandboxd/v1/common_pb.js";
import { SessionKind, SessionState } from "../../src/gen/sandboxd/v1/interactive_service_pb.js";
import { randomBytes } from "node:crypto";
import { startDaemon, type DaemonHandle } from "../helpers/daemon.js";
import { workloads } from "../helpers/engine.js";
import { collect, type Collected } from "../helpers/events.js";

// llm-sandbox's interactive sessions guide, reproduced through the gRPC API, plus what a
// notebook user relies on: live output, rich display, interrupts, timeouts, crashes.

let d: DaemonHandle;
let sandboxId: string;
let sessionId: string;

interface CellResult extends Collected {
  results: { count: number; text: string; data: Record<string, Uint8Array> }[];
  displays: Record<string, Uint8Array>[];
  errors: { name: string; value: string; traceback: string[] }[];
}

async function cell(code: string, options: { session?: string; timeoutMs?: number } = {}): Promise<CellResult> {
  const r = await collect(d.interactive.run({ sessionId: options.session ?? sessionId, code, timeoutMs: options.timeoutMs ?? 0 }));
  return { ...r, ...rich(r.events) };
}

function rich(events: RunEvent[]) {
  const results: CellResult["results"] = [];
  const displays: CellResult["displays"] = [];
  const errors: CellResult["errors"] = [];
  for (const ev of events) {
    const e = ev.event;
    if (e.case === "result")
      results.push({ count: e.value.executionCount, text: Buffer.from(e.value.data["text/plain"] ?? new Uint8Array()).toString(), data: e.value.data });
    if (e.case === "display") displays.push(e.value.data);
    if (e.case === "error") errors.push({ name: e.value.name, value: e.value.value, traceback: e.value.traceback });
  }
  return { results, displays, errors };
}

async function processes(): Promise<string> {
  return (await collect(d.sandbox.exec({ sandboxId, argv: ["ps", "-eo", "pid,args"] }))).stdout;
}

beforeAll(async () => {
  // Not the shared "test-" prefix: another test run's global setup on the same engine
  // removes those containers. afterAll checks this daemon left nothing behind.
  d = await startDaemon({ daemonId: `interactive-${randomBytes(4).toString("hex")}` });
  const { sandbox } = await d.sandbox.createSandbox({ spec: { language: "python" } });
  sandboxId = sandbox?.id ?? "";
  const { session } = await d.interactive.createSession({ target: { case: "sandboxId", value: sandboxId }, kind: SessionKind.IPYTHON });
  sessionId = session?.id ?? "";
});

afterAll(async () => {
  await d?.stop();
  const left = await workloads([`org.sandboxd.daemon=${d?.daemonId}`]);
  expect(left.map((c) => c.name)).toEqual([]);
});

describe("IPython sessions: llm-sandbox's guide", () => {
  it("quick start: a variable persists between cells", async () => {
    await cell("value = 21 * 2");
    const r = await cell("print(f'Result: {value}')");
    expect(r.stdout).toBe("Result: 42\n");
    expect(r.exit.status).toBe(ExitStatus.EXITED);
    expect(r.exit.exitCode).toBe(0);
  });

  it("running code cells: imports and data frames persist", async () => {
    await cell("import pandas as pd");
    await cell("import numpy as np");
    await cell("data = pd.DataFrame({\n    'x': np.random.randn(100),\n    'y': np.random.randn(100)\n})");
    const r = await cell('print(f"Shape: {data.shape}")\nprint(f"Mean of x: {data[\'x\'].mean():.2f}")\nprint(f"Mean of y: {data[\'y\'].mean():.2f}")');
    expect(r.stdout).toMatch(/^Shape: \(100, 2\)\nMean of x: -?\d+\.\d\d\nMean of y: -?\d+\.\d\d\n$/);
  });

  it("magics: %who, %pwd, !ls -la, %%timeit", async () => {
    await cell("alpha = 1\nbeta = 'two'");
    const who = await cell("%who");
    expect(who.stdout).toMatch(/alpha/);
    expect(who.stdout).toMatch(/beta/);
    const pwd = await cell("%pwd");
    expect(pwd.results).toEqual([expect.objectContaining({ text: "'/sandbox'" })]);
    // As in llm-sandbox (a plain IPython shell): the value's text form is output too.
    expect(pwd.stdout).toBe(`Out[${pwd.results[0]?.count}]: '/sandbox'\n`);
    await collect(d.sandbox.exec({ sandboxId, argv: ["touch", "/sandbox/listed-file"] }));
    const ls = await cell("!ls -la /sandbox");
    expect(ls.stdout).toMatch(/^total \d+/);
    expect(ls.stdout).toMatch(/listed-file/);
    const timeit = await cell("%%timeit\nsum(range(1000))");
    expect(timeit.stdout).toMatch(/per loop \(mean ± std\. dev\. of \d+ runs?, [\d,]+ loops? each\)/);
    expect(timeit.exit.exitCode).toBe(0);
  });

  it("multi-step data analysis", async () => {
    await cell(
      "import pandas as pd\nimport numpy as np\n\ndata = pd.DataFrame({\n    'date': pd.date_range('2024-01-01', periods=100),\n    'value': np.random.randn(100).cumsum() + 100,\n    'category': np.random.choice(['A', 'B', 'C'], 100)\n})",
    );
    await cell(
      "q1 = data['value'].quantile(0.25)\nq3 = data['value'].quantile(0.75)\niqr = q3 - q1\ndata_clean = data[\n    (data['value'] >= q1 - 1.5*iqr) &\n    (data['value'] <= q3 + 1.5*iqr)\n]",
    );
    const r = await cell("summary = data_clean.groupby('category')['value'].agg(['mean', 'std', 'count'])\nprint(\"Summary by Category:\")\nprint(summary)");
    expect(r.stdout).toMatch(/^Summary by Category:\n/);
    expect(r.stdout).toMatch(/mean\s+std\s+count/);
  });

  it("function definitions", async () => {
    await cell(
      "def fibonacci(n):\n    if n <= 1:\n        return n\n    return fibonacci(n-1) + fibonacci(n-2)\n\ndef factorial(n):\n    if n <= 1:\n        return 1\n    return n * factorial(n-1)",
    );
    const r = await cell('print(f"Fibonacci(10): {fibonacci(10)}")\nprint(f"Factorial(5): {factorial(5)}")');
    expect(r.stdout).toBe("Fibonacci(10): 55\nFactorial(5): 120\n");
  });

  it("class definitions", async () => {
    await cell(
      "class DataProcessor:\n    def __init__(self):\n        self.data = []\n\n    def add(self, value):\n        self.data.append(value)\n\n    def get_stats(self):\n        return {\n            'count': len(self.data),\n            'sum': sum(self.data),\n            'mean': sum(self.data) / len(self.data) if self.data else 0\n        }\n\nprocessor = DataProcessor()",
    );
    await cell("for i in range(1, 11):\n    processor.add(i * 2)");
    const r = await cell(
      "stats = processor.get_stats()\nprint(f\"Count: {stats['count']}\")\nprint(f\"Sum: {stats['sum']}\")\nprint(f\"Mean: {stats['mean']}\")",
    );
    expect(r.stdout).toBe("Count: 10\nSum: 110\nMean: 11.0\n");
  });

  it("AI agent REPL interaction", async () => {
    const pwd = await cell("%pwd");
    const currentDir = pwd.results[0]?.text.replace(/'/g, "") ?? "";
    expect(currentDir).toBe("/sandbox");
    const created = await cell(`import os\nprint(f"Working in: ${currentDir}")\n\ndata = [1, 2, 3, 4, 5]\nprint(f"Created data: {data}")`);
    expect(created.stdout).toBe("Working in: /sandbox\nCreated data: [1, 2, 3, 4, 5]\n");
    const r = await cell('total = sum(data)\navg = total / len(data)\nprint(f"Total: {total}")\nprint(f"Average: {avg}")');
    expect(r.stdout).toBe("Total: 15\nAverage: 3.0\n");
  });

  it("error handling: the error is reported and the state survives it", async () => {
    await cell("x = 10");
    const r = await cell("y = x / 0");
    expect(r.exit.status).toBe(ExitStatus.EXITED);
    expect(r.exit.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/ZeroDivisionError/);
    expect(r.errors).toEqual([expect.objectContaining({ name: "ZeroDivisionError", value: "division by zero" })]);
    expect(r.errors[0]?.traceback.join("\n")).toMatch(/y = x \/ 0/);
    const after = await cell("print(f'x is still: {x}')");
    expect(after.stdout).toBe("x is still: 10\n");
  });

  it("state contamination: %reset -f, then NameError", async () => {
    const { session } = await d.interactive.createSession({ target: { case: "sandboxId", value: sandboxId } });
    const s = session?.id ?? "";
    try {
      await cell("x = 100", { session: s });
      await cell("%reset -f", { session: s });
      const r = await cell("print(x)", { session: s });
      expect(r.errors[0]?.name).toBe("NameError");
      expect(r.stderr).toMatch(/NameError: name 'x' is not defined/);
      expect(r.exit.exitCode).toBe(1);
    } finally {
      await d.interactive.closeSession({ sessionId: s });
    }
  });

  it("%pip installs a local wheel that the same kernel then imports", async () => {
    // No network: build a tiny wheel inside the sandbox first.
    const build = await cell(
      [
        "import os, subprocess, sys",
        "os.makedirs('/sandbox/pkg/hello_sbx', exist_ok=True)",
        "open('/sandbox/pkg/setup.py', 'w').write(\"from setuptools import setup\\nsetup(name='hello-sbx', version='0.1', packages=['hello_sbx'])\\n\")",
        "open('/sandbox/pkg/hello_sbx/__init__.py', 'w').write(\"def greet():\\n    return 'hi from a wheel'\\n\")",
        "r = subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-w', '/sandbox/dist', '/sandbox/pkg'], capture_output=True, text=True)",
        "print(r.returncode, sorted(os.listdir('/sandbox/dist')))",
      ].join("\n"),
      { timeoutMs: 120_000 },
    );
    expect(build.stdout).toBe("0 ['hello_sbx-0.1-py3-none-any.whl']\n");
    const pip = await cell("%pip install --break-system-packages /sandbox/dist/hello_sbx-0.1-py3-none-any.whl", { timeoutMs: 120_000 });
    expect(pip.stdout).toMatch(/Successfully installed hello-sbx-0\.1/);
    expect(pip.exit.exitCode).toBe(0);
    const use = await cell("import hello_sbx\nhello_sbx.greet()");
    expect(use.results[0]?.text).toBe("'hi from a wheel'");
  });
});

describe("IPython sessions: output", () => {
  it("streams output live, while the cell still runs", async () => {
    const stream = d.interactive.run({
      sessionId,
      code: "import os, time\nprint('first', flush=True)\nwhile not os.path.exists('/tmp/cell-go-on'):\n    time.sleep(0.02)\nprint('second')",
      timeoutMs: 30_000,
    });
    const seen: string[] = [];
    for await (const { event } of stream) {
      const e = event?.event;
      if (e?.case === "output") {
        const text = Buffer.from(e.value.data).toString();
        seen.push(text);
        // The cell only goes on after the client saw its first line.
        if (text.includes("first")) await collect(d.sandbox.exec({ sandboxId, argv: ["touch", "/tmp/cell-go-on"] }));
      }
    }
    expect(seen.join("")).toBe("first\nsecond\n");
  });

  it("keeps stdout and stderr apart, with offsets, and numbers events", async () => {
    const r = await cell("import sys\nprint('out')\nprint('err', file=sys.stderr)\n!echo shell-out; echo shell-err >&2");
    expect(r.stdout).toBe("out\nshell-out\n");
    expect(r.stderr).toBe("err\nshell-err\n");
    expect(r.events.map((e) => Number(e.seq))).toEqual(r.events.map((_, i) => i + 1));
    expect(r.events[0]?.event.case).toBe("started");
    expect(r.events.at(-1)?.event.case).toBe("exited");
    expect(Number(r.exit.stdoutBytes)).toBe(14);
    expect(Number(r.exit.stderrBytes)).toBe(14);
  });

  it("execute results carry the execution count", async () => {
    const a = await cell("6 * 7");
    expect(a.results).toHaveLength(1);
    expect(a.results[0]?.text).toBe("42");
    const b = await cell("'hello'");
    expect(b.results[0]?.count).toBe((a.results[0]?.count ?? 0) + 1);
    const quiet = await cell("6 * 7;");
    expect(quiet.results).toHaveLength(0);
    expect(quiet.stdout).toBe("");
  });

  it("a cell's value is output as IPython prints it (Out[n]: ...), and stays a result event", async () => {
    // llm-sandbox's session.run("x = 6\nx * 7").stdout contains 42: its shell's display hook prints.
    const r = await cell("x = 6\nx * 7");
    const count = r.results[0]?.count ?? 0;
    expect(count).toBeGreaterThan(0);
    expect(r.stdout).toBe(`Out[${count}]: 42\n`);
    expect(r.results).toEqual([expect.objectContaining({ text: "42" })]);
    // The text comes first, then the bundle, as in a notebook's output area.
    const kinds = r.events.map((e) => e.event.case).filter((k) => k === "output" || k === "result");
    expect(kinds.at(-1)).toBe("result");
    // Printed output stays before the value; a multi-line value starts on its own line.
    const both = await cell("print('before')\n{'a': list(range(30)), 'b': 'x' * 60}");
    expect(both.stdout).toMatch(/^before\nOut\[\d+\]: \n\{'a': \[0,\n/);
    expect(both.stdout.endsWith("'b': 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'}\n")).toBe(true);
    // A value the display hook does not show (None, or a trailing semicolon) prints nothing.
    expect((await cell("None")).stdout).toBe("");
    // Rich values keep their bundle; stdout gets their text/plain form.
    const df = await cell("import pandas as pd\npd.DataFrame({'a': [1, 2]})");
    expect(Buffer.from(df.results[0]?.data["text/html"] ?? []).toString()).toMatch(/<table/);
    expect(df.stdout).toMatch(/^Out\[\d+\]: \n {3}a\n0 {2}1\n1 {2}2\n$/);
  });

  it("rich display: HTML, JSON, SVG, PNG bundles", async () => {
    const r = await cell(
      [
        "from IPython.display import display, HTML, JSON, SVG, Image",
        "import base64",
        "display(HTML('<b>bold</b>'))",
        "display(JSON({'a': 1}))",
        'display(SVG(\'<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"></svg>\'))',
        "png = base64.b64decode('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==')",
        "display(Image(data=png))",
      ].join("\n"),
    );
    expect(r.displays).toHaveLength(4);
    const [html, json, svg, png] = r.displays;
    expect(Buffer.from(html?.["text/html"] ?? []).toString()).toBe("<b>bold</b>");
    expect(JSON.parse(Buffer.from(json?.["application/json"] ?? []).toString())).toEqual({ a: 1 });
    expect(Buffer.from(svg?.["image/svg+xml"] ?? []).toString()).toMatch(/^<svg/);
    expect(Buffer.from(png?.["image/png"] ?? []).subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect(r.stdout).toBe("");
  });

  it("matplotlib figures arrive as PNG images, shown or not", async () => {
    const shown = await cell("import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [4, 1, 9])\nplt.title('shown')\nplt.show()\nprint('after show')");
    expect(shown.displays).toHaveLength(1);
    const png = Buffer.from(shown.displays[0]?.["image/png"] ?? []);
    expect(png.subarray(1, 4).toString()).toBe("PNG");
    expect(png.byteLength).toBeGreaterThan(1000);
    expect(shown.stdout).toBe("after show\n");
    // llm-sandbox's example draws without show(): the inline backend still hands it over.
    const implicit = await cell("import numpy as np\nx = np.linspace(0, 10, 100)\nplt.plot(x, np.sin(x))\nplt.title('Sine Wave')\nprint('Plot created')");
    expect(implicit.stdout).toBe("Plot created\n");
    expect(implicit.displays.filter((b) => b["image/png"])).toHaveLength(1);
  });

  it("displayed images become artifacts of the sandbox, announced before their display event", async () => {
    const r = await cell("import matplotlib.pyplot as plt\nplt.figure(figsize=(4, 3), dpi=50)\nplt.plot([1, 2], [3, 4])\nplt.show()");
    const kinds = r.events.map((e) => e.event.case);
    const a = kinds.indexOf("artifact");
    expect(a).toBeGreaterThanOrEqual(0);
    expect(kinds[a + 1]).toBe("display");
    const artifactEvent = r.events[a]?.event;
    const displayEvent = r.events[a + 1]?.event;
    const artifact = artifactEvent?.case === "artifact" ? artifactEvent.value : undefined;
    const display = displayEvent?.case === "display" ? displayEvent.value : undefined;
    expect(display?.artifactId).toBe(artifact?.id);
    // Width and height are the PNG's own (the inline backend crops to the drawing).
    const png = Buffer.from(display?.data["image/png"] ?? []);
    expect(artifact).toMatchObject({
      format: "png",
      mimeType: "image/png",
      width: png.readUInt32BE(16),
      height: png.readUInt32BE(20),
      sandboxId,
      size: BigInt(png.byteLength),
    });
    expect(artifact?.width).toBeGreaterThan(100);
    const listed = await d.sandbox.listArtifacts({ sandboxId });
    expect(listed.artifacts.map((x) => x.id)).toContain(artifact?.id);
    const chunks: Buffer[] = [];
    for await (const m of d.sandbox.downloadArtifact({ sandboxId, artifactId: artifact!.id })) {
      if (m.message.case === "chunk") chunks.push(Buffer.from(m.message.value));
    }
    expect(Buffer.concat(chunks).equals(Buffer.from(display?.data["image/png"] ?? []))).toBe(true);
  });

  it("input() reads the cell's stdin bytes", async () => {
    const r = await collect(d.interactive.run({ sessionId, code: "name = input()\nprint('hello', name)", stdin: Buffer.from("world\n") }));
    expect(r.stdout).toBe("hello world\n");
  });
});

describe("IPython sessions: interrupts, timeouts, crashes", () => {
  it("a cell timeout interrupts the cell; the kernel keeps its state", async () => {
    await cell("kept = 'still here'");
    const r = await cell("import time\nprint('sleeping', flush=True)\ntime.sleep(60)", { timeoutMs: 1000 });
    expect(r.stdout).toBe("sleeping\n");
    expect(r.exit.status).toBe(ExitStatus.TIMEOUT);
    expect(r.exit.kernelRestarted).toBe(false);
    expect(r.exit.message).toMatch(/timeout of 1000 ms/);
    expect(r.errors[0]?.name).toBe("KeyboardInterrupt");
    expect((await cell("kept")).results[0]?.text).toBe("'still here'");
  });

  it("a cell that ignores the interrupt is ended by restarting the kernel", async () => {
    const { session } = await d.interactive.createSession({ target: { case: "sandboxId", value: sandboxId } });
    const s = session?.id ?? "";
    try {
      await cell("lost_soon = 1", { session: s });
      const r = await cell("import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(60)", { session: s, timeoutMs: 1000 });
      expect(r.exit.status).toBe(ExitStatus.TIMEOUT);
      expect(r.exit.kernelRestarted).toBe(true);
      expect(r.exit.message).toMatch(/restarted/);
      const after = await cell("print('fresh kernel')\nlost_soon", { session: s });
      expect(after.stdout).toBe("fresh kernel\n");
      expect(after.errors[0]?.name).toBe("NameError");
    } finally {
      await d.interactive.closeSession({ sessionId: s });
    }
  });

  it("Interrupt stops the running cell (CANCELLED), including a !command", async () => {
    const nothing = await d.interactive.interrupt({ sessionId });
    expect(nothing.interrupted).toBe(false);
    for (const code of ["import time\nprint('go', flush=True)\ntime.sleep(60)", "print('go', flush=True)\n!sleep 61\nimport time; time.sleep(60)"]) {
      const stream = d.interactive.run({ sessionId, code });
      const events: RunEvent[] = [];
      let sent = false;
      for await (const { event } of stream) {
        if (!event) continue;
        events.push(event);
        if (!sent && event.event.case === "output" && event.event.value.stream === Stream.STDOUT) {
          sent = true;
          // Give `!sleep` a moment to start.
          await new Promise((r) => setTimeout(r, 300));
          expect((await d.interactive.interrupt({ sessionId })).interrupted).toBe(true);
        }
      }
      const exit = events.at(-1)?.event;
      expect(exit?.case).toBe("exited");
      if (exit?.case === "exited") {
        expect(exit.value.status).toBe(ExitStatus.CANCELLED);
        expect(exit.value.kernelRestarted).toBe(false);
      }
    }
    expect(await processes()).not.toMatch(/sleep 61/);
    expect((await cell("1 + 1")).results[0]?.text).toBe("2");
  });

  it("a kernel that crashes (os._exit) is reported as LOST on that cell; the session goes on", async () => {
    const { session } = await d.interactive.createSession({ target: { case: "sandboxId", value: sandboxId } });
    const s = session?.id ?? "";
    try {
      await cell("before_crash = 1", { session: s });
      const r = await cell("import os\nprint('bye', flush=True)\nos._exit(1)", { session: s });
      expect(r.stdout).toBe("bye\n");
      expect(r.exit.status).toBe(ExitStatus.LOST);
      expect(r.exit.message).toMatch(/died.*exit code 1/);
      const next = await cell("print('back')\nbefore_crash", { session: s });
      expect(next.stdout).toBe("back\n");
      expect(next.errors[0]?.name).toBe("NameError");
      // Reset after a crash works too.
      await cell("import os; os._exit(3)", { session: s });
      await d.interactive.reset({ sessionId: s });
      expect((await cell("21 * 2", { session: s })).results[0]?.text).toBe("42");
    } finally {
      await d.interactive.closeSession({ sessionId: s });
    }
  });

  it("Reset clears the namespace and starts the count over", async () => {
    const { session } = await d.interactive.createSession({ target: { case: "sandboxId", value: sandboxId } });
    const s = session?.id ?? "";
    try {
      await cell("gone = 1", { session: s });
      await cell("gone + 1", { session: s });
      await d.interactive.reset({ sessionId: s });
      const r = await cell("gone", { session: s });
      expect(r.errors[0]?.name).toBe("NameError");
      const listed = (await d.interactive.listSessions({ sandboxId })).sessions.find((x) => x.id === s);
      expect(listed?.executionCount).toBe(1);
    } finally {
      await d.interactive.closeSession({ sessionId: s });
    }
  });

  it("a memory limit makes a huge allocation fail inside the cell, not the kernel", async () => {
    const { session } = await d.interactive.createSession({
      target: { case: "sandboxId", value: sandboxId },
      settings: { memoryLimitBytes: 1024n * 1024n * 1024n },
    });
    const s = session?.id ?? "";
    try {
      await cell("small = bytearray(10 * 1024 * 1024)", { session: s });
      const r = await cell("big = bytearray(2 * 1024 * 1024 * 1024)", { session: s });
      expect(r.errors[0]?.name).toBe("MemoryError");
      expect((await cell("len(small)", { session: s })).results[0]?.text).toBe(String(10 * 1024 * 1024));
    } finally {
      await d.interactive.closeSession({ sessionId: s });
    }
  });
});

describe("IPython sessions: Execute", () => {
  it("runs several cells in order, tags events with cell ids, honours an interrupt message, ends after half-close", async () => {
    const call = d.interactive.execute();
    call.send({ sessionId, message: { case: "cell", value: { cellId: "a", code: "counter = 1\nprint('a', counter)" } } });
    call.send({ message: { case: "cell", value: { cellId: "b", code: "import time\nprint('b', flush=True)\ntime.sleep(60)" } } });
    call.send({ message: { case: "cell", value: { cellId: "c", code: "counter += 1\nprint('c', counter)" } } });
    const byCell = new Map<string, RunEvent[]>();
    const order: string[] = [];
    let interrupted = false;
    let bText = "";
    for await (const res of call.responses) {
      if (!res.event || res.event.event.case === "keepalive") continue;
      if (order.at(-1) !== res.cellId) order.push(res.cellId);
      byCell.set(res.cellId, [...(byCell.get(res.cellId) ?? []), res.event]);
      const e = res.event.event;
      if (res.cellId === "b" && e.case === "output") bText += Buffer.from(e.value.data).toString();
      // Interrupt once the whole line arrived: a SIGINT inside print() would cut it, as Ctrl-C does.
      if (res.cellId === "b" && bText.includes("\n") && !interrupted) {
        interrupted = true;
        call.send({ message: { case: "interrupt", value: { cellId: "b" } } });
        call.end();
      }
    }
    expect(order).toEqual(["a", "b", "c"]);
    const text = (id: string) =>
      Buffer.concat(
        (byCell.get(id) ?? []).flatMap((e) => (e.event.case === "output" && e.event.value.stream === Stream.STDOUT ? [Buffer.from(e.event.value.data)] : [])),
      ).toString();
    const exit = (id: string) => {
      const last = byCell.get(id)?.at(-1)?.event;
      return last?.case === "exited" ? last.value : undefined;
    };
    expect(text("a")).toBe("a 1\n");
    expect(text("b")).toBe("b\n");
    expect(text("c")).toBe("c 2\n");
    expect(exit("a")?.status).toBe(ExitStatus.EXITED);
    expect(exit("b")?.status).toBe(ExitStatus.CANCELLED);
    expect(exit("c")?.status).toBe(ExitStatus.EXITED);
    const history = await d.interactive.getHistory({ sessionId, limit: 3 });
    expect(history.entries.map((h) => [h.cellId, h.status])).toEqual([
      ["a", ExitStatus.EXITED],
      ["b", ExitStatus.CANCELLED],
      ["c", ExitStatus.EXITED],
    ]);
  });

  it("an interrupt for a queued cell drops it before it runs", async () => {
    const call = d.interactive.execute();
    call.send({ sessionId, message: { case: "cell", value: { cellId: "slow", code: "import time\ntime.sleep(1)" } } });
    call.send({ message: { case: "cell", value: { cellId: "dropped", code: "print('must not run')" } } });
    call.send({ message: { case: "interrupt", value: { cellId: "dropped" } } });
    call.end();
    const exits = new Map<string, number>();
    let out = "";
    for await (const res of call.responses) {
      const e = res.event?.event;
      if (e?.case === "exited") exits.set(res.cellId, e.value.status);
      if (e?.case === "output") out += Buffer.from(e.value.data).toString();
    }
    expect(exits.get("slow")).toBe(ExitStatus.EXITED);
    expect(exits.get("dropped")).toBe(ExitStatus.CANCELLED);
    expect(out).toBe("");
  });
});

describe("IPython sessions: management", () => {
  it("GetHistory keeps the last history_size cells with their outcome", async () => {
    const { session } = await d.interactive.createSession({ target: { case: "sandboxId", value: sandboxId }, settings: { historySize: 3 } });
    const s = session?.id ?? "";
    try {
      for (const code of ["a = 1", "b = 2", "1/0", "c = 3", "print(a + b + c)"]) await cell(code, { session: s });
      const all = await d.interactive.getHistory({ sessionId: s });
      expect(all.entries.map((e) => e.code)).toEqual(["1/0", "c = 3", "print(a + b + c)"]);
      expect(all.entries[0]?.error?.name).toBe("ZeroDivisionError");
      expect(all.entries[0]?.exitCode).toBe(1);
      expect(all.entries.map((e) => e.executionCount)).toEqual([3, 4, 5]);
      const last = await d.interactive.getHistory({ sessionId: s, limit: 1 });
      expect(last.entries.map((e) => e.code)).toEqual(["print(a + b + c)"]);
    } finally {
      await d.interactive.closeSession({ sessionId: s });
    }
  });

  it("ListSessions shows the caller's sessions, by sandbox; CloseSession is idempotent", async () => {
    const { session } = await d.interactive.createSession({ target: { case: "sandboxId", value: sandboxId }, settings: { cellTimeoutMs: 5000 } });
    const s = session?.id ?? "";
    expect(session?.state).toBe(SessionState.IDLE);
    expect(session?.settings?.cellTimeoutMs).toBe(5000);
    const listed = await d.interactive.listSessions({ sandboxId });
    expect(listed.sessions.map((x) => x.id)).toContain(s);
    expect(listed.sessions.map((x) => x.id)).toContain(sessionId);
    expect((await d.interactive.listSessions({ sandboxId: "sbx_other" })).sessions).toEqual([]);
    await d.interactive.closeSession({ sessionId: s });
    await d.interactive.closeSession({ sessionId: s });
    expect((await d.interactive.listSessions({})).sessions.map((x) => x.id)).not.toContain(s);
    await expect(collect(d.interactive.run({ sessionId: s, code: "1" }))).rejects.toMatchObject({ code: 9 });
    await expect(d.interactive.getHistory({ sessionId: "ses_doesnotexist" })).rejects.toMatchObject({ code: 5 });
  });

  it("two sessions in one sandbox are independent and run at the same time", async () => {
    const a = (await d.interactive.createSession({ target: { case: "sandboxId", value: sandboxId } })).session?.id ?? "";
    const b = (await d.interactive.createSession({ target: { case: "sandboxId", value: sandboxId } })).session?.id ?? "";
    try {
      await cell("who = 'a'", { session: a });
      await cell("who = 'b'", { session: b });
      expect((await cell("who", { session: a })).results[0]?.text).toBe("'a'");
      expect((await cell("who", { session: b })).results[0]?.text).toBe("'b'");
      // A waits for something only B does: they must run at the same time.
      const waiting = cell("import os, time\nwhile not os.path.exists('/tmp/b-was-here'):\n    time.sleep(0.02)\nprint('a saw b')", {
        session: a,
        timeoutMs: 60_000,
      });
      await cell("open('/tmp/b-was-here', 'w').close()", { session: b });
      expect((await waiting).stdout).toBe("a saw b\n");
    } finally {
      await d.interactive.closeSession({ sessionId: a });
      await d.interactive.closeSession({ sessionId: b });
    }
  });

  it("closing a session kills every process it started", async () => {
    const { session } = await d.interactive.createSession({ target: { case: "sandboxId", value: sandboxId } });
    const s = session?.id ?? "";
    const started = await cell("import subprocess\nsubprocess.Popen(['sleep', '401'])\nsubprocess.Popen(['setsid', 'sleep', '402'])\n!sleep 403 &", {
      session: s,
    });
    // The cell itself must have ended normally: a lost kernel would take its children along
    // and the check below would fail for a different reason than the one it names.
    expect({ status: started.exit.status, errors: started.errors, stderr: started.stderr }).toEqual({ status: ExitStatus.EXITED, errors: [], stderr: "" });
    const before = await processes();
    expect(before, before).toMatch(/sleep 401[\s\S]*sleep 402[\s\S]*sleep 403/);
    await d.interactive.closeSession({ sessionId: s });
    const after = await processes();
    expect(after).not.toMatch(/sleep 40[123]/);
    expect(after).not.toContain(s);
  });

  it("a session with an inline sandbox spec owns that sandbox: closing destroys it", async () => {
    const { session } = await d.interactive.createSession({ target: { case: "sandbox", value: { language: "python" } } });
    expect(session?.ownsSandbox).toBe(true);
    const own = session?.sandboxId ?? "";
    expect(own).not.toBe(sandboxId);
    expect((await cell("1 + 2", { session: session?.id ?? "" })).results[0]?.text).toBe("3");
    await d.interactive.closeSession({ sessionId: session?.id ?? "" });
    await expect(d.sandbox.getSandbox({ sandboxId: own })).rejects.toMatchObject({ code: 5 });
  });

  it("destroying a sandbox closes its sessions", async () => {
    const { sandbox } = await d.sandbox.createSandbox({ spec: { language: "python" } });
    const { session } = await d.interactive.createSession({ target: { case: "sandboxId", value: sandbox?.id ?? "" } });
    await d.sandbox.destroySandbox({ sandboxId: sandbox?.id ?? "" });
    await expect(collect(d.interactive.run({ sessionId: session?.id ?? "", code: "1" }))).rejects.toMatchObject({ code: 9 });
    expect((await d.interactive.listSessions({})).sessions.map((x) => x.id)).not.toContain(session?.id);
  });

  it("a session with no client call for its idle timeout is closed", async () => {
    const { session } = await d.interactive.createSession({ target: { case: "sandboxId", value: sandboxId }, settings: { idleTimeoutMs: 1500 } });
    const s = session?.id ?? "";
    await cell("import time; time.sleep(2)", { session: s }); // a running cell is not idleness
    await new Promise((r) => setTimeout(r, 3000));
    await expect(d.interactive.getHistory({ sessionId: s })).rejects.toMatchObject({ code: 9, details: expect.stringMatching(/idle/) });
    // Closing an idle session happens in the background: its processes go shortly after.
    let left = await processes();
    for (let i = 0; i < 50 && left.includes(s); i++) {
      await new Promise((r) => setTimeout(r, 100));
      left = await processes();
    }
    expect(left).not.toContain(s);
  });

  it("rejects bad requests", async () => {
    await expect(d.interactive.createSession({})).rejects.toMatchObject({ code: 3 });
    await expect(d.interactive.createSession({ target: { case: "sandboxId", value: sandboxId }, shell: "bash" })).rejects.toMatchObject({ code: 3 });
    await expect(d.interactive.createSession({ target: { case: "sandboxId", value: "sbx_nope" } })).rejects.toMatchObject({ code: 5 });
    await expect(d.interactive.createSession({ target: { case: "sandboxId", value: sandboxId }, env: { "BAD-NAME": "x" } })).rejects.toMatchObject({ code: 3 });
  });

  // Tenancy is tested with real tokens in interactive-tenants.test.ts.
});
