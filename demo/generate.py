"""Builds the demo's models and data: a claims-fraud classifier in three versions.

    python -m venv /tmp/fd-demo && /tmp/fd-demo/bin/pip install -r requirements.txt
    /tmp/fd-demo/bin/python generate.py

Writes (committed, so the demo needs no Python):
  reference.csv      training data, the baseline every version is profiled against
  holdout.csv        labelled rows the models never saw (for evaluation)
  sentinels.json     clear-cut cases with the answer any correct model must give
  v1.onnx            logistic regression behind a StandardScaler (the first production model)
  v2.onnx            gradient boosting: better, the candidate to canary and promote
  v3.onnx            silently broken: trained on `amount` in thousands but served in units,
                     so its outputs look plausible and are wrong; its sentinels catch it
  versions.json      lineage and evaluation metrics per version
"""

import hashlib
import json

import numpy as np
from skl2onnx import to_onnx
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

SEED = 42
FEATURES = ["amount", "age", "tenure_months", "prev_claims", "channel"]
CHANNELS = ["app", "branch", "web"]  # codes 0, 1, 2: sorted order, as flightdeck profiles text


def simulate(n, rng):
    amount = rng.lognormal(mean=5.0, sigma=0.9, size=n)  # claim amount
    age = rng.normal(45, 13, size=n).clip(18, 90)
    tenure = rng.gamma(2.0, 24.0, size=n).clip(0, 480)
    prev = rng.poisson(0.6, size=n)
    channel = rng.choice(3, size=n, p=[0.45, 0.15, 0.40])
    # Thresholds and interactions a linear model cannot express: big web claims, repeat
    # claimants, and both ends of the age range.
    logit = (
        -1.8
        + 2.5 * ((amount > 300) & (channel == 2))
        + 0.9 * (prev >= 2)
        - 0.012 * tenure
        + 0.002 * (age - 45) ** 2
        + 0.0008 * amount
    )
    fraud = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    x = np.column_stack([amount, age, tenure, prev, channel]).astype(np.float32)
    return x, fraud


def write_csv(path, x, y=None):
    with open(path, "w") as f:
        f.write(",".join(FEATURES + (["fraud"] if y is not None else [])) + "\n")
        for i, row in enumerate(x):
            cells = [f"{row[0]:.2f}", f"{row[1]:.1f}", f"{row[2]:.1f}", f"{int(row[3])}", CHANNELS[int(row[4])]]
            if y is not None:
                cells.append(str(int(y[i])))
            f.write(",".join(cells) + "\n")


def export(name, model):
    onx = to_onnx(model, np.zeros((1, len(FEATURES)), dtype=np.float32))
    with open(f"{name}.onnx", "wb") as f:
        f.write(onx.SerializeToString())


def main():
    rng = np.random.default_rng(SEED)
    x, y = simulate(6000, rng)
    train_x, train_y = x[:4000], y[:4000]
    hold_x, hold_y = x[4000:], y[4000:]
    write_csv("reference.csv", train_x)
    write_csv("holdout.csv", hold_x, hold_y)
    data_hash = "sha256:" + hashlib.sha256(open("reference.csv", "rb").read()).hexdigest()

    v1 = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(train_x, train_y)
    v2 = GradientBoostingClassifier(n_estimators=150, max_depth=2, learning_rate=0.05, random_state=SEED).fit(train_x, train_y)
    # The bug: the training pipeline divided amount by 1000; serving sends units.
    scaled = train_x.copy()
    scaled[:, 0] /= 1000.0
    v3 = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(scaled, train_y)
    for name, model in [("v1", v1), ("v2", v2), ("v3", v3)]:
        export(name, model)
    assert roc_auc_score(hold_y, v2.predict_proba(hold_x)[:, 1]) > roc_auc_score(hold_y, v1.predict_proba(hold_x)[:, 1])

    def metrics(model, xs):
        p = model.predict_proba(xs)[:, 1]
        return {"auc": round(float(roc_auc_score(hold_y, p)), 4), "accuracy": round(float(accuracy_score(hold_y, p > 0.5)), 4)}

    held_scaled = hold_x.copy()
    held_scaled[:, 0] /= 1000.0
    versions = {
        "v1": {"commit": "3f2a9c1", "pipeline_version": "fp-3", "metrics": metrics(v1, hold_x), "description": "logistic regression, first production model"},
        "v2": {"commit": "8d41e07", "pipeline_version": "fp-3", "metrics": metrics(v2, hold_x), "description": "gradient boosting, better recall on web claims"},
        # Its offline metrics look fine: they were computed with the same (buggy) scaling.
        "v3": {"commit": "c09b5e2", "pipeline_version": "fp-3", "metrics": metrics(v3, held_scaled), "description": "retrained on the new feature export"},
    }
    for v in versions.values():
        v["data_hash"] = data_hash
    with open("versions.json", "w") as f:
        json.dump(versions, f, indent=1)

    # Clear-cut cases every correct model gets right, whichever version.
    cases = [
        ("small claim, long-standing customer, branch", [60.0, 58.0, 240.0, 0, 1], 0),
        ("small claim, app, no history", [45.0, 35.0, 36.0, 0, 0], 0),
        ("huge web claim, new customer, many prior claims", [2400.0, 24.0, 1.0, 4, 2], 1),
        ("large web claim, repeat claimant", [1600.0, 29.0, 3.0, 3, 2], 1),
    ]
    for name, model in [("v1", v1), ("v2", v2)]:
        got = model.predict(np.array([c[1] for c in cases], dtype=np.float32))
        assert list(got) == [c[2] for c in cases], f"{name} misses a sentinel: {got}"
    broken = v3.predict(np.array([c[1] for c in cases], dtype=np.float32))
    assert list(broken) != [c[2] for c in cases], "v3 should fail its sentinels"
    sentinels = {
        "tolerance": 0.0001,
        "cases": [
            {"name": n, "inputs": {"X": [row]}, "expected": {"output_label": [label]}} for n, row, label in cases
        ],
    }
    with open("sentinels.json", "w") as f:
        json.dump(sentinels, f, indent=1)
    print(json.dumps(versions, indent=1))


if __name__ == "__main__":
    main()
