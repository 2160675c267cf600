#!/usr/bin/python3
"""Writes the KServe v2 conformance vectors that are bytes (tests/data/protocols/kserve_v2/):
Triton's binary tensor extension examples (docs/protocol/extension_binary_data.md) with the JSON
headers exactly as the page shows them and the elements packed with struct, and the gRPC
examples encoded by `protoc --encode` from their text form. Nothing here uses replay's code, so
the vectors test it against tools it did not write. Run from the repository root; needs protoc."""
import json, os, struct, subprocess

HERE = "tests/data/protocols/kserve_v2"
PROTO_DIR = "adapters/grpc"

BINARY_REQUEST_HEADER = """{
  "model_name" : "mymodel",
  "inputs" : [
    {
      "name" : "input0",
      "shape" : [ 2, 2 ],
      "datatype" : "UINT32",
      "parameters" : {
        "binary_data_size" : 16
      }
    },
    {
      "name" : "input1",
      "shape" : [ 3 ],
      "datatype" : "BOOL",
      "parameters" : {
        "binary_data_size" : 3
      }
    }
  ],
  "outputs" : [
    {
      "name" : "output0",
      "parameters" : {
        "binary_data" : true
      }
    }
  ]
}"""

BINARY_RESPONSE_HEADER = """{
  "outputs" : [
    {
      "name" : "output0",
      "shape" : [ 3, 2 ],
      "datatype"  : "FP32",
      "parameters" : {
        "binary_data_size" : 24
      }
    }
  ]
}"""

RAW_RESPONSE_HEADER = """{
  "outputs" : [
    {
      "name" : "output0",
      "shape" : [ 3, 1 ],
      "datatype"  : "FP32",
      "parameters" : {
        "binary_data_size" : 12
      }
    },
    {
      "name" : "output1",
      "shape" : [ 3, 1 ],
      "datatype"  : "FP32",
      "parameters" : {
        "binary_data_size" : 12
      }
    }
  ]
}"""


def write(name, data):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)


def main():
    manifest = {}
    # The page's request: 16 bytes for input0 (UINT32 [2, 2]) and 3 for input1 (BOOL [3]); the
    # values are the REST example's.
    header = BINARY_REQUEST_HEADER.encode()
    body = header + struct.pack("<4I", 1, 2, 3, 4) + bytes([1, 0, 1])
    write("binary_infer_request.bin", body)
    manifest["binary_infer_request.bin"] = {"inference_header_content_length": len(header)}
    header = BINARY_RESPONSE_HEADER.encode()
    body = header + struct.pack("<6f", 1.0, 1.1, 2.0, 2.1, 3.0, 3.1)
    write("binary_infer_response.bin", body)
    manifest["binary_infer_response.bin"] = {"inference_header_content_length": len(header)}
    # "Raw binary request": no JSON header at all (Inference-Header-Content-Length: 0).
    write("raw_binary_request.bin", struct.pack("<4f", 0.5, 1.5, 2.5, 3.5))
    manifest["raw_binary_request.bin"] = {"inference_header_content_length": 0}
    header = RAW_RESPONSE_HEADER.encode()
    body = header + struct.pack("<3f", 1.0, 2.0, 3.0) + struct.pack("<3f", 4.0, 5.0, 6.0)
    write("raw_binary_response.bin", body)
    manifest["raw_binary_response.bin"] = {"inference_header_content_length": len(header)}
    for name, message in [("grpc_infer_request_typed", "ModelInferRequest"),
                          ("grpc_infer_request_raw", "ModelInferRequest"),
                          ("grpc_infer_response_typed", "ModelInferResponse")]:
        with open(os.path.join(HERE, name + ".textproto"), "rb") as text:
            encoded = subprocess.run(
                ["protoc", "--proto_path=" + PROTO_DIR, "--encode=inference." + message,
                 "grpc_predict_v2.proto"], stdin=text, check=True, capture_output=True).stdout
        write(name + ".bin", encoded)
    with open(os.path.join(HERE, "binary_vectors.json"), "w") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
