"""The Open Inference Protocol's Python gRPC client, generated here from the .proto edgeco serves
(grpc_tools, Debian python3-grpc-tools): an independent implementation of the other side."""
import os
import sys

PROTO = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "src", "offload",
                     "proto", "open_inference_grpc.proto")


def generate(work):
    """Compiles the .proto into `work` and returns its (messages, services) modules."""
    from grpc_tools import protoc
    if protoc.main(["protoc", "-I" + os.path.dirname(PROTO), "--python_out=" + work, "--grpc_python_out=" + work,
                    PROTO]) != 0:
        raise RuntimeError("grpc_tools could not compile " + PROTO)
    sys.path.insert(0, work)
    import open_inference_grpc_pb2 as pb
    import open_inference_grpc_pb2_grpc as pb_grpc
    return pb, pb_grpc
