#!/usr/bin/python3
"""Converts a fitted scikit-learn preprocessing into replay's preprocessing config, and proves it.

    /usr/bin/python3 scripts/export_sklearn.py model.pkl --out config.json
    /usr/bin/python3 scripts/export_sklearn.py model.pkl --verify config.json   # prove only

MODEL.pkl is a pickled ColumnTransformer, or a Pipeline whose leading steps are one (the model
after it is ignored), or a Pipeline of transformers over every column. Supported inside it:
StandardScaler, MinMaxScaler, OneHotEncoder, OrdinalEncoder, SimpleImputer (before one of them,
or alone), 'passthrough', 'drop', and the remainder. Columns fitted by name (a pandas DataFrame)
become fields by name; columns fitted by position become fields by index (rows are arrays).

The proof: the script runs scikit-learn and `replay` on the same rows (--rows FILE, a JSON list
of rows, or rows made from the fitted statistics: values around each scaler's statistics, every
category, an unknown category where the encoder accepts one, and a missing value where an
imputer fills it) and fails unless every feature agrees within float32 rounding (1 unit in the
last place of float32, NaN equal to NaN). The config is written only when the proof passes.

Exit codes: 0 proven (and written), 1 scikit-learn and replay disagree, 2 bad input or an
unsupported transformer (named).
"""

import argparse
import json
import math
import os
import pickle
import random
import shutil
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import sklearn
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, OrdinalEncoder, StandardScaler
except ImportError as error:  # pragma: no cover - depends on the machine
    sys.stderr.write("export_sklearn: needs numpy and scikit-learn (Debian: apt-get install "
                     "python3-sklearn): %s\n" % error)
    sys.exit(2)

SUPPORTED = "StandardScaler, MinMaxScaler, OneHotEncoder, OrdinalEncoder, SimpleImputer, " \
            "'passthrough', 'drop'"


class Unsupported(Exception):
    pass


def plain(value):
    """A numpy scalar (or a category) as a JSON value."""
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        value = float(value)
        if math.isnan(value):
            raise Unsupported("a NaN category (fit the encoder after imputing missing values)")
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (str, int, bool)):
        return value
    if value is None:
        raise Unsupported("a None category (fit the encoder after imputing missing values)")
    raise Unsupported("a category of type %s" % type(value).__name__)


def is_missing(value):
    return value is None or (isinstance(value, float) and math.isnan(value))


# ---- The fitted objects ------------------------------------------------------------------------

def find_column_transformer(model):
    """The ColumnTransformer to export, or a Pipeline of per-column transformers."""
    if isinstance(model, ColumnTransformer):
        return model
    if isinstance(model, Pipeline):
        steps = [step for _, step in model.steps if step not in (None, "passthrough")]
        for step in steps:
            if isinstance(step, ColumnTransformer):
                return step
        transformers = []
        for step in steps:
            if not isinstance(step, (StandardScaler, MinMaxScaler, OneHotEncoder, OrdinalEncoder,
                                     SimpleImputer)):
                break
            transformers.append(step)
        if transformers:
            return Pipeline([("step%d" % i, t) for i, t in enumerate(transformers)])
    raise Unsupported("%s: expected a fitted ColumnTransformer, or a Pipeline that starts with "
                      "one" % type(model).__name__)


def input_names(ct):
    names = getattr(ct, "feature_names_in_", None)
    return [str(n) for n in names] if names is not None else None


def n_inputs(ct):
    return int(ct.n_features_in_)


def resolve_columns(ct, columns):
    """Column spec -> list of input indices."""
    names = input_names(ct)
    total = n_inputs(ct)
    if isinstance(columns, slice):
        return list(range(total))[columns]
    if callable(columns):
        raise Unsupported("a callable column selector")
    if isinstance(columns, (str, int, np.integer)):
        columns = [columns]
    columns = list(columns)
    if columns and isinstance(columns[0], (bool, np.bool_)):
        return [i for i, keep in enumerate(columns) if keep]
    out = []
    for column in columns:
        if isinstance(column, str):
            if names is None or column not in names:
                raise Unsupported("column %r is not an input column" % column)
            out.append(names.index(column))
        else:
            out.append(int(column))
    return out


