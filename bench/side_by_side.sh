#!/usr/bin/env bash
# Issue 17's figures in one run (BENCHMARKS.md "Side by side, one run"): arcade's three codecs
# against the raw-socket floor (`arcade-bench load --floor`) at each player count, Colyseus
# and arcade through the Node generator of the peers harness (when PEERS is set), the server
# tick with the bridge at 10,000 matches, the ECS against the hand-written baseline, and the
# tick p99 at 2,000 players. Every line of JSON goes to OUT (one file), a table to stdout.
# Loopback only; every server it starts is stopped by its pid (by arcade-bench or compare.sh).
#
#   bench/side_by_side.sh                   # release binaries in target/release
#   PEERS=/tmp/peers bench/side_by_side.sh  # also Colyseus (copy ../shared/peers there first,
#                                           # `npm ci` in its two folders: its README)
#
# Env: PLAYERS ("400 800"), CODECS ("json msgpack compact"), DURATION (15), SETTLE (4),
#      BIG (2000: the tick p99 run, 0 to skip), OUT (/tmp/side-by-side-<time>.jsonl),
#      SIMS (1: the sim runs, 0 to skip), PEERS_P (400: players of the peers run), SERVER_ARGS (extra flags for every arcade server started, e.g. "--tick-realtime").
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
bench=${ARCADE_BENCH_BIN:-target/release/arcade-bench}
players=${PLAYERS:-"400 800"}
codecs=${CODECS:-"json msgpack compact"}
duration=${DURATION:-15}
settle=${SETTLE:-4}
big=${BIG:-2000}
out=${OUT:-/tmp/side-by-side-$(date -u +%H%M%S).jsonl}
server_args=()
for arg in ${SERVER_ARGS:-}; do server_args+=(--server-arg "$arg"); done
[ -x "$bench" ] || { echo "build first: cargo build --release -p arcade -p arcade-bench" >&2; exit 2; }
: >"$out"
echo "# $(date -u +%FT%TZ) $(git rev-parse --short HEAD), load $(cut -d' ' -f1-3 /proc/loadavg); JSON lines: $out"

for p in $players; do
  for codec in $codecs; do
    "$bench" load --players "$p" --input-hz 60 --codec "$codec" --floor --duration "$duration" \
      --settle "$settle" --json --label "load-$codec-$p" "${server_args[@]}" >>"$out"
  done
done

if [ -n "${PEERS:-}" ]; then
  for codec in json msgpack; do
    PEERS_OUT=$(mktemp -d /tmp/peers-out.XXXXXX)
    (cd "$PEERS" && BUILD=never ARCADE_CHECKOUT="$root" ARCADE_BIN="$root/$(dirname "$bench")/arcade" P=${PEERS_P:-400} CODEC=$codec DURATION=$duration \
      SETTLE=$settle OUT="$PEERS_OUT" ARCADE_ARGS="--ws-upgrades 0 --ws-per-address 0 --log warn ${SERVER_ARGS:-}" \
      ./compare.sh 2>"$PEERS_OUT.err" | grep '^{' | sed "s/^{/{\"run\":\"peers-$codec\",/" >>"$out") || true
    grep -q "\"run\":\"peers-$codec" "$out" || { echo "peers ($codec) gave no result:" >&2; tail -5 "$PEERS_OUT.err" >&2; }
    rm -rf "$PEERS_OUT" "$PEERS_OUT.err"
  done
fi

if [ "${SIMS:-1}" = 1 ]; then
  for codec in json compact; do # the bridge prints a table: matches, p50, p99, max ms, ns/match
    "$bench" sim --bridge-only --bridge 10000 --codec "$codec" | tail -1 |
      awk -v c="$codec" '{printf "{\"label\":\"bridge-%s\",\"matches\":%s,\"p50Ms\":%s,\"p99Ms\":%s,\"maxMs\":%s}\n", c, $1, $2, $3, $4}' >>"$out"
  done
  "$bench" sim --modes 1v1,2v2,vs_bot,solo,versus --matches 1000,10000 --no-bridge --json |
    sed -n 's/^json: //p' | sed 's/^{/{"label":"ecs",/' >>"$out"
fi
if [ "$big" -gt 0 ]; then
  for codec in json compact; do
    "$bench" load --players "$big" --codec "$codec" --duration "$duration" --settle "$settle" \
      --json --label "load-$codec-$big-tick" "${server_args[@]}" >>"$out"
  done
fi
echo "# done $(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg)"
python3 bench/side_by_side_table.py "$out"
