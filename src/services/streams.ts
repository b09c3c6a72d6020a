/**
 * Yields `source`'s items, and `keepalive()` whenever the source was quiet for `ms`, so
 * proxies do not cut quiet streams.
 */
export async function* withKeepalive<T>(source: AsyncIterable<T>, ms: number, keepalive: () => T, signal: AbortSignal): AsyncGenerator<T> {
  const it = source[Symbol.asyncIterator]();
  let pending: Promise<IteratorResult<T>> | undefined;
  // One abort listener for the whole stream (not one per event).
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<"abort">((resolve) => {
    onAbort = () => resolve("abort");
    if (signal.aborted) resolve("abort");
    else signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    for (;;) {
      pending ??= it.next();
      let timer: NodeJS.Timeout | undefined;
      const tick = new Promise<"tick">((resolve) => {
        timer = setTimeout(() => resolve("tick"), ms);
      });
      const r = await Promise.race([pending, tick, aborted]);
      clearTimeout(timer);
      if (r === "abort") return;
      if (r === "tick") {
        yield keepalive();
        continue;
      }
      pending = undefined;
      if (r.done) return;
      yield r.value;
    }
  } finally {
    if (onAbort) signal.removeEventListener("abort", onAbort);
    await it.return?.();
  }
}
