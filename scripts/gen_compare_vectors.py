#!/usr/bin/python3
"""Generates tests/data/compare_vectors.{npz,json} and tests/data/npy/*.npy: numpy's answers for
the comparison engine's edge cases, checked by tests/compare_test.cpp and tests/npy_test.cpp
without Python (the same pattern as scripts/gen_isclose_vectors.py).

Run with Debian's python3-numpy:  /usr/bin/python3 scripts/gen_compare_vectors.py

What is generated (and why):
- argmax_<n> (n = 1..9 columns): rows of class scores drawn from {NaN, -1, 0, 0.5, 1} on both
  sides, with numpy.argmax of every row on each side. numpy returns the first NaN of a row when
  it holds one, else the first maximum; replay's argmax rows must agree for every row length.
- wide_*: float32 pairs (huge values whose difference overflows float32, zeros, normal values)
  with numpy.isclose under tolerances beyond float32's range (atol or rtol 1e39, 3.5e38) and
  within it, for comparison. numpy 1.x computes the tolerance term in float64 when a tolerance
  does not fit float32 (value-based casting); |a - b| stays float32 (and overflows to inf).
- energy_*: float64 pairs with numpy's NMSE (sum (a - b)^2 / sum ref^2) and SQNR
  (10 log10(sum ref^2 / sum (a - b)^2)) for ref = b (reference b, the default) and ref = a.
- tests/data/npy/: arrays saved by numpy.save in Fortran order (transposed views: 2-D float32,
  3-D big-endian int16, 2-D float64), each with its C-ordered twin (numpy.ascontiguousarray);
  and an .npy whose header is not padded to the element's alignment (written by hand: numpy
  always pads to 64 bytes, other writers need not).
"""
import json
import os

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data")
rng = np.random.default_rng(20261202)
arrays = {}
spec = {"generator": "scripts/gen_compare_vectors.py", "numpy": np.__version__,
        "argmax": [], "wide": [], "energy": []}

# --- argmax rows with NaNs -------------------------------------------------------------------
choices = np.array([np.nan, -1.0, 0.0, 0.5, 1.0])
for n in range(1, 10):
    rows = 60
    a = rng.choice(choices, size=(rows, n), p=[0.35, 0.15, 0.2, 0.15, 0.15])
    b = a.copy()
    flip = rng.random(size=(rows, n)) < 0.4
    b[flip] = rng.choice(choices, size=int(flip.sum()))
    a[0, :] = np.nan  # an all-NaN row: argmax 0 on that side
    if n >= 3:        # the row: [NaN, 0, NaN] vs [NaN, 0, 0]
        a[1, :] = 0.0
        b[1, :] = 0.0
        a[1, 0] = a[1, 2] = np.nan
        b[1, 0] = np.nan
    arrays["argmax_%d_a" % n] = a.astype(np.float32)
    arrays["argmax_%d_b" % n] = b.astype(np.float32)
    arrays["argmax_%d_label_a" % n] = np.argmax(a.astype(np.float32), axis=1).astype(np.int64)
    arrays["argmax_%d_label_b" % n] = np.argmax(b.astype(np.float32), axis=1).astype(np.int64)
    spec["argmax"].append({"columns": n, "a": "argmax_%d_a" % n, "b": "argmax_%d_b" % n,
                           "label_a": "argmax_%d_label_a" % n,
                           "label_b": "argmax_%d_label_b" % n})

# --- tolerances beyond float32's range ---------------------------------------------------------
f32max = float(np.finfo(np.float32).max)
specials = [0.0, -0.0, 1.0, -1.0, 1e-30, 1e30, -1e30, 3e38, -3e38, f32max, -f32max, 1e38, 5e37]
a = np.concatenate([np.array(specials), rng.normal(size=40), rng.normal(size=20) * 1e37])
b = np.concatenate([np.array(list(reversed(specials))), rng.normal(size=40),
                    rng.normal(size=20) * 1e37])
pairs_a = np.concatenate([a, a, b]).astype(np.float32)
pairs_b = np.concatenate([b, a[::-1], -b]).astype(np.float32)
arrays["wide_a"] = pairs_a
arrays["wide_b"] = pairs_b
tolerances = [(0.0, 1e39), (1e39, 0.0), (1e39, 1e39), (1e-5, 1e39), (1e39, 1.3e-6),
              (3.5e38, 0.0), (0.0, 3.5e38), (0.0, 1e30), (1e38, 0.0), (1e-5, 1.3e-6)]
for i, (atol, rtol) in enumerate(tolerances):
    with np.errstate(over="ignore", invalid="ignore"):
        expected = np.isclose(pairs_a, pairs_b, rtol=rtol, atol=atol)
    key = "wide_expected_%d" % i
    arrays[key] = expected
    spec["wide"].append({"a": "wide_a", "b": "wide_b", "atol": atol, "rtol": rtol,
                         "expected": key})

# --- NMSE and SQNR, normalised by the reference side -------------------------------------------
for i in range(3):
    n = 50 + 30 * i
    x = rng.normal(size=n) * (1 + i)
    y = x + rng.normal(size=n) * 10.0 ** -(i + 1)
    y[: n // 5] *= 3.0  # the sides' energies differ: the choice of reference shows
    arrays["energy_%d_a" % i] = x
    arrays["energy_%d_b" % i] = y
    noise = np.sum((x - y) ** 2)
    entry = {"a": "energy_%d_a" % i, "b": "energy_%d_b" % i}
    for side, ref in (("b", y), ("a", x)):
        signal = np.sum(ref ** 2)
        entry["nmse_ref_" + side] = float(noise / signal)
        entry["sqnr_db_ref_" + side] = float(10 * np.log10(signal / noise))
    spec["energy"].append(entry)

np.savez(os.path.join(ROOT, "compare_vectors.npz"), **arrays)
with open(os.path.join(ROOT, "compare_vectors.json"), "w") as f:
    json.dump(spec, f, indent=1)
    f.write("\n")

# --- .npy layouts --------------------------------------------------------------------------------
npy_dir = os.path.join(ROOT, "npy")
os.makedirs(npy_dir, exist_ok=True)
layouts = {
    "fortran_f32": np.arange(12, dtype=np.float32).reshape(3, 4).T * 1.5,
    "fortran_i16_be": (np.arange(24, dtype=np.int16).reshape(2, 3, 4) - 7).astype(">i2").T,
    "fortran_f64": rng.normal(size=(5, 7)).T,
}
for name, array in layouts.items():
    assert array.flags.f_contiguous and not array.flags.c_contiguous
    np.save(os.path.join(npy_dir, name + ".npy"), array)
    np.save(os.path.join(npy_dir, name + "_c.npy"), np.ascontiguousarray(array))
    header = open(os.path.join(npy_dir, name + ".npy"), "rb").read(128)
    assert b"'fortran_order': True" in header

# float64 data right after an unpadded header: 10 + 62 bytes, so the data starts at offset 72 + 3.
values = np.array([1.0, -2.5, 3.25], dtype="<f8")
header = "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }   \n"
assert (10 + len(header)) % 8 != 0
with open(os.path.join(npy_dir, "misaligned_f64.npy"), "wb") as f:
    f.write(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode())
    f.write(values.tobytes())
assert np.array_equal(np.load(os.path.join(npy_dir, "misaligned_f64.npy")), values)
print("wrote %d arrays, %d npy files" % (len(arrays), len(os.listdir(npy_dir))))
