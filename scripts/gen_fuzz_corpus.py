#!/usr/bin/python3
"""Writes the fuzz targets' seed corpora, tests/fuzz/corpus/<target>/, from the project's own
fixtures and spec vectors (small files only), with the selector bytes each target reads first
(tests/fuzz/fuzz_entry.h). Run:  /usr/bin/python3 scripts/gen_fuzz_corpus.py
"""
import io
import os
import shutil

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "tests", "fuzz", "corpus")
MAX_BYTES = 8192


def src(*parts):
    return os.path.join(ROOT, *parts)


def write(target, name, data):
    os.makedirs(os.path.join(OUT, target), exist_ok=True)
    with open(os.path.join(OUT, target, name), "wb") as f:
        f.write(data)


def read(path):
    with open(path, "rb") as f:
        return f.read()


shutil.rmtree(OUT, ignore_errors=True)

# capture: byte 0 = 0 detect, 1 replay, 2 sagemaker, 3 kserve, 4 har, 5 gor
captures = [(0, "fixtures/captures/simple_input.json"), (1, "fixtures/captures/tabular_batch.jsonl"),
            (1, "fixtures/captures/simple_v2_binary.json"), (0, "fixtures/captures/tfserving_simple.json"),
            (0, "fixtures/captures/torchserve_simple.json"),
            (2, "fixtures/captures/import/sagemaker_churn.jsonl"),
            (2, "fixtures/captures/import/sagemaker_csv.jsonl"),
            (3, "fixtures/captures/import/kserve_binary.jsonl"),
            (3, "fixtures/captures/import/kserve_structured.jsonl"),
            (4, "fixtures/captures/import/churn.har"), (5, "fixtures/captures/import/churn.gor"),
            (0, "fixtures/captures/import/churn.gor")]
for selector, path in captures:
    data = read(src(path))[:MAX_BYTES]
    write("capture", "%d_%s" % (selector, os.path.basename(path)), bytes([selector]) + data)

# tensor_json
for i, text in enumerate([
        b'{"dtype": "float32", "shape": [2, 2], "data": [1, 2.5, -3, 4e-5]}',
        b'[[1, 2, 3], [4, 5, 6]]', b'[1.5, null, "NaN", "Infinity"]',
        b'{"dtype": "int64", "shape": [3], "data": [9007199254740993, -1, 0]}',
        b'{"dtype": "bfloat16", "shape": [], "data": 1.0}', b'[[[true, false]]]',
        b'{"dtype": "float16", "shape": [2, 0], "data": []}']):
    write("tensor_json", "seed_%d.json" % i, text)

# npy
arrays = {"f32_2d": np.arange(6, dtype=np.float32).reshape(2, 3),
          "f64_fortran": np.arange(6, dtype=np.float64).reshape(2, 3).T,
          "i16_be": np.arange(4, dtype=">i2"), "bool": np.array([True, False]),
          "f16_scalar": np.float16(1.5), "u8_empty": np.zeros((0, 3), dtype=np.uint8),
          "i64": np.array([-(2 ** 62), 2 ** 62], dtype=np.int64)}
for name, array in arrays.items():
    buffer = io.BytesIO()
    np.save(buffer, array)
    write("npy", name + ".npy", buffer.getvalue())
for name in ("misaligned_f64", "fortran_i16_be"):
    write("npy", name + ".npy", read(src("tests", "data", "npy", name + ".npy")))

# npz
for name, compress in (("stored", False), ("deflated", True)):
    buffer = io.BytesIO()
    (np.savez_compressed if compress else np.savez)(
        buffer, logits=np.arange(4, dtype=np.float32), ids=np.array([1, 2], dtype=np.int64))
    write("npz", name + ".npz", buffer.getvalue())

# remote_response: byte 0 codec (0 json, 1 kserve-v2, 2 tfserving, 3 torchserve); byte 1: status
# index (low 3 bits; 0 = 200) and header kind (bits 3-4: 0 JSON, 1 binary with bytes 2-3 as the
# JSON header's length); bytes 2-3 little-endian header length; then the body.
def response(codec, body, kind=0, status=0, header_length=0):
    return bytes([codec, status | (kind << 3), header_length & 0xFF, header_length >> 8]) + body


