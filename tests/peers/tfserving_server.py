#!/usr/bin/python3
"""A TF Serving REST API peer for replay's integration tests.

Written from TF Serving's REST API page (https://www.tensorflow.org/tfx/serving/api_rest), not
from replay's code: POST /v1/models/NAME[/versions/V|/labels/L]:predict in row ("instances") and
columnar ("inputs") form, GET /v1/models/NAME[...] (model status) and .../metadata
(signature_def), errors as {"error": "..."} with an HTTP error status, NaN and Infinity written
as bare tokens (the page's "JSON conformance"). The model is a TorchScript archive run with
torch (Debian's python3-torch) behind one signature, "serving_default", with one DT_FLOAT input
"input" and one output "output".

    /usr/bin/python3 tests/peers/tfserving_server.py --model build/fixtures/simple_mlp.pt --port 0

prints "listening on 127.0.0.1:PORT" once it accepts connections. --skew train-mode serves the
model without eval() (batch-norm on batch statistics, dropout on): a planted skew.
"""
import argparse
import json
import os
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import torch

PATH = re.compile(r"^/v1/models/([^/:]+)(?:/versions/([^/:]+)|/labels/([^/:]+))?(:predict|/metadata)?$")


class Servable:
    def __init__(self, model_path, name, version, labels, skew):
        self.model = torch.jit.load(model_path, map_location="cpu")
        if skew == "train-mode":
            self.model.train()
        else:
            self.model.eval()
        self.name = name
        self.version = version
        self.labels = labels
        self.lock = threading.Lock()

    def resolve(self, name, version, label):
        """None when this servable answers the request, else the error message."""
        if name != self.name:
            return "Servable not found for request: Latest(%s)" % name
        if version is not None and version != self.version:
            return "Servable not found for request: Specific(%s, %s)" % (name, version)
        if label is not None and label not in self.labels:
            return "Unrecognized servable version label: %s" % label
        return None

    def predict(self, values):
        tensor = torch.tensor(values, dtype=torch.float32)  # the signature's DT_FLOAT
        with self.lock, torch.no_grad():
            return self.model(tensor).tolist()


def tensor_info(name, dims):
    return {"dtype": "DT_FLOAT",
            "tensor_shape": {"dim": [{"size": str(d), "name": ""} for d in dims], "unknown_rank": False},
            "name": name}


class BadRequest(Exception):
    pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    servable = None

    def log_message(self, *args):
        pass

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def route(self):
        """The verb (":predict", "/metadata", "" for the model status), or None once an error
        has been answered."""
        match = PATH.match(self.path.split("?")[0])
        if not match:
            self.answer(404, {"error": "Malformed request: %s %s" % (self.command, self.path)})
            return None
        name, version, label, verb = match.groups()
        problem = self.servable.resolve(name, version, label)
        if problem:
            self.answer(404, {"error": problem})
            return None
        return verb or ""

    def do_GET(self):
        verb = self.route()
        if verb is None:
            return
        servable = self.servable
        if verb == "/metadata":
            signature = {"inputs": {"input": tensor_info("serving_default_input:0", [-1, -1])},
                         "outputs": {"output": tensor_info("StatefulPartitionedCall:0", [-1, -1])},
                         "method_name": "tensorflow/serving/predict"}
            self.answer(200, {"model_spec": {"name": servable.name, "signature_name": "",
                                             "version": servable.version},
                              "metadata": {"signature_def": {"signature_def": {"serving_default": signature}}}})
        elif verb == "":
            self.answer(200, {"model_version_status": [
                {"version": servable.version, "state": "AVAILABLE",
                 "status": {"error_code": "OK", "error_message": ""}}]})
        else:
            self.answer(405, {"error": "Method not allowed"})

    def do_POST(self):
        verb = self.route()
        if verb is None:
            return
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        if verb != ":predict":
            self.answer(400, {"error": "Unsupported verb"})
            return
        try:
            request = json.loads(body)
            if not isinstance(request, dict):
                raise BadRequest("Request body must be a JSON object")
            signature = request.get("signature_name", "serving_default")
            if signature != "serving_default":
                raise BadRequest('Serving signature name: "%s" not found in signature def' % signature)
            if ("instances" in request) == ("inputs" in request):
                raise BadRequest('Request must have exactly one of "instances" or "inputs"')
            row = "instances" in request
            values = request["instances"] if row else request["inputs"]
            if row and isinstance(values, list) and values and all(isinstance(v, dict) for v in values):
                if any(set(v) != {"input"} for v in values):
                    raise BadRequest("the signature's only input is \"input\"")
                values = [v["input"] for v in values]
            elif not row and isinstance(values, dict):
                if set(values) != {"input"}:
                    raise BadRequest("the signature's only input is \"input\"")
                values = values["input"]
            outputs = self.servable.predict(values)
        except (ValueError, TypeError, RuntimeError, BadRequest) as error:
            self.answer(400, {"error": str(error)})
            return
        self.answer(200, {"predictions": outputs} if row else {"outputs": outputs})


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--name", help="the served model name (default: the file's stem)")
    parser.add_argument("--version", default="1")
    parser.add_argument("--label", action="append", default=["stable"])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--skew", choices=["none", "train-mode"], default="none")
    args = parser.parse_args()
    name = args.name or os.path.splitext(os.path.basename(args.model))[0]
    Handler.servable = Servable(args.model, name, args.version, args.label, args.skew)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print("listening on 127.0.0.1:%d" % server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
