#!/usr/bin/env bash
# The console as a person runs it, on the synthetic fleet of `flightdeck bench-console --keep DIR`
# (1,000 models x 20 versions): time to the first screen, CPU and bytes written to the terminal
# while nothing changes, resident memory, and key-to-screen latency while one model's server
# hangs (accepts connections, never answers). Needs tmux and python3.
#   cargo build --release
#   target/release/flightdeck bench-console --keep /tmp/fd-bench
#   tests/bench/console.sh /tmp/fd-bench [target/release/flightdeck] [--live]
# With --live every model is served by tests/bench/fake_fleet.py (one loopback port per model
# answering plans and /metrics with 20 features' drift gauges), so the console scrapes a thousand
# live servers every second; the hanging server then is model-0000's alone.
# WRAP="heaptrack -o FILE" (or another command prefix) runs the console under it.
set -euo pipefail
home=${1:?usage: console.sh HOME [FLIGHTDECK] [--live]}
bin=${2:-target/release/flightdeck}
live=${3:-}
session=fd-bench-$$
work=$(mktemp -d)
hang_pid=""; stand_in=""; fleet_pid=""
trap 'tmux kill-session -t $session 2>/dev/null || true; kill $hang_pid $stand_in $fleet_pid 2>/dev/null || true; cp "$work/out" /tmp/fd-bench-idle.out 2>/dev/null; rm -rf "$work"' EXIT

# A server that hangs, recorded as model-0000's local server (a sleeping stand-in named
# flightdeck plays its supervisor).
python3 - "$work/port" <<'PY' &
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1024)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
time.sleep(3600)
PY
hang_pid=$!
while [ ! -s "$work/port" ]; do sleep 0.05; done
bash -c 'exec -a flightdeck-supervise sleep 3600' & stand_in=$!
rm -rf "$home/serve"
touch "$work/none.toml"
if [ "$live" = "--live" ]; then
  models=$(FLIGHTDECK_HOME=$home FLIGHTDECK_CONFIG=$work/none.toml "$bin" models --json \
    | python3 -c 'import json, sys; print(len(json.load(sys.stdin)))')
  ulimit -n 8192
  python3 "$(dirname "$0")/fake_fleet.py" "$home" "$models" 20 "$stand_in" > "$work/fleet.out" &
  fleet_pid=$!
  until grep -q ready "$work/fleet.out" 2>/dev/null; do sleep 0.1; done
fi
mkdir -p "$home/serve"
echo '{"stable":19,"canary":20,"canary_percent":10}' > "$home/serve/model-0000.plan.json"
printf '{"model":"model-0000","supervisor_pid":%d,"server_pid":null,"port":%d,"started_plan":{"stable":19,"canary":20,"canary_percent":10},"started_at":"2026-01-01T00:00:00Z","restarts":0,"last_exit":null,"state":"running"}' \
  "$stand_in" "$(cat "$work/port")" > "$home/serve/model-0000.server.json"
printf '[refresh]\nmetrics_ms = 1000\nsource_timeout_ms = 2000\n' > "$work/config.toml"

ms() { date +%s%3N; }
start=$(ms)
tmux new-session -d -s "$session" -x 200 -y 60 \
  "FLIGHTDECK_HOME=$home FLIGHTDECK_CONFIG=$work/config.toml ${WRAP:-} $bin"
until tmux capture-pane -p -t "$session" | grep -q 'model-0001'; do sleep 0.005; done
first=$(( $(ms) - start ))
pid=$(pgrep -f "^$bin\$" | head -1)

sleep 5 # let the hanging scrape fail and settle
tmux pipe-pane -t "$session" -o "cat >> $work/out"
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
before=$(cpu); sleep 10; after=$(cpu)
tmux pipe-pane -t "$session"
ticks=$(getconf CLK_TCK)
idle_cpu=$(python3 -c "print(round(100 * ($after - $before) / $ticks / 10, 2))")
idle_bytes=$(stat -c %s "$work/out" 2>/dev/null || echo 0)
rss=$(awk '/VmRSS/ {print $2/1024}' "/proc/$pid/status")
# Anonymous (heap, stacks, allocator caches) vs file-backed (the binary's pages) resident memory.
rss_parts=$(awk '/RssAnon/ {a=$2/1024} /RssFile/ {f=$2/1024} END {printf "%.1f MB anonymous + %.1f MB of the binary and libraries", a, f}' "/proc/$pid/status")
threads=$(awk '/Threads/ {print $2}' "/proc/$pid/status")

# Key-to-screen: j moves the selection one row down; time until the screen shows it.
worst=0; total=0
for i in $(seq 1 20); do
  row=$(printf 'model-%04d' "$i")
  t0=$(ms)
  tmux send-keys -t "$session" j
  until tmux capture-pane -p -t "$session" | grep -q "▶ $row"; do :; done
  dt=$(( $(ms) - t0 )); total=$((total + dt)); [ $dt -gt $worst ] && worst=$dt
done
echo "first screen after launch:          ${first} ms"
echo "idle CPU over 10 s (1 s refresh):   ${idle_cpu} %"
echo "bytes written to the terminal idle: ${idle_bytes}"
echo "resident memory:                    ${rss} MB (${rss_parts}; ${threads} threads)"
echo "key to screen, 20 keys, one source hanging: mean $((total / 20)) ms, worst ${worst} ms (includes tmux capture polling)"
# Quit as a person does, so a wrapper (heaptrack) can write its report.
tmux send-keys -t "$session" q
for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
