#!/usr/bin/python3
"""scripts/export_sklearn.py: a ColumnTransformer fitted by scikit-learn on generated data
(every supported transformer, inside a Pipeline with a model after it) is exported and proven
against replay; a config that disagrees fails the proof; an unsupported transformer is named.

Usage: export_sklearn_test.py REPLAY_BINARY (run by ctest through export_sklearn_test.sh)."""

import json
import os
import pickle
import subprocess
import sys
import tempfile

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (MinMaxScaler, OneHotEncoder, OrdinalEncoder,
                                   PolynomialFeatures, StandardScaler)

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "..", "scripts", "export_sklearn.py")
REPLAY = sys.argv[1]
failures = []


def check(condition, message):
    if not condition:
        failures.append(message)
        print("FAIL:", message)


def export(*args):
    return subprocess.run(["/usr/bin/python3", SCRIPT, *args, "--replay", REPLAY],
                          capture_output=True, text=True)


def dataset(rows=300, seed=7):
    """age, income, amount, tenure (some missing), country, device: objects by position."""
    rng = np.random.RandomState(seed)
    countries = np.array(["DE", "FR", "US", "GB"])
    devices = np.array(["android", "ios", "web"])
    X = np.empty((rows, 6), dtype=object)
    X[:, 0] = rng.normal(41, 12, rows).round(1)
    X[:, 1] = rng.uniform(0, 200000, rows).round(2)
    X[:, 2] = rng.normal(1e6, 5e5, rows)
    tenure = rng.randint(0, 120, rows).astype(float)
    tenure[rng.rand(rows) < 0.1] = np.nan
    X[:, 3] = tenure
    X[:, 4] = countries[rng.randint(0, 4, rows)]
    X[:, 5] = devices[rng.randint(0, 3, rows)]
    y = (X[:, 0].astype(float) > 41).astype(int)
    return X, y


def churn_pipeline():
    prep = ColumnTransformer([
        ("num", Pipeline([("impute", SimpleImputer(strategy="median")),
                          ("scale", StandardScaler())]), [0, 3]),
        ("income", MinMaxScaler(feature_range=(-1, 1)), [1]),
        ("country", OneHotEncoder(handle_unknown="ignore"), [4]),
        ("device", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), [5]),
    ], remainder="passthrough")
    return Pipeline([("prep", prep), ("model", LogisticRegression(max_iter=500))])


with tempfile.TemporaryDirectory() as work:
    X, y = dataset()
    model_path = os.path.join(work, "model.pkl")
    with open(model_path, "wb") as f:
        pickle.dump(churn_pipeline().fit(X, y), f)

    # Exported and proven.
    config_path = os.path.join(work, "config.json")
    run = export(model_path, "--out", config_path)
    check(run.returncode == 0, "export exits 0: %s %s" % (run.stdout, run.stderr))
    check("agree within float32 rounding" in run.stdout, "the proof is reported: " + run.stdout)
    if os.path.exists(config_path):
        with open(config_path) as f:
            config = json.load(f)
        columns = config["preprocess"]["columns"]
        kinds = [c["transform"]["type"] for c in columns]
        # sklearn's output order: num (age, tenure), income, country, device, remainder (amount).
        check(kinds == ["standard", "standard", "minmax", "onehot", "ordinal", "passthrough"],
              "column order and kinds: %s" % kinds)
        check([c["field"] for c in columns] == [0, 3, 1, 4, 5, 2],
              "fields by position: %s" % [c["field"] for c in columns])
        check(columns[1]["impute"] == float(np.nanmedian(X[:, 3].astype(float))),
              "the imputer's median: %s" % columns[1].get("impute"))
        check(columns[3]["transform"]["categories"] == ["DE", "FR", "GB", "US"],
              "categories: %s" % columns[3]["transform"]["categories"])
        check(columns[4]["transform"]["unknown_value"] == -1, "ordinal unknown value")
        check(columns[2]["transform"]["range"] == [-1.0, 1.0], "minmax range")

        # A config that disagrees (an older fit's mean) fails the proof.
        config["preprocess"]["columns"][0]["transform"]["mean"] += 0.5
        stale_path = os.path.join(work, "stale.json")
        with open(stale_path, "w") as f:
            json.dump(config, f)
        run = export(model_path, "--verify", stale_path)
        check(run.returncode == 1, "a wrong mean fails the proof (exit %d): %s" %
              (run.returncode, run.stderr))
        check("disagree" in run.stderr and "features" in run.stderr,
              "the failure says where: " + run.stderr)
        run = export(model_path, "--verify", config_path)
        check(run.returncode == 0, "the exported config verifies: " + run.stderr)

    # An unsupported transformer is named, and nothing is written.
    odd = ColumnTransformer([("poly", PolynomialFeatures(), [0, 1])])
    odd.fit(X[:, :3].astype(float))
    odd_path = os.path.join(work, "odd.pkl")
    with open(odd_path, "wb") as f:
        pickle.dump(odd, f)
    out = os.path.join(work, "odd.json")
    run = export(odd_path, "--out", out)
    check(run.returncode == 2, "unsupported exits 2 (got %d)" % run.returncode)
    check("PolynomialFeatures" in run.stderr, "the transformer is named: " + run.stderr)
    check(not os.path.exists(out), "nothing written for an unsupported model")

if failures:
    print("%d check(s) failed" % len(failures))
    sys.exit(1)
print("export_sklearn: all checks passed")
