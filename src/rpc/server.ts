import { dirname } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { toBinary, type DescFile } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { loadSync } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { HealthImplementation, protoPath as healthProtoPath, type ServingStatus } from "grpc-health-check";
import type { Logger } from "../common/logger.js";
import { fixMapEntryNames } from "./map-entries.js";

/** Every file a service's descriptors need, dependencies included (well-known types too). */
function fileDescriptors(files: readonly DescFile[]): Buffer[] {
  const seen = new Map<string, Buffer>();
  const visit = (f: DescFile) => {
    if (seen.has(f.proto.name)) return;
    seen.set(f.proto.name, Buffer.from(toBinary(FileDescriptorProtoSchema, f.proto)));
    f.dependencies.forEach(visit);
  };
  files.forEach(visit);
  return [...seen.values()];
}

export interface ServerOptions {
  /** Files whose services are reflected (from the generated descriptors). */
  files: readonly DescFile[];
  maxMessageBytes: number;
  credentials: grpc.ServerCredentials;
  logger: Logger;
}

/**
 * The grpc-js server with health and reflection (so grpcurl works with no proto files at
 * hand). Services are added by the caller through `addService`.
 */
export class RpcServer {
  readonly grpc: grpc.Server;
  readonly health = new HealthImplementation({ "": "NOT_SERVING" });
  private readonly log: Logger;

  constructor(private readonly options: ServerOptions) {
    this.log = options.logger.child({ component: "server" });
    this.grpc = new grpc.Server({
      "grpc.max_receive_message_length": options.maxMessageBytes,
      "grpc.max_send_message_length": options.maxMessageBytes,
      "grpc.keepalive_permit_without_calls": 1,
      "grpc.keepalive_time_ms": 60_000,
    });
    this.health.addToServer(this.grpc);
    // Reflection reads serialized FileDescriptorProtos from a proto-loader-shaped object;
    // ours come straight from the protobuf-es descriptors, health's from its own proto.
    const health = loadSync(healthProtoPath, { includeDirs: [dirname(healthProtoPath)], keepCase: true }) as Record<string, object>;
    for (const entry of Object.values(health)) {
      const withFiles = entry as { fileDescriptorProtos?: Buffer[] };
      if (withFiles.fileDescriptorProtos) withFiles.fileDescriptorProtos = fixMapEntryNames(withFiles.fileDescriptorProtos);
    }
    const pkg = { ...health, "sandboxd.descriptors": { fileDescriptorProtos: fileDescriptors(options.files) } };
    new ReflectionService(pkg as unknown as ConstructorParameters<typeof ReflectionService>[0]).addToServer(this.grpc);
  }

  addService(name: string, definition: grpc.ServiceDefinition, implementation: grpc.UntypedServiceImplementation): void {
    this.grpc.addService(definition, implementation);
    this.health.setStatus(name, "NOT_SERVING");
  }

  setServing(status: ServingStatus, services: string[]): void {
    this.health.setStatus("", status);
    for (const s of services) this.health.setStatus(s, status);
  }

  /** Binds `host:port` or `unix:/path`; resolves the bound address (port 0 picks one). */
  listen(address: string): Promise<string> {
    return new Promise((resolve, reject) => {
      this.grpc.bindAsync(address, this.options.credentials, (err, port) => {
        if (err) {
          reject(err);
          return;
        }
        if (address.startsWith("unix:")) resolve(address);
        else resolve(`${address.slice(0, address.lastIndexOf(":"))}:${port}`);
      });
    });
  }

  /** Stops accepting calls, waits for running ones up to `graceMs`, then cuts the rest. */
  async shutdown(graceMs: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.log.warn("grace time over; cancelling remaining calls");
        this.grpc.forceShutdown();
        resolve();
      }, graceMs);
      this.grpc.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
