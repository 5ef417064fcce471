"""Benchmark: `flightdeck serve` against FastAPI + onnxruntime under uvicorn (one worker), the
baseline serving guides recommend, on the same model, route, body and load generator.

Usage (needs wrk from Debian; fastapi, uvicorn and onnxruntime come from PyPI: when this Python
lacks them, the script installs them into a virtualenv under ~/.cache/flightdeck and reruns there):
    python3 tests/bench/serve_vs_fastapi.py target/release/flightdeck [--seconds 10]

With --pin (two or more CPUs), the servers run on CPU 1 and wrk on CPU 0, so the load generator
and the server do not take turns on the same core: steadier figures on a noisy machine.

Reports requests/s, p50 and p99 latency (from wrk --latency, 32 connections, 1-row bodies), and
server CPU per request (from /proc/PID/stat), plus batch-64 throughput and the CPU cost of drift
scoring: the time flightdeck's requests spent recording inputs for drift, which the server counts
itself (flightdeck_drift_record_seconds_total), over its CPU time; and, for comparison, a server
with and without a baseline profile (a difference smaller than this machine's noise). Likewise
the cost of keeping each answer by request id for its label (the body carries no id, so the
server names each request), and a server that keeps none (--feedback-max-ids 0).
"""

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "tests/fixtures/models/logreg_multiclass.onnx"
REFERENCE = ROOT / "tests/fixtures/models/classifier.reference.csv"
TICKS = os.sysconf("SC_CLK_TCK")

FASTAPI_APP = '''
import numpy as np
import onnxruntime as ort
from fastapi import FastAPI, Request

app = FastAPI()
session = ort.InferenceSession("{model}", providers=["CPUExecutionProvider"])
input_name = session.get_inputs()[0].name
output_names = [o.name for o in session.get_outputs()]

@app.post("/v2/models/{{name}}/infer")
async def infer(name: str, request: Request):
    body = await request.json()
    spec = body["inputs"][0]
    x = np.asarray(spec["data"], dtype=np.float32).reshape(spec["shape"])
    results = session.run(None, {{input_name: x}})
    outputs = []
    for out_name, value in zip(output_names, results):
        if isinstance(value, list):
            value = np.array([[row[k] for k in sorted(row)] for row in value], dtype=np.float32)
        value = np.asarray(value)
        outputs.append({{"name": out_name, "shape": list(value.shape), "datatype": "FP32" if value.dtype == np.float32 else "INT64", "data": value.ravel().tolist()}})
    return {{"model_name": name, "model_version": "1", "outputs": outputs}}
'''


BASELINE_PACKAGES = ["fastapi", "uvicorn", "onnxruntime", "numpy"]


def ensure_baseline_installed():
    """Reruns this script in a virtualenv with the baseline's packages when they are missing."""
    try:
        import fastapi, uvicorn, onnxruntime, numpy  # noqa: F401
        return
    except ImportError:
        pass
    if os.environ.get("FLIGHTDECK_BENCH_VENV_READY"):
        raise SystemExit("the baseline's packages are still missing after installing them")
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "flightdeck" / "bench-venv"
    python = cache / "bin" / "python"
    if not python.exists():
        print(f"installing {', '.join(BASELINE_PACKAGES)} from PyPI into {cache}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(cache)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *BASELINE_PACKAGES], check=True)
    env = dict(os.environ, FLIGHTDECK_BENCH_VENV_READY="1")
    os.execve(str(python), [str(python), *sys.argv], env)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except Exception:
            time.sleep(0.1)
    raise SystemExit(f"server at {url} did not start")


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def body(rows):
    data = [[120.5, 41.0, 0.3, -1.2]] * rows
    return json.dumps({"inputs": [{"name": "X", "shape": [rows, 4], "datatype": "FP32", "data": data}]})


# Set from --pin: command prefixes keeping the load generator and the servers on separate CPUs.
CLIENT = []
SERVER = []


def wrk(url, payload, seconds, connections, tmp):
    script = Path(tmp) / "post.lua"
    script.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = {json.dumps(payload)}\n"
    )
    out = subprocess.run(
        CLIENT + ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        check=True, capture_output=True, text=True,
    ).stdout
    def latency(label):
        m = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)", out, re.M)
        scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)]
        return float(m.group(1)) * scale
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50_ms": latency("50%"), "p99_ms": latency("99%"), "requests": total,
            "errors": int(errors.group(1)) if errors else 0}


def record_seconds(url, family):
    """flightdeck's own count of the time its requests spent recording inputs for drift
    (flightdeck_drift_record_seconds_total) or keeping answers for their labels
    (flightdeck_feedback_record_seconds_total)."""
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(family + "{"))


def measure(name, pid, url, payload, seconds, connections, tmp):
    wrk(url, payload, 2, connections, tmp)  # warm-up
    metrics_url = url.split("/v2/")[0] + "/metrics" if name.startswith("flightdeck") else ""
    families = ("flightdeck_drift_record_seconds_total", "flightdeck_feedback_record_seconds_total")
    recorded_before = [record_seconds(metrics_url, f) if metrics_url else 0.0 for f in families]
    before = cpu_seconds(pid)
    result = wrk(url, payload, seconds, connections, tmp)
    cpu = cpu_seconds(pid) - before
    result["cpu_us_per_request"] = cpu / max(result["requests"], 1) * 1e6
    recorded = [(record_seconds(metrics_url, f) - b) if metrics_url else 0.0
                for f, b in zip(families, recorded_before)]
    result["drift_share"] = recorded[0] / cpu if cpu > 0 else 0.0
    result["feedback_share"] = recorded[1] / cpu if cpu > 0 else 0.0
    result["name"] = name
    return result


