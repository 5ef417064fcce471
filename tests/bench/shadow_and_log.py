#!/usr/bin/env python3
"""What a shadow at 10 % and the request log at 10 % cost production, at the serve benchmark's load.

Usage: python3 tests/bench/shadow_and_log.py target/release/flightdeck [--pin] [--rounds 3]

Three `flightdeck serve` processes of the same model (logreg_multiclass), alternated round by
round under wrk (1-row bodies, 32 connections): plain; with a shadow copying 10 % of the requests
to a second version (gb_multiclass, the same inputs);
with the request log at 10 %. Reports requests/s, p50 and p99 and the server's CPU per production
request (all its threads: the shadow's and the log writer's included), medians of the rounds,
and what the shadow compared and dropped. Needs wrk (Debian).
"""

import argparse
import json
import sys
import tempfile
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import serve_vs_fastapi as bench  # noqa: E402

# The shadow's candidate: another classifier of the same inputs (the same file twice is one
# version: the registry keeps content once).
CANDIDATE = bench.ROOT / "tests/fixtures/models/gb_multiclass.onnx"


def start(binary, home, extra):
    import os
    import subprocess
    env = dict(os.environ, FLIGHTDECK_HOME=str(home), FLIGHTDECK_CONFIG=str(home / "none.toml"))
    (home / "none.toml").write_text("")
    for model in (bench.MODEL, CANDIDATE):
        subprocess.run([binary, "register", "fraud", str(model)], check=True, capture_output=True, env=env)
    port = bench.free_port()
    proc = subprocess.Popen(bench.SERVER + [binary, "serve", "fraud", "--version", "1", "--port", str(port), *extra],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    bench.wait_ready(f"{url}/v2/health/ready")
    return proc, url


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("flightdeck")
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pin", action="store_true", help="servers on CPU 1, wrk on CPU 0")
    args = parser.parse_args()
    import os
    if args.pin and (os.cpu_count() or 1) >= 2:
        bench.CLIENT[:] = ["taskset", "-c", "0"]
        bench.SERVER[:] = ["taskset", "-c", "1"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        servers = {}
        for label, extra in (("plain", []), ("shadow 10%", []), ("request log 10%", ["--request-log-rate", "0.1"])):
            home = tmp / label.replace(" ", "-").replace("%", "")
            home.mkdir()
            servers[label] = start(args.flightdeck, home, extra)
            if label.startswith("shadow"):
                token = (home / "serve" / "admin.token").read_text().strip()
                request = urllib.request.Request(
                    f"{servers[label][1]}/flightdeck/admin/shadow/fraud", method="PUT",
                    data=json.dumps({"version": 2, "percent": 10}).encode(),
                    headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
                urllib.request.urlopen(request, timeout=30).read()
        runs = {name: [] for name in servers}
        try:
            for _ in range(args.rounds):
                for name, (proc, url) in servers.items():
                    runs[name].append(bench.measure("flightdeck " + name, proc.pid, f"{url}/v2/models/fraud/infer",
                                                    bench.body(1), args.seconds, args.connections, tmp))
            shadow = json.loads(urllib.request.urlopen(f"{servers['shadow 10%'][1]}/flightdeck/shadow/fraud").read())
        finally:
            for proc, _ in servers.values():
                proc.terminate()
                proc.wait()
    rows = {name: {k: bench.median(r, k) for k in ("rps", "p50_ms", "p99_ms", "cpu_us_per_request", "errors")}
            for name, r in runs.items()}
    print(f"medians of {args.rounds} alternating rounds, {args.seconds}s each, {args.connections} connections"
          + (", servers on CPU 1 and wrk on CPU 0" if bench.SERVER else ""))
    print(f"{'server':20} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'CPU µs/req':>11} {'errors':>7}")
    for name, r in rows.items():
        print(f"{name:20} {r['rps']:>9.0f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['cpu_us_per_request']:>11.1f} "
              f"{r['errors']:>7}")
    plain = rows["plain"]
    for name in ("shadow 10%", "request log 10%"):
        r = rows[name]
        print(f"{name}: CPU per production request {(r['cpu_us_per_request'] / plain['cpu_us_per_request'] - 1) * 100:+.1f}% "
              f"(target <= +10%), p99 {r['p99_ms'] - plain['p99_ms']:+.2f} ms")
    print(f"the shadow answered {shadow['requests']} copies, dropped {shadow['dropped']}, errors {shadow['errors']}; "
          f"its model call p50 {shadow['latency_ms'][0] * 1000:.1f} µs (what a tenth of the requests add by itself)")


if __name__ == "__main__":
    main()
