#!/bin/bash
# User-space instructions per WebSocket frame (in and out) of a server build under a small
# steady load, counted by callgrind: deterministic where wall-clock CPU is noisy (run by hand).
#
#   bench/callgrind_frames.sh BIN TAG [CODEC]   # CODEC: json (default), msgpack, compact
#
# Starts BIN under callgrind on a loopback port, loads it with 20 players at 60 inputs a second
# (`arcade-bench load`, ARCADE_BENCH_BIN or target-bench's), zeroes the counters after the ramp,
# dumps them 8 s later and divides by the frames counted in `arcade_ws_frames_total` meanwhile.
# The dump (/tmp/callgrind-frames-TAG.*/cg.PID.1) reads with `callgrind_annotate --tree=caller`.
set -euo pipefail
BIN=$1; TAG=$2; CODEC=${3:-json}; PORT=${PORT:-18556}
LOAD=${ARCADE_BENCH_BIN:-$(dirname "$0")/../target-bench/release/arcade-bench}
D=$(mktemp -d /tmp/callgrind-frames-$TAG.XXXX)
valgrind --tool=callgrind --callgrind-out-file="$D/cg.%p" --compress-strings=no --compress-pos=no "$BIN" --listen 127.0.0.1:$PORT \
  --db "$D/a.db" --log warn > "$D/log" 2>&1 &
VP=$!
for _ in $(seq 60); do curl -s 127.0.0.1:$PORT/metrics > /dev/null && break; sleep 1; done
"$LOAD" load --url ws://127.0.0.1:$PORT/ws --players 20 --input-hz 60 --codec "$CODEC" \
  --duration 20 --settle 2 --json > "$D/load.json" 2> "$D/load.err" &
LP=$!
frames() { curl -s 127.0.0.1:$PORT/metrics | awk '/^arcade_ws_frames_total/ {s += $2} END {print s}'; }
sleep 8
callgrind_control -z "$VP" > /dev/null; F0=$(frames)
sleep 8
F1=$(frames); callgrind_control -d "$VP" > /dev/null
wait "$LP" || true
kill -INT "$VP"; wait "$VP" || true
IR=$(callgrind_annotate "$D"/cg.*.1 2> /dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
echo "$TAG codec=$CODEC frames=$((F1 - F0)) instructions=$IR per_frame=$((IR / (F1 - F0)))"
