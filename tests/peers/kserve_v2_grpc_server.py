#!/usr/bin/python3
"""A KServe v2 GRPCInferenceService server for replay's integration tests, written from the
specification with python3-grpcio and PyTorch, independently of replay's C++ code. Its stubs are
generated at start-up by grpc_tools.protoc from the .proto given with --proto. It answers
ModelInfer with typed contents (fp32_contents, int64_contents), as KServe's Python server does,
or with raw_output_contents (--raw), as Triton does.

  kserve_v2_grpc_server.py --proto adapters/grpc/grpc_predict_v2.proto --model simple_mlp.pt
                           [--name simple_mlp] [--port 0] [--train-mode] [--raw]

Prints "grpc listening on 127.0.0.1:PORT" once it accepts calls."""
import argparse, os, subprocess, sys, tempfile, time
from concurrent import futures

import grpc

from kserve_v2_model import DATATYPES, TORCH_TO_V2, Model, Refused, tensor_from_bytes, \
    tensor_to_bytes


def generate_stubs(proto):
    out = tempfile.mkdtemp(prefix="v2-stubs-")
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I" + os.path.dirname(proto),
                    "--python_out=" + out, "--grpc_python_out=" + out, proto], check=True)
    sys.path.insert(0, out)
    import grpc_predict_v2_pb2, grpc_predict_v2_pb2_grpc
    return grpc_predict_v2_pb2, grpc_predict_v2_pb2_grpc


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--proto", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--name", default="simple_mlp")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--train-mode", action="store_true")
    parser.add_argument("--raw", action="store_true")
    args = parser.parse_args()
    pb, pb_grpc = generate_stubs(args.proto)
    model = Model(args.model, args.name, args.train_mode)
    import torch

    def refuse(context, refused):
        context.abort(grpc.StatusCode.NOT_FOUND if refused.not_found
                      else grpc.StatusCode.INVALID_ARGUMENT, str(refused))

    class Servicer(pb_grpc.GRPCInferenceServiceServicer):
        def ServerLive(self, request, context):
            return pb.ServerLiveResponse(live=True)

        def ServerReady(self, request, context):
            return pb.ServerReadyResponse(ready=True)

        def ModelReady(self, request, context):
            try:
                model.check(request.name, request.version)
            except Refused as refused:
                refuse(context, refused)
            return pb.ModelReadyResponse(ready=True)

        def ModelMetadata(self, request, context):
            try:
                model.check(request.name, request.version)
            except Refused as refused:
                refuse(context, refused)
            meta = model.metadata()
            response = pb.ModelMetadataResponse(name=meta["name"], versions=meta["versions"],
                                                platform=meta["platform"])
            for key in ("inputs", "outputs"):
                for tensor in meta[key]:
                    getattr(response, key).add(name=tensor["name"], datatype=tensor["datatype"],
                                               shape=tensor["shape"])
            return response

        def ModelInfer(self, request, context):
            try:
                model.check(request.model_name, request.model_version)
                inputs = []
                for index, item in enumerate(request.inputs):
                    if request.raw_input_contents:
                        tensor = tensor_from_bytes(item.datatype, list(item.shape),
                                                   request.raw_input_contents[index])
                    elif item.datatype == "FP32":
                        tensor = torch.tensor(list(item.contents.fp32_contents),
                                              dtype=torch.float32).reshape(list(item.shape))
                    else:
                        raise Refused("typed contents of %s are not supported" % item.datatype)
                    inputs.append((item.name, tensor))
                outputs = model.infer(inputs, [o.name for o in request.outputs])
            except Refused as refused:
                refuse(context, refused)
            response = pb.ModelInferResponse(model_name=model.name, model_version="1",
                                             id=request.id)
            for name, tensor in outputs:
                out = response.outputs.add(name=name, datatype=TORCH_TO_V2[tensor.dtype],
                                           shape=list(tensor.shape))
                if args.raw:
                    response.raw_output_contents.append(tensor_to_bytes(tensor))
                elif tensor.dtype == torch.float32:
                    out.contents.fp32_contents.extend(tensor.flatten().tolist())
                else:
                    out.contents.int64_contents.extend(tensor.flatten().tolist())
            return response

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(Servicer(), server)
    port = server.add_insecure_port("127.0.0.1:%d" % args.port)
    server.start()
    print("grpc listening on 127.0.0.1:%d" % port, flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())
