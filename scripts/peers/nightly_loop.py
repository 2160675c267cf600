#!/usr/bin/python3
"""The peer of scripts/bench_nightly.sh: what a team writes by hand instead of replay, a plain
Python loop over a JSON Lines capture file doing the same work for each capture: the config's
tabular preprocessing (numpy), the TorchScript model (torch.jit.load, one thread), the production
side (live: urllib POST to the endpoint; offline: the capture's logged response), and
numpy.allclose on the features and outputs plus the argmax prediction.

  nightly_loop.py live CAPTURES.jsonl MODEL.pt CONFIG.json URL
  nightly_loop.py offline CAPTURES.jsonl MODEL.pt CONFIG.json
Prints one JSON line: captures, equivalent, diverged, seconds, captures_per_s.
"""
import json
import sys
import time
import urllib.request

import numpy as np
import torch


def preprocess(rows, columns):
    out = []
    for row in rows:
        features = []
        for column in columns:
            value = row.get(column["field"], column.get("impute"))
            t = column["transform"]
            kind = t["type"]
            if kind == "standard":
                features.append((float(value) - t["mean"]) / t["scale"])
            elif kind == "minmax":
                lo, hi = t.get("range", [0, 1])
                features.append((float(value) - t["min"]) / (t["max"] - t["min"]) * (hi - lo) + lo)
            elif kind == "onehot":
                features.extend(1.0 if value == c else 0.0 for c in t["categories"])
            elif kind == "ordinal":
                cats = t["categories"]
                features.append(float(cats.index(value)) if value in cats else float(t.get("unknown_value", -1)))
            else:
                raise ValueError("unsupported transform " + kind)
        out.append(features)
    return np.asarray(out, dtype=np.float32)


def main():
    mode, captures_path, model_path, config_path = sys.argv[1:5]
    url = sys.argv[5] if mode == "live" else None
    config = json.load(open(config_path))
    columns = config["preprocess"]["columns"]
    rows_key = config["preprocess"]["rows"].strip("/")
    headers = {"Content-Type": "application/json"}
    headers.update(config.get("remote", {}).get("headers", {}))
    torch.set_num_threads(1)
    model = torch.jit.load(model_path).eval()
    counts = {"captures": 0, "equivalent": 0, "diverged": 0}
    started = time.perf_counter()
    with open(captures_path) as lines:
        for line in lines:
            if not line.strip():
                continue
            capture = json.loads(line)
            body = capture["request"]["body"]
            features = preprocess(json.loads(body)[rows_key], columns)
            with torch.no_grad():
                outputs = model(torch.from_numpy(features)).numpy()
            if mode == "live":
                request = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")
                with urllib.request.urlopen(request, timeout=10) as answer:
                    remote = json.loads(answer.read())
            else:
                remote = json.loads(capture["response"]["body"])
            same = True
            debug = remote.get("debug", {}).get("features", {}).get("features")
            if debug is not None:
                remote_features = np.asarray(debug["data"], dtype=np.float32).reshape(debug["shape"])
                same &= remote_features.shape == features.shape and np.allclose(features, remote_features)
            remote_outputs = np.asarray(remote["outputs"]["data"], dtype=np.float32).reshape(remote["outputs"]["shape"])
            same &= remote_outputs.shape == outputs.shape and np.allclose(outputs, remote_outputs)
            same &= list(np.argmax(outputs, axis=-1)) == list(remote["prediction"])
            counts["captures"] += 1
            counts["equivalent" if same else "diverged"] += 1
    seconds = time.perf_counter() - started
    counts["seconds"] = seconds
    counts["captures_per_s"] = counts["captures"] / seconds
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
