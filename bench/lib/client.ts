import * as grpc from "@grpc/grpc-js";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import { createClient as createTestClient, type CallOptions, type Client } from "../../test/helpers/client.js";
import { InteractiveService } from "../../src/gen/sandboxd/v1/interactive_service_pb.js";
import { SandboxService } from "../../src/gen/sandboxd/v1/sandbox_service_pb.js";

export type { CallOptions, Client };
type MethodsOf<S> = S extends GenService<infer M extends GenServiceMethods> ? M : never;
export type SandboxClient = Client<MethodsOf<typeof SandboxService>>;
export type InteractiveClient = Client<MethodsOf<typeof InteractiveService>>;

export interface ConnectionOptions {
  /**
   * Give this client its own HTTP/2 connection. grpc-js otherwise shares one connection
   * among all channels to the same address with the same options, so "32 clients" would be
   * 32 streams on one socket instead of 32 sockets.
   */
  ownConnection?: boolean;
}

/**
 * The harness's typed client (same call shapes, so `collect()` works on it), with a choice
 * of connection: the load and bench drivers need many independent connections.
 */
export function createClient<M extends GenServiceMethods>(service: GenService<M>, address: string, conn: ConnectionOptions = {}): Client<M> {
  return createTestClient(service, address, {}, grpc.credentials.createInsecure(), conn.ownConnection ? { "grpc.use_local_subchannel_pool": 1 } : {});
}

export function sandboxClient(address: string, conn: ConnectionOptions = {}): SandboxClient {
  return createClient(SandboxService, address, conn);
}

export function interactiveClient(address: string, conn: ConnectionOptions = {}): InteractiveClient {
  return createClient(InteractiveService, address, conn);
}