def field_of(ct, index):
    names = input_names(ct)
    return names[index] if names is not None else index


def steps_of(transformer, where):
    """A transformer or a Pipeline -> (imputer or None, final transformer or 'passthrough')."""
    if isinstance(transformer, Pipeline):
        steps = [step for _, step in transformer.steps if step not in (None, "passthrough")]
    else:
        steps = [transformer]
    imputer = None
    if steps and isinstance(steps[0], SimpleImputer):
        imputer = steps.pop(0)
    if len(steps) > 1:
        raise Unsupported("%s: a pipeline of %s (supported: an optional SimpleImputer, then one "
                          "of %s)" % (where, [type(s).__name__ for s in steps], SUPPORTED))
    final = steps[0] if steps else "passthrough"
    return imputer, final


def impute_value(imputer, position, where):
    if imputer.add_indicator:
        raise Unsupported("%s: SimpleImputer(add_indicator=True)" % where)
    missing = imputer.missing_values
    if not (missing is None or (isinstance(missing, float) and math.isnan(missing))):
        raise Unsupported("%s: SimpleImputer(missing_values=%r); replay imputes missing and null "
                          "values" % (where, missing))
    value = imputer.statistics_[position]
    if isinstance(value, (np.floating, float)) and math.isnan(value):
        raise Unsupported("%s: the imputer learnt no value for column %d (all missing)" %
                          (where, position))
    return plain(value) if not isinstance(value, (np.floating, float)) else float(value)


def transform_of(final, position, where):
    if final == "passthrough":
        return {"type": "passthrough"}
    if isinstance(final, StandardScaler):
        mean = float(final.mean_[position]) if final.with_mean else 0.0
        scale = float(final.scale_[position]) if final.with_std else 1.0
        return {"type": "standard", "mean": mean, "scale": scale}
    if isinstance(final, MinMaxScaler):
        lo, hi = final.feature_range
        out = {"type": "minmax", "min": float(final.data_min_[position]),
               "max": float(final.data_max_[position]), "range": [float(lo), float(hi)]}
        if getattr(final, "clip", False):
            out["clip"] = True
        return out
    if isinstance(final, OneHotEncoder):
        if final.drop is not None:
            raise Unsupported("%s: OneHotEncoder(drop=%r); replay keeps every category" %
                              (where, final.drop))
        infrequent = getattr(final, "infrequent_categories_", None)
        if infrequent is not None and any(c is not None for c in infrequent):
            raise Unsupported("%s: OneHotEncoder with infrequent categories (min_frequency or "
                              "max_categories)" % where)
        policy = final.handle_unknown
        policy = "infrequent" if policy == "infrequent_if_exist" else policy
        return {"type": "onehot", "categories": [plain(c) for c in final.categories_[position]],
                "handle_unknown": policy}
    if isinstance(final, OrdinalEncoder):
        out = {"type": "ordinal", "categories": [plain(c) for c in final.categories_[position]]}
        if final.handle_unknown == "use_encoded_value":
            value = final.unknown_value
            out["unknown_value"] = None if value is None or (
                isinstance(value, float) and math.isnan(value)) else value
        return out
    raise Unsupported("%s: %s (supported: %s)" % (where, type(final).__name__, SUPPORTED))


def export_columns(ct):
    """The config's columns, in the order scikit-learn concatenates its outputs."""
    columns, kinds = [], {}

    def add(transformer, indices, where):
        imputer, final = steps_of(transformer, where)
        for position, index in enumerate(indices):
            column = {"field": field_of(ct, index)}
            if imputer is not None:
                column["impute"] = impute_value(imputer, position, where)
            column["transform"] = transform_of(final, position, where)
            columns.append(column)
            kinds.setdefault(index, column)

    if isinstance(ct, Pipeline):  # transformers over every column, one after another
        indices = list(range(n_inputs(ct.steps[0][1])))
        add(ct, indices, "pipeline")
        return columns, kinds, ct
    if getattr(ct, "sparse_output_", False):
        pass  # the proof densifies; the features are the same numbers
    for name, transformer, spec in ct.transformers_:
        if transformer == "drop":
            continue
        indices = resolve_columns(ct, spec)
        if not indices:
            continue
        add(transformer, indices, "transformer %r" % name)
    return columns, kinds, ct


