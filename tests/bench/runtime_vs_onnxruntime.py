"""Benchmark: flightdeck's runtime against onnxruntime (single thread) on the same models and rows.

Usage (pinned packages as in tests/fixtures/models/requirements.txt):
    python tests/bench/runtime_vs_onnxruntime.py target/release/flightdeck [--seconds 2]

Trains and exports (skl2onnx, default options) a linear model, an MLP, a StandardScaler pipeline
and tree ensembles (among them a 100-tree forest of depth 10) into a temporary directory, then
measures per-call latency at batch 1 and 256 and load time in both runtimes, and prints the ratio.
"""

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from skl2onnx import to_onnx
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import (
    ExtraTreesClassifier,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

SEED = 11
FEATURES = 20


def models():
    x, y = make_classification(n_samples=4000, n_features=FEATURES, n_informative=12, n_classes=3, random_state=SEED)
    yb = (y == 0).astype(int)
    xr, yr = make_regression(n_samples=4000, n_features=FEATURES, noise=1.0, random_state=SEED)
    yield "logreg", LogisticRegression(max_iter=1000).fit(x, y), x
    yield "mlp_64x32", MLPClassifier(hidden_layer_sizes=(64, 32), max_iter=300, random_state=SEED).fit(x, y), x
    yield "scaler_logreg", make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x, y), x
    yield "rf_100x10_multiclass", RandomForestClassifier(100, max_depth=10, random_state=SEED).fit(x, y), x
    yield "rf_100x10_binary", RandomForestClassifier(100, max_depth=10, random_state=SEED).fit(x, yb), x
    yield "et_100x10_multiclass", ExtraTreesClassifier(100, max_depth=10, random_state=SEED).fit(x, y), x
    yield "gb_100x3_binary", GradientBoostingClassifier(n_estimators=100, random_state=SEED).fit(x, yb), x
    yield "rf_100x10_regressor", RandomForestRegressor(100, max_depth=10, random_state=SEED).fit(xr, yr), xr
    yield "gb_100x3_regressor", GradientBoostingRegressor(n_estimators=100, random_state=SEED).fit(xr, yr), xr


def ort_bench(path, rows, batch, seconds):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    loads = []
    for _ in range(5):
        t = time.perf_counter()
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        loads.append(time.perf_counter() - t)
    name = sess.get_inputs()[0].name
    feed = {name: np.resize(rows, (batch, rows.shape[1])).astype(np.float32)}
    for _ in range(20):
        sess.run(None, feed)
    times = []
    start = time.perf_counter()
    while time.perf_counter() - start < seconds or len(times) < 50:
        t = time.perf_counter()
        sess.run(None, feed)
        times.append((time.perf_counter() - t) * 1e6)
    times.sort()
    return sorted(loads)[2] * 1e3, sum(times) / len(times), times[len(times) // 2]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("flightdeck")
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    print(f"onnxruntime {ort.__version__}, single thread; times are mean per call")
    header = f"{'model':24} {'batch':>5} {'fd µs':>10} {'ort µs':>10} {'ratio':>6}   {'fd load ms':>10} {'ort load ms':>11}"
    print(header)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, model, x in models():
            path = Path(tmp) / f"{name}.onnx"
            path.write_bytes(to_onnx(model, x[:1].astype(np.float32)).SerializeToString())
            rows = x[:256].astype(np.float32)
            csv = Path(tmp) / f"{name}.csv"
            np.savetxt(csv, rows, delimiter=",", header=",".join(f"f{i}" for i in range(x.shape[1])), comments="")
            out = subprocess.run(
                [args.flightdeck, "bench", str(path), "--rows", str(csv), "--seconds", str(args.seconds), "--json"],
                check=True,
                capture_output=True,
                text=True,
            )
            fd = json.loads(out.stdout)
            for b in fd["batches"]:
                ort_load, ort_mean, _ = ort_bench(path, rows, b["batch"], args.seconds)
                ratio = b["mean_us"] / ort_mean
                size_kb = path.stat().st_size / 1024
                print(
                    f"{name:24} {b['batch']:>5} {b['mean_us']:>10.1f} {ort_mean:>10.1f} {ratio:>6.2f}   "
                    f"{fd['load_ms']:>10.2f} {ort_load:>11.2f}   ({size_kb:.0f} KiB)"
                )
                results.append((name, b["batch"], ratio))
    worst_tree = max(r for n, _, r in results if n.startswith(("rf", "et", "gb")))
    worst_dense = max(r for n, _, r in results if not n.startswith(("rf", "et", "gb")))
    print(f"worst ratio: tree ensembles {worst_tree:.2f}x (target <= 2), linear/MLP {worst_dense:.2f}x (target <= 1.5)")


if __name__ == "__main__":
    main()