def start_flightdeck(binary, home, with_profile, keep_answers=True):
    env = dict(os.environ, FLIGHTDECK_HOME=str(home), FLIGHTDECK_CONFIG=str(home / "none.toml"))
    (home / "none.toml").write_text("")
    args = [binary, "register", "fraud", str(MODEL)]
    if with_profile:
        args += ["--reference", str(REFERENCE)]
    subprocess.run(args, check=True, capture_output=True, env=env)
    port = free_port()
    extra = [] if keep_answers else ["--feedback-max-ids", "0"]
    proc = subprocess.Popen(SERVER + [binary, "serve", "fraud", "--port", str(port), *extra], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_ready(f"{url}/v2/health/ready")
    return proc, url


def median(results, key):
    values = sorted(r[key] for r in results)
    return values[len(values) // 2]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("flightdeck")
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pin", action="store_true", help="servers on CPU 1, wrk on CPU 0")
    args = parser.parse_args()
    if subprocess.run(["sh", "-c", "command -v wrk"], capture_output=True).returncode != 0:
        raise SystemExit("wrk is missing: apt-get install wrk")
    ensure_baseline_installed()
    if args.pin and (os.cpu_count() or 1) >= 2:
        CLIENT[:] = ["taskset", "-c", "0"]
        SERVER[:] = ["taskset", "-c", "1"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        app = tmp / "baseline_app.py"
        app.write_text(FASTAPI_APP.format(model=MODEL))
        port = free_port()
        uvicorn = subprocess.Popen(
            SERVER + [sys.executable, "-m", "uvicorn", "baseline_app:app", "--port", str(port), "--workers", "1",
             "--log-level", "warning"], cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        servers = {"fastapi+onnxruntime": (uvicorn, f"http://127.0.0.1:{port}")}
        wait_ready(f"{servers['fastapi+onnxruntime'][1]}/docs")
        for label, with_profile, keep_answers in (("flightdeck serve", True, True),
                                                  ("flightdeck serve (no drift)", False, True),
                                                  ("flightdeck serve (no labels)", True, False)):
            home = tmp / label.replace(" ", "-")
            home.mkdir()
            servers[label] = start_flightdeck(args.flightdeck, home, with_profile, keep_answers)
        # The machine is shared and noisy: alternate the servers and keep each one's median.
        runs = {name: [] for name in servers}
        try:
            for _ in range(args.rounds):
                for name, (proc, url) in servers.items():
                    runs[name].append(measure(name, proc.pid, f"{url}/v2/models/fraud/infer", body(1),
                                              args.seconds, args.connections, tmp))
            proc, url = servers["flightdeck serve"]
            batch = measure("flightdeck serve, batch 64", proc.pid, f"{url}/v2/models/fraud/infer", body(64),
                            args.seconds, args.connections, tmp)
        finally:
            for proc, _ in servers.values():
                proc.terminate()
                proc.wait()
    rows = {name: {k: median(r, k) for k in ("rps", "p50_ms", "p99_ms", "cpu_us_per_request", "errors",
                                              "drift_share", "feedback_share")}
            for name, r in runs.items()}
    rows["flightdeck serve, batch 64"] = batch
    pinned = ", servers on CPU 1 and wrk on CPU 0" if SERVER else ""
    print(f"medians of {args.rounds} alternating rounds, {args.seconds}s each, {args.connections} connections{pinned}")
    print(f"{'server':28} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'CPU µs/req':>11} {'errors':>7}")
    for name, r in rows.items():
        print(f"{name:28} {r['rps']:>9.0f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} "
              f"{r['cpu_us_per_request']:>11.1f} {r['errors']:>7}")
    base, fd, plain = rows["fastapi+onnxruntime"], rows["flightdeck serve"], rows["flightdeck serve (no drift)"]
    unlabelled = rows["flightdeck serve (no labels)"]
    print(f"throughput {fd['rps'] / base['rps']:.1f}x (target >= 10x), p99 {fd['p99_ms'] / base['p99_ms']:.3f} of baseline "
          f"(target <= 0.2), CPU/request {fd['cpu_us_per_request'] / base['cpu_us_per_request']:.3f} of baseline "
          "(target <= 0.05)")
    print(f"batch 64: {batch['rps'] * 64:.0f} rows/s; drift scoring: {fd['drift_share'] * 100:.2f}% of the "
          "server's CPU, timed inside the server (flightdeck_drift_record_seconds_total; target < 5%); "
          f"with vs without a baseline profile: "
          f"{(fd['cpu_us_per_request'] - plain['cpu_us_per_request']) / fd['cpu_us_per_request'] * 100:.1f}% "
          "(within the machine's noise)")
    print(f"answers kept by request id for their labels: {fd['feedback_share'] * 100:.2f}% of the server's CPU, "
          "timed inside the server (flightdeck_feedback_record_seconds_total; target with drift < 5%); with vs "
          "without keeping them (--feedback-max-ids 0): "
          f"{(fd['cpu_us_per_request'] - unlabelled['cpu_us_per_request']) / fd['cpu_us_per_request'] * 100:.1f}%")


if __name__ == "__main__":
    main()
