#!/usr/bin/python3
"""Writes the KServe v2 fixture captures (fixtures/captures/simple_v2*.json), one per form
production may receive a v2 request in: REST JSON, REST with Triton's binary tensor extension
(body_base64 + Inference-Header-Content-Length), gRPC (a serialized ModelInferRequest as
body_base64, the request path being the method), and an FP64 REST request for the float32-parse
skew. The bodies are built with Python's json, struct and protobuf (messages generated from
adapters/grpc/grpc_predict_v2.proto by grpc_tools.protoc), not by replay's code. Run from the
repository root with Debian's /usr/bin/python3."""
import base64, json, os, struct, subprocess, sys, tempfile

ROWS = [[0.12, -1.3, 0.5, 2.25, -0.75, 0.0, 1.1, -0.4],
        [1.5, 0.3, -2.0, 0.05, 0.9, -1.2, 0.33, 0.7],
        [-0.6, 0.8, 0.15, -0.95, 1.75, 0.42, -0.2, 0.01]]
# Values a float32 parser cannot keep: the float32-parse skew changes every one of them.
ROWS_F64 = [[0.1234567891, -1.3000000001, 0.5000000003, 2.2500000007, -0.7512345678, 1e-9,
             1.1000000002, -0.4000000001],
            [1.5000000001, 0.3000000003, -2.0000000004, 0.0500000007, 0.9000000008,
             -1.2000000009, 0.3300000001, 0.7000000002],
            [-0.6000000003, 0.8000000004, 0.1500000005, -0.9500000006, 1.7500000007,
             0.4200000008, -0.2000000009, 0.0100000001]]
MODEL = "simple_mlp"
OUTPUTS = [{"name": "output"}, {"name": "prediction"}]
OUT_DIR = "fixtures/captures"


def flat(rows):
    return [value for row in rows for value in row]


def write(name, capture):
    with open(os.path.join(OUT_DIR, name), "w") as f:
        json.dump(capture, f, indent=2)
        f.write("\n")


def rest_capture(capture_id, rows, datatype, note, model=MODEL):
    body = {"id": capture_id,
            "inputs": [{"name": "input", "shape": [len(rows), len(rows[0])], "datatype": datatype,
                        "data": rows}],
            "outputs": OUTPUTS}
    return {"format": 1, "id": capture_id,
            "request": {"method": "POST", "path": "/v2/models/%s/infer" % model,
                        "headers": {"Content-Type": "application/json"},
                        "body": json.dumps(body)},
            "meta": {"note": note}}


def binary_capture(capture_id, rows, datatype, fmt, note):
    count = len(rows) * len(rows[0])
    header = {"id": capture_id,
              "inputs": [{"name": "input", "shape": [len(rows), len(rows[0])], "datatype": datatype,
                          "parameters": {"binary_data_size": count * struct.calcsize("<" + fmt)}}],
              "outputs": [dict(o, parameters={"binary_data": True}) for o in OUTPUTS]}
    header_bytes = json.dumps(header).encode()
    body = header_bytes + struct.pack("<%d%s" % (count, fmt), *flat(rows))
    return {"format": 1, "id": capture_id,
            "request": {"method": "POST", "path": "/v2/models/%s/infer" % MODEL,
                        "headers": {"Content-Type": "application/octet-stream",
                                    "Inference-Header-Content-Length": str(len(header_bytes))},
                        "body_base64": base64.b64encode(body).decode()},
            "meta": {"note": note}}


def grpc_capture(pb, capture_id, rows, datatype, fmt, note):
    request = pb.ModelInferRequest(model_name=MODEL, id=capture_id)
    tensor = request.inputs.add(name="input", datatype=datatype)
    tensor.shape.extend([len(rows), len(rows[0])])
    request.raw_input_contents.append(
        struct.pack("<%d%s" % (len(rows) * len(rows[0]), fmt), *flat(rows)))
    for output in OUTPUTS:
        request.outputs.add(name=output["name"])
    return {"format": 1, "id": capture_id,
            "request": {"method": "POST", "path": "/inference.GRPCInferenceService/ModelInfer",
                        "headers": {"content-type": "application/grpc"},
                        "body_base64": base64.b64encode(request.SerializeToString()).decode()},
            "meta": {"note": note}}


def main():
    write("simple_v2.json", rest_capture(
        "simple-v2-rest", ROWS, "FP32",
        "KServe v2 REST with JSON tensor data, as KServe, Triton, MLServer or Seldon receive it"))
    write("simple_v2_f64.json", rest_capture(
        "simple-v2-rest-fp64", ROWS_F64, "FP64",
        "FP64 inputs with more digits than float32 holds (for simple_mlp_f64.pt)"))

    write("simple_v2_binary.json", binary_capture(
        "simple-v2-binary", ROWS, "FP32", "f",
        "KServe v2 REST with Triton's binary tensor extension: the JSON header, then the FP32 "
        "elements little-endian"))
    write("simple_v2_f64_binary.json", binary_capture(
        "simple-v2-binary-fp64", ROWS_F64, "FP64", "d",
        "FP64 inputs as binary data (for simple_mlp_f64.pt)"))
    with tempfile.TemporaryDirectory() as generated:
        subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-Iadapters/grpc",
                        "--python_out=" + generated, "adapters/grpc/grpc_predict_v2.proto"],
                       check=True)
        sys.path.insert(0, generated)
        import grpc_predict_v2_pb2 as pb
        write("simple_v2_grpc.json", grpc_capture(
            pb, "simple-v2-grpc", ROWS, "FP32", "f",
            "KServe v2 gRPC: a serialized ModelInferRequest with raw_input_contents; the request "
            "path is the gRPC method"))
        write("simple_v2_f64_grpc.json", grpc_capture(
            pb, "simple-v2-grpc-fp64", ROWS_F64, "FP64", "d",
            "FP64 inputs in a ModelInferRequest (for simple_mlp_f64.pt)"))


if __name__ == "__main__":
    main()
