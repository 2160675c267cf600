#!/usr/bin/env python3
"""A prediction server as many teams write it by hand, and not derived from replay's code:
the TorchScript model behind http.server, answering the model's raw outputs as JSON.

    plain_json_server.py MODEL.pt [--key prediction|predictions|bare] [--train-mode] [--scale X]

Prints "listening on 127.0.0.1:PORT" once it accepts connections. The request body is
{"input": [[...], ...]}; the answer is {KEY: <logits>} (or the bare list with --key bare).
--train-mode serves the model without eval() (batch-norm on the batch's statistics), the
commonest serving bug; --scale multiplies the inputs first (a skew before the model).
"""
import argparse
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import torch


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("--key", default="prediction")
    parser.add_argument("--train-mode", action="store_true")
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()

    model = torch.jit.load(args.model)
    if args.train_mode:
        model.train()
        # Batch-norm's batch statistics are the skew under test; dropout would only add noise.
        for name, module in model.named_modules():
            if "drop" in name:
                module.eval()
    else:
        model.eval()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            payload = json.loads(self.rfile.read(length))
            inputs = torch.tensor(payload["input"], dtype=torch.float32) * args.scale
            with torch.no_grad():
                logits = model(inputs)
            values = logits.tolist()
            body = json.dumps(values if args.key == "bare" else {args.key: values}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *unused):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print("listening on 127.0.0.1:%d" % server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
