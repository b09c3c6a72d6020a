import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, type DescriptorProto } from "@bufbuild/protobuf/wkt";

/**
 * protobufjs (under @grpc/proto-loader) names a map field's entry message after the field
 * (`Statuses`), where protoc and every reflection client expect `<Field>Entry`
 * (`StatusesEntry`); Go's grpcurl then refuses the whole file ("is an invalid map:
 * incorrect implicit map entry name"). This renames such entries, and the fields that
 * refer to them, in serialized FileDescriptorProtos.
 */
export function fixMapEntryNames(files: readonly Uint8Array[]): Buffer[] {
  return files.map((bytes) => {
    const file = fromBinary(FileDescriptorProtoSchema, bytes);
    const prefix = file.package ? `.${file.package}` : "";
    let changed = false;
    const visit = (message: DescriptorProto, scope: string) => {
      const path = `${scope}.${message.name}`;
      for (const nested of message.nestedType) {
        if (!nested.options?.mapEntry) continue;
        const field = message.field.find((f) => f.typeName === nested.name || f.typeName === `${path}.${nested.name}`);
        if (!field) continue;
        const wanted = `${camel(field.name)}Entry`;
        if (nested.name !== wanted) {
          nested.name = wanted;
          changed = true;
        }
        field.typeName = `${path}.${wanted}`;
      }
      for (const nested of message.nestedType) visit(nested, path);
    };
    for (const message of file.messageType) visit(message, prefix);
    return Buffer.from(changed ? toBinary(FileDescriptorProtoSchema, file) : bytes);
  });
}

/** protoc's entry name: the field name in CamelCase (`foo_bar` -> `FooBar`). */
function camel(name: string): string {
  return name
    .split("_")
    .filter((part) => part !== "")
    .map((part) => part[0]!.toUpperCase() + part.slice(1))
    .join("");
}
