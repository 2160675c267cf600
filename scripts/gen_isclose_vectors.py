#!/usr/bin/python3
"""Generates tests/data/isclose_vectors.{npz,json}: pairs of vectors for every dtype, with the
element-wise verdict of numpy.isclose under several tolerances, so that tests/compare_test.cpp
checks replay's `allclose` rule against numpy without Python.

Run with Debian's python3-numpy (and python3-torch, whose torch.isclose verdicts are stored\nbeside numpy's):  /usr/bin/python3 scripts/gen_isclose_vectors.py

How the expected verdicts are computed (and why):
- float32, float64: numpy.isclose on the arrays as they are (numpy computes in the arrays'
  dtype, with atol and rtol cast to it, as replay does; torch.isclose does the same and agrees
  with numpy element for element on these dtypes).
- float16, bfloat16: numpy.isclose on the values upcast to float32: replay evaluates the rule in
  float32 arithmetic for the half types (numpy would round every intermediate to float16).
  bfloat16 has no numpy dtype: it is stored as its raw bits (viewed as int16).
- integers and bool: numpy.isclose as is (numpy computes in float64, as replay does). int64
  values stay within +-2**53, where float64 holds them exactly (beyond that replay compares the
  exact integers and numpy the rounded doubles).
"""
import json
import os

import numpy as np

try:  # Debian's python3-torch: every verdict is also checked against torch.isclose
    import torch
except ImportError:
    torch = None

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data")
rng = np.random.default_rng(20240601)


def to_bfloat16_bits(values):
    bits = np.asarray(values, dtype=np.float32).view(np.uint32).astype(np.uint64)
    nan = np.isnan(np.asarray(values, dtype=np.float32))
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
    rounded[nan] = 0x7FC0
    return rounded


def bfloat16_to_float32(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32)


def float_pairs(dtype, finfo_tiny, finfo_max, n=400):
    base = np.concatenate([
        rng.normal(size=n // 4),
        rng.normal(size=n // 8) * 1e-3,
        rng.uniform(-1e4, 1e4, size=n // 8),
    ]).astype(np.float64)
    specials = np.array([0.0, -0.0, np.nan, np.inf, -np.inf, finfo_tiny, -finfo_tiny,
                         finfo_tiny / 4, finfo_max, -finfo_max, 1e-30, 1e30, 1.0, -1.0])
    a = np.concatenate([base, specials, specials, rng.permutation(specials)])
    b = np.concatenate([
        base * (1 + rng.normal(size=base.size) * rng.choice([1e-8, 1e-6, 1e-4, 1e-2], base.size))
        + rng.normal(size=base.size) * rng.choice([0, 1e-9, 1e-6, 1e-3], base.size),
        specials, rng.permutation(specials), specials])
    # Exact boundary cases: b = a shifted by exactly atol-ish amounts.
    return a, b


cases = []
arrays = {}
torch_disagreements = []


def add(dtype_name, a, b, a_store, b_store, tolerances):
    arrays[dtype_name + "_a"] = a_store
    arrays[dtype_name + "_b"] = b_store
    for i, (atol, rtol, equal_nan) in enumerate(tolerances):
        expected = np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)
        key = "%s_expected_%d" % (dtype_name, i)
        arrays[key] = expected
        if torch is not None:
            # torch.isclose on the same values (the half types upcast to float32, as above).
            t = torch.isclose(torch.from_numpy(np.ascontiguousarray(a)),
                              torch.from_numpy(np.ascontiguousarray(b)),
                              rtol=rtol, atol=atol, equal_nan=equal_nan).numpy()
            arrays[key + "_torch"] = t
            disagree = int(np.count_nonzero(t != expected))
            torch_disagreements.append((key, disagree))
        else:
            disagree = None
        cases.append({"dtype": dtype_name, "a": dtype_name + "_a", "b": dtype_name + "_b",
                      "expected": key,
                      "expected_torch": key + "_torch" if torch is not None else None,
                      # torch.isclose computes integer inputs in float32: beyond 2**24 it calls
                      # values a few units apart close, where numpy (and replay) do not.
                      "torch_disagreements": disagree,
                      "atol": atol, "rtol": rtol, "equal_nan": equal_nan})


float_tolerances = [(1e-5, 1.3e-6, False), (1e-8, 1e-5, True), (0.0, 1e-3, False),
                    (1e-3, 0.0, True), (1e-5, 1e-3, False), (1e-5, 1.6e-2, False)]

for name, dtype in [("float32", np.float32), ("float64", np.float64)]:
    info = np.finfo(dtype)
    a, b = float_pairs(dtype, float(info.tiny), float(info.max))
    with np.errstate(over="ignore", invalid="ignore"):
        a, b = a.astype(dtype), b.astype(dtype)
    add(name, a, b, a, b, float_tolerances)

info16 = np.finfo(np.float16)
a, b = float_pairs(np.float16, float(info16.tiny), float(info16.max))
with np.errstate(over="ignore", invalid="ignore"):
    a16, b16 = a.astype(np.float16), b.astype(np.float16)
add("float16", a16.astype(np.float32), b16.astype(np.float32), a16, b16, float_tolerances)

a, b = float_pairs(np.float32, 1.1754944e-38, 3.3895314e38)
with np.errstate(over="ignore", invalid="ignore"):
    abits, bbits = to_bfloat16_bits(a.astype(np.float32)), to_bfloat16_bits(b.astype(np.float32))
add("bfloat16", bfloat16_to_float32(abits), bfloat16_to_float32(bbits),
    abits.view(np.int16), bbits.view(np.int16),
    float_tolerances)

int_tolerances = [(0.0, 0.0, False), (1.0, 0.0, False), (0.0, 0.01, False), (2.0, 0.001, False)]
for name, dtype, low, high in [("uint8", np.uint8, 0, 256), ("int8", np.int8, -128, 128),
                               ("int16", np.int16, -2**15, 2**15),
                               ("int32", np.int32, -2**31, 2**31),
                               ("int64", np.int64, -2**53, 2**53)]:
    a = rng.integers(low, high, size=300, dtype=np.int64)
    delta = rng.choice([0, 0, 1, -1, 2, 5, 100], size=300)
    b = np.clip(a + delta, low, high - 1)
    a, b = a.astype(dtype), b.astype(dtype)
    add(name, a, b, a, b, int_tolerances)

a = rng.integers(0, 2, size=64).astype(bool)
b = a.copy()
b[::5] = ~b[::5]
add("bool", a, b, a, b, int_tolerances[:2])

np.savez(os.path.join(OUT, "isclose_vectors.npz"), **arrays)
with open(os.path.join(OUT, "isclose_vectors.json"), "w") as f:
    json.dump({"generator": "scripts/gen_isclose_vectors.py", "numpy": np.__version__,
               "torch": torch.__version__ if torch is not None else None,
               "cases": cases}, f, indent=1)
    f.write("\n")
print("wrote %d cases, %d arrays" % (len(cases), len(arrays)))
for key, disagree in torch_disagreements:
    if disagree:
        print("torch.isclose and numpy.isclose disagree on %d elements of %s" % (disagree, key))