# ---- The proof ---------------------------------------------------------------------------------

def sample_rows(ct, kinds, count, seed):
    """Rows that exercise every column: each scaler around its statistics, every category, an
    unknown category where accepted, a missing value where imputed."""
    rng = random.Random(seed)
    total = n_inputs(ct) if not isinstance(ct, Pipeline) else n_inputs(ct.steps[0][1])
    per_column = []
    for index in range(total):
        column = kinds.get(index)
        if column is None:  # dropped: any number
            per_column.append([0.0, 1.0])
            continue
        t = column["transform"]
        if t["type"] == "standard":
            values = [t["mean"] + k * t["scale"] for k in (-2.5, -1, -0.3, 0, 0.7, 1, 3)]
        elif t["type"] == "minmax":
            span = t["max"] - t["min"] or 1.0
            values = [t["min"] + f * span for f in (-0.1, 0, 0.25, 0.5, 0.999, 1, 1.2)]
        elif t["type"] in ("onehot", "ordinal"):
            values = list(t["categories"])
            accepts_unknown = (t["type"] == "onehot" and t["handle_unknown"] != "error") or (
                t["type"] == "ordinal" and "unknown_value" in t)
            if accepts_unknown:
                values.append("replay-unknown-category" if all(
                    isinstance(v, str) for v in values) else -987654)
        else:
            values = [rng.uniform(-100, 100) for _ in range(5)] + [0, 1]
        if "impute" in column:
            values.append(None)
        per_column.append(values)
    # Row i takes each column's values in turn from its own starting point, so every value
    # appears (count >= the longest list) in varied combinations.
    offsets = [rng.randrange(len(values)) for values in per_column]
    count = max(count, max(len(values) for values in per_column))
    rows = [[values[(i + offset) % len(values)] for values, offset in zip(per_column, offsets)]
            for i in range(count)]
    return rows


def sklearn_features(ct, rows, names):
    table = [[float("nan") if is_missing(v) else v for v in row] for row in rows]
    if names is not None:
        try:
            import pandas as pd
        except ImportError:
            raise Unsupported("the transformer was fitted on a DataFrame (columns by name); the "
                              "proof needs pandas (apt-get install python3-pandas)")
        X = pd.DataFrame(table, columns=names)
    else:
        X = np.array(table, dtype=object)
        if all(isinstance(v, (int, float)) for row in table for v in row):
            X = np.array(table, dtype=np.float64)
    out = ct.transform(X)
    if hasattr(out, "toarray"):
        out = out.toarray()
    return np.asarray(out, dtype=np.float64).astype(np.float32)


def find_replay(given):
    if given:
        return given
    if os.environ.get("REPLAY_BINARY"):
        return os.environ["REPLAY_BINARY"]
    here = os.path.dirname(os.path.abspath(__file__))
    built = os.path.join(here, "..", "build", "bin", "replay")
    if os.access(built, os.X_OK):
        return os.path.normpath(built)
    found = shutil.which("replay")
    if found:
        return found
    raise Unsupported("replay not found: pass --replay PATH or build it (scripts/build.sh)")


