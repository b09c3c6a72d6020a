import { Registry, type Counter, type Histogram } from "./registry.js";

/** Buckets for run and sandbox-creation latency, in seconds. */
const latencyBuckets = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
/** Buckets for gRPC calls (most are short; streams can last minutes). */
const callBuckets = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/**
 * The metrics sandboxd records as things happen (counters and histograms), on one
 * registry; components get this object through their constructors. The gauges the daemon
 * reads at scrape time are added by Daemon on the same registry.
 */
export class SandboxdMetrics {
  readonly registry: Registry;
  /** Runs by language and outcome: the exit status (exited, killed, timeout, oom, cancelled, lost), "failed" for a non-zero exit code. */
  readonly runs: Counter;
  readonly runDuration: Histogram;
  /** Sandbox creations by source: pool (a warm member), cold (a new container), attach. */
  readonly sandboxCreateDuration: Histogram;
  readonly outputBytes: Counter;
  readonly transferBytes: Counter;
  readonly policyRefusals: Counter;
  readonly authFailures: Counter;
  readonly poolWait: Histogram;
  readonly poolAcquisitions: Counter;
  readonly grpcCalls: Counter;
  readonly grpcCallDuration: Histogram;
  /** Requests the egress proxy of NETWORK_MODE_ALLOW_LIST sandboxes refused, by reason. */
  readonly egressDenied: Counter;

  constructor(registry = new Registry()) {
    this.registry = registry;
    this.runs = registry.counter({
      name: "sandboxd_runs_total",
      help: "Runs that ended, by language and outcome (exited, failed: non-zero exit code, killed, timeout, oom, cancelled, lost).",
      labels: ["language", "outcome"],
    });
    this.runDuration = registry.histogram({
      name: "sandboxd_run_duration_seconds",
      help: "Time a run took from start to its exit.",
      labels: ["language"],
      buckets: latencyBuckets,
    });
    this.sandboxCreateDuration = registry.histogram({
      name: "sandboxd_sandbox_create_duration_seconds",
      help: "Time to make a sandbox ready, by source (pool: a warm member handed out, cold: a new container, attach: an existing container).",
      labels: ["source"],
      buckets: latencyBuckets,
    });
    this.outputBytes = registry.counter({ name: "sandboxd_output_bytes_total", help: "Run output bytes streamed to callers, by stream.", labels: ["stream"] });
    this.transferBytes = registry.counter({
      name: "sandboxd_transfer_bytes_total",
      help: "File bytes moved between callers and sandboxes, by direction (upload, download).",
      labels: ["direction"],
    });
    this.policyRefusals = registry.counter({
      name: "sandboxd_policy_refusals_total",
      help: "Code the security policy refused, by language.",
      labels: ["language"],
    });
    this.authFailures = registry.counter({
      name: "sandboxd_auth_failures_total",
      help: "Calls refused for their bearer token, by reason (missing, invalid).",
      labels: ["reason"],
    });
    this.poolWait = registry.histogram({
      name: "sandboxd_pool_wait_seconds",
      help: "Time a caller waited to acquire a sandbox from an API pool.",
      buckets: latencyBuckets,
    });
    this.poolAcquisitions = registry.counter({
      name: "sandboxd_pool_acquisitions_total",
      help: "Pool acquisitions by pool and result (hit: a ready member, miss: one started, exhausted, temporary).",
      labels: ["pool", "result"],
    });
    this.egressDenied = registry.counter({
      name: "sandboxd_egress_denied_total",
      help: "Requests of NETWORK_MODE_ALLOW_LIST sandboxes the egress proxy refused, by reason (host, address, port, resolve, request).",
      labels: ["reason"],
    });
    this.grpcCalls = registry.counter({
      name: "sandboxd_grpc_calls_total",
      help: "gRPC calls that ended, by method and status code.",
      labels: ["method", "code"],
    });
    this.grpcCallDuration = registry.histogram({
      name: "sandboxd_grpc_call_duration_seconds",
      help: "Time gRPC calls took, by method.",
      labels: ["method"],
      buckets: callBuckets,
    });
  }
}
