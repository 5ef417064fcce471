"""Stands in for a fleet of `flightdeck serve` processes, for tests/bench/console.sh --live: one
loopback port per model answering what the console asks a server (its plan, and /metrics with two
versions, latency histograms and per-feature drift gauges whose counters grow at 100 req/s), so
the console's cost with a thousand live servers can be measured on one machine.

    python3 fake_fleet.py DATA_DIR MODELS FEATURES STAND_IN_PID
writes DATA_DIR/serve/<model>.plan.json and .server.json for each model (pointing at its port,
with STAND_IN_PID as the supervisor) and serves until killed.
"""

import asyncio
import json
import math
import sys
import time
from pathlib import Path

PLAN = {"stable": 19, "canary": 20, "canary_percent": 10}
BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0]
STARTED = time.monotonic()


def static_part(model, features):
    lines = []
    for version, role, share in (("19", "stable", 0.9), ("20", "canary", 0.1)):
        l = f'model="{model}",version="{version}"'
        lines.append(f'flightdeck_model_info{{{l},role="{role}"}} 1')
        lines.append(f"flightdeck_traffic_share_ratio{{{l}}} {share}")
        for f in range(features):
            for method in ("psi", "ks_statistic", "ks_p_value", "missing_rate"):
                lines.append(f'flightdeck_feature_drift{{{l},feature="f{f:02}",method="{method}"}} 0.01')
        lines.append(f"flightdeck_drift_share{{{l}}} 0.05")
        lines.append(f'flightdeck_drift_verdict{{{l},verdict="warn"}} 1')
        lines.append(f"flightdeck_drift_window_samples{{{l}}} 2000")
    return "\n".join(lines) + "\n"


def counters(model):
    total = (time.monotonic() - STARTED) * 100
    out = ["# TYPE flightdeck_request_duration_seconds histogram"]
    for version, share in (("19", 0.9), ("20", 0.1)):
        n = total * share
        l = f'model="{model}",version="{version}"'
        out.append(f'flightdeck_requests_total{{{l},code="200"}} {n * 0.99:.0f}')
        out.append(f'flightdeck_requests_total{{{l},code="500"}} {n * 0.01:.0f}')
        cumulative = 0.0
        for i, le in enumerate(BUCKETS):
            cumulative += n / 2 ** (i + 1)
            out.append(f'flightdeck_request_duration_seconds_bucket{{{l},le="{le}"}} {cumulative:.0f}')
        out.append(f'flightdeck_request_duration_seconds_bucket{{{l},le="+Inf"}} {n:.0f}')
        out.append(f"flightdeck_request_duration_seconds_sum{{{l}}} {n * 0.002}")
        out.append(f"flightdeck_request_duration_seconds_count{{{l}}} {n:.0f}")
    return "\n".join(out) + "\n"


def handler(model, static):
    async def serve(reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1].decode()
                if path.startswith("/flightdeck/admin/deployments/"):
                    body, kind = json.dumps(PLAN).encode(), b"application/json"
                elif path == "/metrics":
                    body, kind = (counters(model) + static).encode(), b"text/plain; version=0.0.4"
                else:
                    body, kind = b'{"error":"not here"}', b"application/json"
                status = b"200 OK" if not body.startswith(b'{"error"') else b"404 Not Found"
                writer.write(b"HTTP/1.1 " + status + b"\r\ncontent-type: " + kind
                             + b"\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
    return serve


async def main():
    data_dir, models, features, stand_in = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    serve_dir = data_dir / "serve"
    serve_dir.mkdir(parents=True, exist_ok=True)
    # The same names `flightdeck bench-console` registers.
    width = math.ceil(math.log10(max(models, 1))) + 1
    servers = []
    for i in range(models):
        model = f"model-{i:0{width}d}"
        server = await asyncio.start_server(handler(model, static_part(model, features)), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        servers.append(server)
        (serve_dir / f"{model}.plan.json").write_text(json.dumps(PLAN))
        (serve_dir / f"{model}.server.json").write_text(json.dumps({
            "model": model, "supervisor_pid": stand_in, "server_pid": None, "port": port,
            "started_plan": PLAN, "started_at": "2026-01-01T00:00:00Z", "restarts": 0,
            "last_exit": None, "state": "running"}))
    print("ready", flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


asyncio.run(main())
