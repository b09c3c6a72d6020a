// Worker thread body: checks code against a policy off the event loop, so a pattern that
// backtracks badly on hostile input cannot stall the daemon (the host terminates us).
import { parentPort } from "node:worker_threads";
import { checkCode, type SecurityPolicy } from "./index.js";

interface Job {
  id: number;
  language: string;
  code: string;
  policy: SecurityPolicy;
}

parentPort?.on("message", (job: Job) => {
  try {
    const result = checkCode(job.language, job.code, job.policy);
    parentPort?.postMessage({ id: job.id, result });
  } catch (err) {
    parentPort?.postMessage({ id: job.id, error: { name: (err as Error).name, message: (err as Error).message } });
  }
});

// Loaded: the host starts a check's deadline only from here, not during our start-up.
parentPort?.postMessage({ ready: true });
