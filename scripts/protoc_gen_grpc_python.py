"""A protoc plugin that runs grpcio-tools' built-in grpc_python generator.

grpcio-tools compiles the generator into its bundled protoc rather than shipping a
protoc-gen-grpc_python binary, and buf only drives protoc's own built-in generators
(python, pyi, ...) through `protoc_builtin`. So this plugin takes buf's
CodeGeneratorRequest, hands its descriptors to the bundled protoc with
--grpc_python_out, and returns the files protoc wrote as a CodeGeneratorResponse.
"""

import os
import sys
import tempfile

from google.protobuf import descriptor_pb2
from google.protobuf.compiler import plugin_pb2
from grpc_tools import protoc


def main() -> int:
    request = plugin_pb2.CodeGeneratorRequest.FromString(sys.stdin.buffer.read())
    response = plugin_pb2.CodeGeneratorResponse()
    response.supported_features = plugin_pb2.CodeGeneratorResponse.FEATURE_PROTO3_OPTIONAL
    with tempfile.TemporaryDirectory(prefix="protoc-gen-grpc-python-") as tmp:
        descriptors = os.path.join(tmp, "descriptors.binpb")
        out = os.path.join(tmp, "out")
        os.mkdir(out)
        with open(descriptors, "wb") as f:
            f.write(descriptor_pb2.FileDescriptorSet(file=request.proto_file).SerializeToString())
        target = f"{request.parameter}:{out}" if request.parameter else out
        args = ["grpc_tools.protoc", f"--descriptor_set_in={descriptors}", f"--grpc_python_out={target}", *request.file_to_generate]
        code = protoc.main(args)
        if code != 0:
            response.error = f"grpc_tools.protoc exited with {code}"
        else:
            for root, _, files in os.walk(out):
                for name in sorted(files):
                    path = os.path.join(root, name)
                    with open(path, encoding="utf-8") as f:
                        response.file.add(name=os.path.relpath(path, out).replace(os.sep, "/"), content=f.read())
    sys.stdout.buffer.write(response.SerializeToString())
    return 0


if __name__ == "__main__":
    sys.exit(main())
