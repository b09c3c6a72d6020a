/** The generated messages and enums, for requests the high-level API does not cover. */
export * from "./gen/sandboxd/v1/common_pb.js";
export * from "./gen/sandboxd/v1/sandbox_service_pb.js";
export * from "./gen/sandboxd/v1/interactive_service_pb.js";
export * from "./gen/sandboxd/v1/pool_service_pb.js";
