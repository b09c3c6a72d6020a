/**
 * Programs whose output is a known, deterministic byte sequence, and that sequence computed
 * here, so a client can check every byte it receives.
 */

/** A python Run: N lines on stdout of varying length, every 10th line a stderr line, an optional binary blob, exit code X. */
export function pythonProgram(seed: number, lines: number, blobBytes: number, exitCode: number): { code: string; stdout: Buffer; stderr: Buffer } {
  const code = [
    "import sys",
    `S, N, B, X = ${seed}, ${lines}, ${blobBytes}, ${exitCode}`,
    "o = sys.stdout.buffer",
    "e = sys.stderr.buffer",
    "for i in range(N):",
    '    o.write(b"%d:%d:" % (S, i) + bytes((S + i + j) % 26 + 97 for j in range((i * 37 + S) % 120)) + b"\\n")',
    "    if i % 10 == 0:",
    '        e.write(b"E%d:%d\\n" % (S, i))',
    "    if i % 25 == 0:",
    "        o.flush()",
    "        e.flush()",
    "if B:",
    "    p = bytes((k + S) % 256 for k in range(256))",
    "    o.write(p * (B // 256))",
    "o.flush()",
    "e.flush()",
    "sys.exit(X)",
    "",
  ].join("\n");
  const out: Buffer[] = [];
  const err: string[] = [];
  for (let i = 0; i < lines; i++) {
    const n = (i * 37 + seed) % 120;
    let s = `${seed}:${i}:`;
    for (let j = 0; j < n; j++) s += String.fromCharCode(((seed + i + j) % 26) + 97);
    out.push(Buffer.from(`${s}\n`));
    if (i % 10 === 0) err.push(`E${seed}:${i}\n`);
  }
  if (blobBytes) {
    const p = Buffer.alloc(256);
    for (let k = 0; k < 256; k++) p[k] = (k + seed) % 256;
    out.push(Buffer.concat(Array.from({ length: Math.floor(blobBytes / 256) }, () => p)));
  }
  return { code, stdout: Buffer.concat(out), stderr: Buffer.from(err.join("")) };
}

/** An Exec shell string: N lines on stdout, every 7th line a stderr line, exit code X. */
export function shellProgram(seed: number, lines: number, exitCode: number): { shell: string; stdout: Buffer; stderr: Buffer } {
  const shell = `i=0; while [ $i -lt ${lines} ]; do echo "${seed}:$i:abcdefghijklmnopqrstuvwxyz"; if [ $((i % 7)) -eq 0 ]; then echo "E$i" >&2; fi; i=$((i+1)); done; exit ${exitCode}`;
  let out = "";
  let err = "";
  for (let i = 0; i < lines; i++) {
    out += `${seed}:${i}:abcdefghijklmnopqrstuvwxyz\n`;
    if (i % 7 === 0) err += `E${i}\n`;
  }
  return { shell, stdout: Buffer.from(out), stderr: Buffer.from(err) };
}

/** An IPython cell: N lines, then the session's cell counter (state kept across cells). */
export function cellProgram(seed: number, lines: number, count: number): { code: string; stdout: Buffer } {
  const code = [
    '_load_count = globals().get("_load_count", 0) + 1',
    `for _i in range(${lines}):`,
    `    print(f"${seed}:{_i}:" + "x" * (_i % 50))`,
    'print(f"count={_load_count}")',
  ].join("\n");
  let out = "";
  for (let i = 0; i < lines; i++) out += `${seed}:${i}:${"x".repeat(i % 50)}\n`;
  out += `count=${count}\n`;
  return { code, stdout: Buffer.from(out) };
}

export const blockBytes = 65536;

/**
 * A long stream for the resume test: `blocks` blocks of 64 KiB, each starting with its own
 * number, so any lost, repeated or reordered block shows; paced by a short sleep every 4
 * blocks so a detached run does not outrun the replay window while the client reconnects.
 */
export function blockStreamProgram(blocks: number, pauseMs: number): { code: string; expected: Buffer } {
  const code = [
    "import sys, time",
    "o = sys.stdout.buffer",
    `base = bytes((j * 7 + 3) & 0xFF for j in range(${blockBytes - 12}))`,
    `for i in range(${blocks}):`,
    '    o.write(b"B%010d|" % i + base)',
    "    if i % 4 == 3:",
    `        time.sleep(${pauseMs / 1000})`,
    "o.flush()",
    "",
  ].join("\n");
  const base = Buffer.alloc(blockBytes - 12);
  for (let j = 0; j < base.length; j++) base[j] = (j * 7 + 3) & 0xff;
  const expected = Buffer.alloc(blocks * blockBytes);
  for (let i = 0; i < blocks; i++) {
    expected.write(`B${String(i).padStart(10, "0")}|`, i * blockBytes, "latin1");
    base.copy(expected, i * blockBytes + 12);
  }
  return { code, expected };
}