write("remote_response", "json_outputs", response(0, b'{"outputs": [[0.1, 0.9]], "prediction": [1]}'))
write("remote_response", "json_error", response(0, b'{"error": "boom"}', status=6))
write("remote_response", "kserve_rest",
      response(1, read(src("tests/data/protocols/kserve_v2/rest_infer_response.json"))))
write("remote_response", "kserve_binary",
      response(1, read(src("tests/data/protocols/kserve_v2/binary_infer_response.bin")), kind=1,
               header_length=178))
raw = src("tests/data/protocols/kserve_v2/raw_binary_response.bin")
write("remote_response", "kserve_raw", response(1, read(raw), kind=1, header_length=0))
write("remote_response", "tfserving_predict", response(2, b'{"predictions": [[0.5, 1.5], [2, 3]]}'))
write("remote_response", "tfserving_columnar", response(2, b'{"outputs": {"y": [[1.0], [2.0]]}}'))
write("remote_response", "tfserving_error", response(2, b'{"error": "Servable not found"}', status=5))
write("remote_response", "torchserve_list", response(3, b'[0.1, 0.7, 0.2]'))
write("remote_response", "torchserve_error",
      response(3, read(src("tests/data/protocols/torchserve/model_not_found.json")), status=5))

# config
for path in ("fixtures/configs/simple.json", "fixtures/configs/tabular.json",
             "fixtures/configs/tabular_tfserving.json", "fixtures/configs/tabular_torchscript.json"):
    write("config", os.path.basename(path), read(src(path))[:MAX_BYTES])
write("config", "tolerances.json",
      b'{"version": 1, "tolerances": {"default": {"rule": "quantile:0.9", "atol": 1e-4}, '
      b'"stages": {"outputs": {"rule": "ulp", "max_ulp": 4, "tensors": {"y": {"rule": "exact"}}}}},'
      b' "compare": {"class_axis": -1, "topk": 3}}')

# json_text: texts nlohmann reads (a remote answer, a capture line, numbers and strings at the
# edges) and texts it refuses (ill-formed UTF-8, a BOM, syntax errors, nesting past the limit)
write("json_text", "remote_answer.json",
      b'{"debug":{"features":{"features":{"data":[-0.25600001215934753,0.9504721164703369,1.0,0.0],'
      b'"dtype":"float32","shape":[2,2]}},"payload":{"instances":[{"age":38,"amount":850164.643,'
      b'"country":"DE"}]}},"outputs":{"data":[-0.6737549304962158,0.04043117165565491],'
      b'"dtype":"float32","shape":[1,2]},"prediction":[1]}')
write("json_text", "capture_line.json",
      b'{"id": "c000000", "request": {"method": "POST", "path": "/predict", "headers": '
      b'{"Content-Type": "application/json"}, "body": "{\\"instances\\": [{\\"age\\": 38, '
      b'\\"country\\": \\"DE\\"}]}"}, "response": {"status": 200, "body": "{\\"prediction\\": [1]}"}}')
write("json_text", "numbers.json",
      b'[0, -0, 1, -1, 9223372036854775807, 9223372036854775808, -9223372036854775808, '
      b'-9223372036854775809, 18446744073709551615, 18446744073709551616, 1.5, -0.0, 1e5, 1E+5, '
      b'1e-5, 4.9e-324, 2e-324, 1e-400, 1.7976931348623157e308, 9007199254740993, 0.1e1]')
write("json_text", "strings.json",
      '{"a\\u00e9\\ud83d\\ude00": "\\"\\\\\\/\\b\\f\\n\\r\\t\\u0000 caf\u00e9 \u20ac \U0001F600", '
      '"k": ["", "x"]}'.encode())
write("json_text", "bad_utf8.json", b'["\xc3", "\xed\xa0\x80", "\xf4\x90\x80\x80"]')
write("json_text", "bom.json", b'\xef\xbb\xbf{"a": [true, false, null]}')
write("json_text", "errors.json", b'{"a": [1, 2,], "b" 1, 01, 1., tru}')
write("json_text", "packed.json",
      ('{"outputs": [' + ",".join(str(i % 7 - 3) + (".5" if i % 5 == 0 else "") for i in range(1100))
       + "]}").encode())
write("json_text", "nested.json", b"[" * 600 + b"]" * 600)

total = sum(len(files) for _, _, files in os.walk(OUT))
print("wrote %d seed files under %s" % (total, os.path.relpath(OUT, ROOT)))
