import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { dirname } from "node:path";
import { loadSync } from "@grpc/proto-loader";
import { protoPath } from "grpc-health-check";
import { describe, expect, it } from "vitest";
import { fixMapEntryNames } from "./map-entries.js";

describe("fixMapEntryNames", () => {
  it("gives the health proto's map entry protoc's name, and its field the full type name", () => {
    const loaded = loadSync(protoPath, { includeDirs: [dirname(protoPath)], keepCase: true }) as unknown as Record<string, { fileDescriptorProtos?: Buffer[] }>;
    const files = loaded["grpc.health.v1.HealthListResponse"]!.fileDescriptorProtos!;
    const before = fromBinary(FileDescriptorProtoSchema, files[0]!).messageType.find((m) => m.name === "HealthListResponse")!;
    expect(before.nestedType[0]!.name).toBe("Statuses"); // what protobufjs writes: grpcurl refuses it
    const fixed = fromBinary(FileDescriptorProtoSchema, fixMapEntryNames(files)[0]!).messageType.find((m) => m.name === "HealthListResponse")!;
    expect(fixed.nestedType.map((n) => n.name)).toEqual(["StatusesEntry"]);
    expect(fixed.field.map((f) => [f.name, f.typeName])).toEqual([["statuses", ".grpc.health.v1.HealthListResponse.StatusesEntry"]]);
  });

  it("camel-cases snake_case field names and leaves correct files byte for byte", () => {
    const file = create(FileDescriptorProtoSchema, {
      name: "x.proto",
      package: "p",
      messageType: [
        {
          name: "M",
          field: [{ name: "by_key", number: 1, typeName: "by_key" }],
          nestedType: [{ name: "by_key", options: { mapEntry: true } }],
        },
      ],
    });
    const out = fromBinary(FileDescriptorProtoSchema, fixMapEntryNames([toBinary(FileDescriptorProtoSchema, file)])[0]!);
    expect(out.messageType[0]!.nestedType[0]!.name).toBe("ByKeyEntry");
    expect(out.messageType[0]!.field[0]!.typeName).toBe(".p.M.ByKeyEntry");
    const good = toBinary(FileDescriptorProtoSchema, out);
    expect(Buffer.compare(fixMapEntryNames([good])[0]!, Buffer.from(good))).toBe(0);
  });
});
