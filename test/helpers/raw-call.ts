import http2 from "node:http2";
import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { ExecRequestSchema, ExecResponseSchema, SandboxService } from "../../src/gen/sandboxd/v1/sandbox_service_pb.js";

/**
 * An Exec call on its own HTTP/2 connection whose response stream is paused until iterated:
 * the client stops reading at the transport, so HTTP/2 flow control pushes back on the
 * daemon. (A grpc-js client that is not iterated keeps reading into its own memory.)
 */
export function rawExec(address: string, req: MessageInitShape<typeof ExecRequestSchema>) {
  const session = http2.connect(`http://${address}`);
  session.on("error", () => {});
  const stream = session.request({ ":method": "POST", ":path": `/${SandboxService.typeName}/Exec`, "content-type": "application/grpc", te: "trailers" });
  stream.on("error", () => {});
  const body = toBinary(ExecRequestSchema, create(ExecRequestSchema, req));
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(body.length, 1);
  stream.end(Buffer.concat([prefix, body]));
  stream.pause();
  return {
    async *[Symbol.asyncIterator]() {
      let buf: Buffer = Buffer.alloc(0);
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        buf = buf.length > 0 ? Buffer.concat([buf, chunk]) : chunk;
        while (buf.length >= 5) {
          const len = buf.readUInt32BE(1);
          if (buf.length < 5 + len) break;
          yield fromBinary(ExecResponseSchema, buf.subarray(5, 5 + len));
          buf = buf.subarray(5 + len);
        }
      }
    },
    cancel() {
      stream.close(http2.constants.NGHTTP2_CANCEL);
      session.close();
    },
  };
}
