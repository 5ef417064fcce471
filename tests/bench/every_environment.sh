#!/usr/bin/env bash
# `:fleet all` as a person runs it, on the synthetic fleet of `flightdeck bench-console --keep DIR`
# (1,000 models) configured as three environments that read it (local, east, west): the time from
# the command to a screen showing every environment's rows, and the CPU while the list stays open
# and idle (the other two are read again every 10 s). Needs tmux and python3.
#   target/release/flightdeck bench-console --keep /tmp/fd-bench
#   tests/bench/every_environment.sh /tmp/fd-bench [target/release/flightdeck] [SECONDS]
set -euo pipefail
home=${1:?usage: every_environment.sh HOME [FLIGHTDECK] [SECONDS]}
bin=${2:-target/release/flightdeck}
seconds=${3:-60}
session=fd-every-$$
work=$(mktemp -d)
trap 'tmux kill-session -t $session 2>/dev/null || true; rm -rf "$work"' EXIT
rm -rf "$home/serve"
printf '[refresh]\nmetrics_ms = 1000\n\n[environments.local]\n[environments.east]\n[environments.west]\n' \
  > "$work/config.toml"
ms() { date +%s%3N; }
tmux new-session -d -s "$session" -x 200 -y 60 \
  "FLIGHTDECK_HOME=$home FLIGHTDECK_CONFIG=$work/config.toml $bin"
until tmux capture-pane -p -t "$session" | grep -q 'model-0001'; do sleep 0.01; done
pid=$(pgrep -f "^$bin\$" | head -1)
start=$(ms)
tmux send-keys -t "$session" ':' && tmux send-keys -t "$session" -l 'fleet all' && tmux send-keys -t "$session" Enter
# Sorted by name then environment: model-0000 in east, local and west are the first three rows.
until tmux capture-pane -p -t "$session" | grep -q 'west *model-0000'; do sleep 0.005; done
first=$(( $(ms) - start ))
sleep 12 # past one more read of each other environment
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
ticks=$(getconf CLK_TCK)
before=$(cpu); sleep "$seconds"; after=$(cpu)
idle_cpu=$(python3 -c "print(round(100 * ($after - $before) / $ticks / $seconds, 2))")
rss=$(awk '/VmRSS/ {print $2/1024}' "/proc/$pid/status")
rows=$(tmux capture-pane -p -t "$session" | grep -o 'every environment ([0-9]* models)')
echo "list:                                          $rows"
echo ":fleet all to every environment on screen:     ${first} ms"
echo "CPU with the list open and idle over ${seconds} s:    ${idle_cpu} %"
echo "resident memory:                               ${rss} MB"
