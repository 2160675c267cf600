#!/usr/bin/python3
"""A KServe v2 (Open Inference Protocol) REST server for replay's integration tests, written
from the specification and Triton's binary tensor extension page with the Python standard
library (http.server) and PyTorch, independently of replay's C++ code.

  kserve_v2_server.py --model simple_mlp.pt [--name simple_mlp] [--port 0] [--train-mode]

Prints "listening on 127.0.0.1:PORT" once it accepts connections."""
import argparse, json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import torch

from kserve_v2_model import DATATYPES, TORCH_TO_V2, Model, Refused, tensor_from_bytes, \
    tensor_to_bytes

HEADER_LENGTH = "Inference-Header-Content-Length"


def flatten(data):
    for element in data:
        if isinstance(element, list):
            yield from flatten(element)
        else:
            yield element


class Handler(BaseHTTPRequestHandler):
    model = None
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, body=b"", content_type="application/json", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def error(self, status, message):
        self.send(status, json.dumps({"error": message}).encode())

    def do_GET(self):
        parts = self.path.strip("/").split("/")
        try:
            if parts in (["v2", "health", "live"], ["v2", "health", "ready"]):
                return self.send(200)
            if len(parts) >= 3 and parts[:2] == ["v2", "models"]:
                version = parts[4] if len(parts) >= 5 and parts[3] == "versions" else ""
                self.model.check(parts[2], version)
                if parts[-1] == "ready":
                    return self.send(200)
                return self.send(200, json.dumps(self.model.metadata()).encode())
            self.error(404, "no route " + self.path)
        except Refused as refused:
            self.error(404 if refused.not_found else 400, str(refused))

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        parts = self.path.strip("/").split("/")
        try:
            if len(parts) < 4 or parts[:2] != ["v2", "models"] or parts[-1] != "infer":
                return self.error(404, "no route " + self.path)
            version = parts[4] if len(parts) == 6 and parts[3] == "versions" else ""
            self.model.check(parts[2], version)
            self.infer(body)
        except Refused as refused:
            self.error(404 if refused.not_found else 400, str(refused))

    def infer(self, body):
        length = self.headers.get(HEADER_LENGTH)
        json_length = int(length) if length is not None else len(body)
        request = json.loads(body[:json_length])
        binary = body[json_length:]
        offset = 0
        inputs = []
        for item in request["inputs"]:
            datatype, shape = item["datatype"], item["shape"]
            size = item.get("parameters", {}).get("binary_data_size")
            if size is not None:
                tensor = tensor_from_bytes(datatype, shape, binary[offset:offset + size])
                offset += size
            else:
                if datatype not in DATATYPES:
                    raise Refused("datatype %s is not supported" % datatype)
                tensor = torch.tensor(list(flatten(item["data"])),
                                      dtype=DATATYPES[datatype][0]).reshape(shape)
            inputs.append((item["name"], tensor))
        requested = request.get("outputs", [])
        all_binary = request.get("parameters", {}).get("binary_data_output", False)
        wants_binary = {o["name"]: o.get("parameters", {}).get("binary_data", all_binary)
                        for o in requested}
        outputs = self.model.infer(inputs, [o["name"] for o in requested])
        answer = {"model_name": self.model.name, "model_version": "1", "outputs": []}
        if "id" in request:
            answer["id"] = request["id"]
        tail = b""
        for name, tensor in outputs:
            item = {"name": name, "shape": list(tensor.shape),
                    "datatype": TORCH_TO_V2[tensor.dtype]}
            if wants_binary.get(name, all_binary):
                raw = tensor_to_bytes(tensor)
                item["parameters"] = {"binary_data_size": len(raw)}
                tail += raw
            else:
                item["data"] = tensor.flatten().tolist()
            answer["outputs"].append(item)
        header = json.dumps(answer).encode()
        if tail:
            self.send(200, header + tail, "application/octet-stream",
                      [(HEADER_LENGTH, str(len(header)))])
        else:
            self.send(200, header)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--name", default="simple_mlp")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--train-mode", action="store_true")
    args = parser.parse_args()
    Handler.model = Model(args.model, args.name, args.train_mode)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print("listening on 127.0.0.1:%d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