def prove(ct, config, rows, names, rows_pointer, replay):
    """Runs scikit-learn and replay on the rows; returns (agree, message)."""
    expected = sklearn_features(ct, rows, names)
    if names is not None:
        records = [{name: value for name, value in zip(names, row)} for row in rows]
    else:
        records = rows
    tokens = [t.replace("~1", "/").replace("~0", "~") for t in rows_pointer.split("/")[1:]]
    payload = records
    for token in reversed(tokens):
        payload = {token: payload}
    output = config["preprocess"].get("output", {}).get("name", "features")
    capture = {
        "format": 1, "id": "export_sklearn proof",
        "request": {"method": "POST", "path": "/", "body": json.dumps(payload)},
        "stages": {"features": {output: {
            "dtype": "float32", "shape": list(expected.shape),
            "data": [("NaN" if math.isnan(v) else float(v)) for v in expected.ravel().tolist()]}}},
    }
    proof_config = dict(config)
    proof_config["tolerances"] = {"stages": {"features": {"rule": "ulp", "max_ulp": 1,
                                                          "equal_nan": True}}}
    with tempfile.TemporaryDirectory() as work:
        capture_path = os.path.join(work, "proof.json")
        config_path = os.path.join(work, "config.json")
        report_path = os.path.join(work, "report.json")
        with open(capture_path, "w") as f:
            json.dump(capture, f)
        with open(config_path, "w") as f:
            json.dump(proof_config, f)
        run = subprocess.run([replay, "--capture", capture_path, "--config", config_path,
                              "--no-preflight", "--report", "json:" + report_path],
                             capture_output=True, text=True)
        report = None
        if os.path.exists(report_path):
            with open(report_path) as f:
                report = json.load(f)
    if run.returncode == 0:
        return True, "%d rows x %d features agree within float32 rounding" % expected.shape
    detail = run.stderr.strip() or run.stdout.strip()
    if report and report.get("first_divergence"):
        detail = report["first_divergence"].get("sentence", detail)
        figures = report["first_divergence"].get("figures") or {}
        first = figures.get("first_mismatch")
        if first:
            detail += " First mismatch: %s" % json.dumps(first)
    return False, "scikit-learn and replay disagree (replay exit %d): %s" % (run.returncode,
                                                                               detail)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", help="a pickled fitted ColumnTransformer or Pipeline")
    parser.add_argument("--out", help="the replay config to write (JSON)")
    parser.add_argument("--verify", metavar="CONFIG",
                        help="prove an existing config against the model instead of exporting")
    parser.add_argument("--base-config", help="a replay config whose other keys are kept")
    parser.add_argument("--rows", help="a JSON list of sample rows for the proof")
    parser.add_argument("--samples", type=int, default=64, help="rows made for the proof")
    parser.add_argument("--rows-pointer", default="/instances",
                        help="where the rows are in a payload (default /instances)")
    parser.add_argument("--output-name", default="features", help="the features tensor's name")
    parser.add_argument("--replay", help="the replay binary (default: build/bin/replay)")
    args = parser.parse_args(argv)
    if bool(args.out) == bool(args.verify):
        parser.error("give --out CONFIG (export) or --verify CONFIG (prove only)")

    try:
        with open(args.model, "rb") as f:
            model = pickle.load(f)
        ct = find_column_transformer(model)
        columns, kinds, ct = export_columns(ct)
        names = None if isinstance(ct, Pipeline) else input_names(ct)
        if args.verify:
            with open(args.verify) as f:
                config = json.load(f)
        else:
            config = {"version": 1}
            if args.base_config:
                with open(args.base_config) as f:
                    config = json.load(f)
            config["preprocess"] = {"rows": args.rows_pointer,
                                    "output": {"name": args.output_name, "dtype": "float32"},
                                    "columns": columns}
        if args.rows:
            with open(args.rows) as f:
                rows = json.load(f)
            if names is not None:
                rows = [[row.get(n) for n in names] if isinstance(row, dict) else row
                        for row in rows]
        else:
            rows = sample_rows(ct, kinds, args.samples, seed=0)
        rows_pointer = config["preprocess"].get("rows", args.rows_pointer)
        agree, message = prove(ct, config, rows, names, rows_pointer, find_replay(args.replay))
    except Unsupported as error:
        sys.stderr.write("export_sklearn: unsupported: %s\n" % error)
        return 2
    except (OSError, ValueError, pickle.UnpicklingError) as error:
        sys.stderr.write("export_sklearn: %s\n" % error)
        return 2
    if not agree:
        sys.stderr.write("export_sklearn: %s\n" % message)
        return 1
    if args.out:
        with open(args.out, "w") as f:
            json.dump(config, f, indent=2)
            f.write("\n")
        print("export_sklearn: wrote %s (%d columns, sklearn %s); proof: %s" %
              (args.out, len(columns), sklearn.__version__, message))
    else:
        print("export_sklearn: %s matches %s; proof: %s" % (args.verify, args.model, message))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
