// A first streaming run against a live daemon: creates nothing by hand (an ephemeral
// sandbox from the language), prints output as it arrives, exits with the program's code.
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { RunRequestSchema, RunResponseSchema, type RunRequest, type RunResponse } from "../src/gen/sandboxd/v1/sandbox_service_pb.js";

const address = process.env["SANDBOXD_ADDRESS"] ?? "127.0.0.1:50051";
const code = process.argv[2] ?? "import time\nfor i in range(3):\n    print(f'tick {i}', flush=True)\n    time.sleep(0.5)\nprint('done')";
const client = new grpc.Client(address, grpc.credentials.createInsecure());
const call = client.makeServerStreamRequest(
  "/sandboxd.v1.SandboxService/Run",
  (m: RunRequest) => Buffer.from(toBinary(RunRequestSchema, m)),
  (b: Buffer) => fromBinary(RunResponseSchema, b),
  create(RunRequestSchema, { language: "python", code }),
);
let exitCode = 1;
call.on("data", (res: RunResponse) => {
  const e = res.event?.event;
  if (e?.case === "output") (e.value.stream === 2 ? process.stderr : process.stdout).write(e.value.data);
  if (e?.case === "exited") exitCode = e.value.exitCode;
});
call.on("error", (err) => {
  process.stderr.write(`run failed: ${err.message}\n`);
  process.exit(1);
});
call.on("end", () => {
  client.close();
  process.exit(exitCode);
});
