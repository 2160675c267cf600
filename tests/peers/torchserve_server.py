#!/usr/bin/python3
"""A TorchServe peer for replay's integration tests: inference and management APIs.

Written from TorchServe's inference API and management API pages
(https://pytorch.org/serve/inference_api.html, management_api.html), not from replay's code.
The inference API (POST or PUT /predictions/NAME[/VERSION], GET /ping) and the management API
(GET /models, GET /models/NAME[/VERSION|/all]) listen on two ports, as TorchServe's 8080 and
8081 do. The model is a TorchScript archive run with torch (Debian's python3-torch) behind a
handler that does what TorchServe's BaseHandler does for a JSON request: the tensor is the
body's "instances", "inputs", "input" or "data", and postprocess returns data.tolist(), so the
answer is a bare JSON list of the model's outputs, one row per instance. Errors are
{"code", "type", "message"} as TorchServe's frontend writes them.

    /usr/bin/python3 tests/peers/torchserve_server.py --model build/fixtures/simple_mlp.pt --port 0

prints "listening on 127.0.0.1:PORT management 127.0.0.1:PORT" once both accept connections.
--skew train-mode serves the model without eval(): a planted skew. --versions 1.0,2.0 registers
several versions (the first is the default).
"""
import argparse
import json
import os
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import torch

PREDICTIONS = re.compile(r"^/predictions/([^/]+)(?:/([^/]+))?/?$")
MODELS = re.compile(r"^/models/([^/]+)(?:/([^/]+))?/?$")


class Model:
    def __init__(self, path, name, versions, skew):
        self.module = torch.jit.load(path, map_location="cpu")
        if skew == "train-mode":
            self.module.train()
        else:
            self.module.eval()
        self.name = name
        self.versions = versions
        self.lock = threading.Lock()

    def describe(self, version):
        return {"modelName": self.name, "modelVersion": version,
                "modelUrl": "%s%s.mar" % (self.name, "" if version == self.versions[0] else "_" + version),
                "runtime": "python", "minWorkers": 1, "maxWorkers": 1, "batchSize": 1,
                "maxBatchDelay": 100, "loadedAtStartup": True,
                "workers": [{"id": "9000", "startTime": "2026-11-20T10:00:00.000Z", "status": "READY",
                             "memoryUsage": 0, "pid": os.getpid(), "gpu": False, "gpuUsage": "N/A"}]}

    def handle(self, body):
        """BaseHandler for a JSON request: preprocess, inference, postprocess."""
        data = json.loads(body)
        for key in ("instances", "inputs", "input", "data"):
            if isinstance(data, dict) and key in data:
                data = data[key]
                break
        tensor = torch.tensor(data, dtype=torch.float32)
        with self.lock, torch.no_grad():
            return self.module(tensor).tolist()


def error(code, kind, message):
    return {"code": code, "type": kind, "message": message}


class Base(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    model = None

    def log_message(self, *args):
        pass

    def answer(self, status, body):
        data = json.dumps(body, indent=2).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def find(self, name, version):
        if name != self.model.name:
            self.answer(404, error(404, "ModelNotFoundException", "Model not found: %s" % name))
            return False
        if version and version not in self.model.versions:
            self.answer(404, error(404, "ModelVersionNotFoundException",
                                   "Model version: %s does not exist for model: %s" % (version, name)))
            return False
        return True


class Inference(Base):
    def do_GET(self):
        if self.path == "/ping":
            self.answer(200, {"status": "Healthy"})
        else:
            self.answer(404, error(404, "ResourceNotFoundException", "Requested resource is not found, please refer to API document."))

    def predict(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        match = PREDICTIONS.match(self.path.split("?")[0])
        if not match:
            self.answer(404, error(404, "ResourceNotFoundException", "Requested resource is not found, please refer to API document."))
            return
        if not self.find(*match.groups()):
            return
        try:
            outputs = self.model.handle(body)
        except Exception:  # the handler failed: TorchServe's frontend answers 503
            self.answer(503, error(503, "InternalServerException", "Prediction failed"))
            return
        self.answer(200, outputs)

    do_POST = predict
    do_PUT = predict


class Management(Base):
    def do_GET(self):
        path = self.path.split("?")[0]
        if path == "/models":
            self.answer(200, {"models": [{"modelName": self.model.name, "modelUrl": self.model.name + ".mar"}]})
            return
        match = MODELS.match(path)
        if not match:
            self.answer(404, error(404, "ResourceNotFoundException", "Requested resource is not found, please refer to API document."))
            return
        name, version = match.groups()
        if version == "all":
            if self.find(name, None):
                self.answer(200, [self.model.describe(v) for v in self.model.versions])
            return
        if self.find(name, version):
            self.answer(200, [self.model.describe(version or self.model.versions[0])])


def serve(server):
    server.serve_forever()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--name", help="the registered model name (default: the file's stem)")
    parser.add_argument("--versions", default="1.0", help="comma-separated; the first is the default")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--management-port", type=int, default=0)
    parser.add_argument("--skew", choices=["none", "train-mode"], default="none")
    args = parser.parse_args()
    name = args.name or os.path.splitext(os.path.basename(args.model))[0]
    Base.model = Model(args.model, name, args.versions.split(","), args.skew)
    inference = ThreadingHTTPServer(("127.0.0.1", args.port), Inference)
    management = ThreadingHTTPServer(("127.0.0.1", args.management_port), Management)
    inference.daemon_threads = management.daemon_threads = True
    threading.Thread(target=serve, args=(management,), daemon=True).start()
    print("listening on 127.0.0.1:%d management 127.0.0.1:%d"
          % (inference.server_address[1], management.server_address[1]), flush=True)
    try:
        serve(inference)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
