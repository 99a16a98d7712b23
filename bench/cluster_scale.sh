#!/usr/bin/env bash
# Players held with 1, 2 and 3 instances of a cluster behind nginx (issue 18, BENCHMARKS.md "A
# cluster"): for each cluster size, starts that many release `arcade` instances on one fresh
# PostgreSQL database and one Redis database, nginx (proxy/nginx.conf, its upstream rewritten)
# in front, and runs `arcade-bench load` through nginx at each player count of the ladder. A
# pair's two players are spread by nginx (least_conn), so with 2 or 3 instances most matches
# have a player on another instance than the match's owner (its inputs and frames cross
# Redis). Prints one line per run: the client-side targets (slowest 1 % of clients at >= 95 %
# of the tick rate, input->ack p99 < 3 ticks), the CPU of all instances together, and Redis
# commands a second. Loopback only; every process it starts is stopped by its pid.
#
#   ARCADE_TEST_POSTGRES_URL=postgres://... ARCADE_TEST_REDIS_URL=redis://127.0.0.1:PORT \
#     bench/cluster_scale.sh [sizes="1 2 3"] [ladder="200 400 800"] [seconds=10] [codec=compact]
set -euo pipefail

cd "$(dirname "$0")/.."
sizes=${1:-"1 2 3"}
ladder=${2:-"200 400 800"}
seconds=${3:-10}
codec=${4:-compact}
arcade=${ARCADE_BIN:-target/release/arcade}
bench=${ARCADE_BENCH_BIN:-target/release/arcade-bench}
: "${ARCADE_TEST_POSTGRES_URL:?set ARCADE_TEST_POSTGRES_URL (scripts/services.sh starts one)}"
: "${ARCADE_TEST_REDIS_URL:?set ARCADE_TEST_REDIS_URL}"
[ -x "$arcade" ] && [ -x "$bench" ] || { echo "build first: cargo build --release -p arcade -p arcade-bench" >&2; exit 2; }

work=$(mktemp -d /tmp/arcade-cluster-scale.XXXXXX)
chmod 755 "$work"
pids=()
stop_all() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  pids=()
}
trap 'stop_all; rm -rf "$work"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
cpu_ticks() { # utime + stime of the given pids, in clock ticks
  local total=0 pid
  for pid in "$@"; do total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat"))); done
  echo "$total"
}
redis_commands() { redis-cli -u "$1" INFO stats | awk -F: '/^total_commands_processed/ {print $2+0}'; }

pg_base=${ARCADE_TEST_POSTGRES_URL%/*}
redis_base=${ARCADE_TEST_REDIS_URL%/}
hz=$(getconf CLK_TCK)
printf '%-10s %7s %12s %12s %9s %10s %12s %s\n' instances players "p1 states/s" "ack p99 ms" "CPU cores" "Redis/s" "per match" held
for size in $sizes; do
  database="arcade_scale_${size}_$$"
  psql -q "$ARCADE_TEST_POSTGRES_URL" -c "DROP DATABASE IF EXISTS $database" -c "CREATE DATABASE $database" >/dev/null
  redis="$redis_base/$((10 + size))"
  redis-cli -u "$redis" FLUSHDB >/dev/null
  upstreams=""
  instance_pids=()
  for index in $(seq 1 "$size"); do
    port=$(free_port)
    "$arcade" --listen "127.0.0.1:$port" --log warn --database-url "$pg_base/$database" \
      --redis "$redis" --instance-id "i$index" --jwt-secret bench \
      --ws-upgrades 0 --ws-per-address 0 --rate-limit-reads 0 --rate-limit-writes 0 \
      2>"$work/i$index.log" &
    pids+=($!)
    instance_pids+=($!)
    upstreams+="server 127.0.0.1:$port; "
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
  done
  nginx_port=$(free_port)
  mkdir -p "$work/nginx$size/tmp"
  sed -e "s|server 127.0.0.1:8080;|$upstreams|" -e "s|listen 8081;|listen 127.0.0.1:$nginx_port;|" \
    proxy/nginx.conf >"$work/nginx$size/nginx.conf"
  nginx -p "$work/nginx$size" -c "$work/nginx$size/nginx.conf" -g 'daemon off;' 2>"$work/nginx$size/stderr.log" &
  pids+=($!)
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$nginx_port/health" >/dev/null && break; sleep 0.1; done
  sleep 2 # every instance sees the others' heartbeats
  for players in $ladder; do
    cpu_before=$(cpu_ticks "${instance_pids[@]}")
    redis_before=$(redis_commands "$redis")
    started=$(date +%s.%N)
    report=$("$bench" load --url "ws://127.0.0.1:$nginx_port/ws" --pid "${instance_pids[0]}" \
      --players "$players" --codec "$codec" --duration "$seconds" --settle 3 --json --label "cluster$size-p$players")
    elapsed=$(python3 -c "import time; print(time.time() - $started)")
    cpu_after=$(cpu_ticks "${instance_pids[@]}")
    redis_after=$(redis_commands "$redis")
    echo "$report" >>"$work/report.jsonl"
    python3 - "$report" "$size" "$players" "$cpu_before" "$cpu_after" "$hz" "$elapsed" "$redis_before" "$redis_after" <<'EOF'
import json, sys
r = json.loads(sys.argv[1])
size, players = int(sys.argv[2]), int(sys.argv[3])
cpu = (int(sys.argv[5]) - int(sys.argv[4])) / int(sys.argv[6]) / float(sys.argv[7])
redis = (int(sys.argv[9]) - int(sys.argv[8])) / float(sys.argv[7])
held = r["targets"]["snapshotRateP1AtLeast95pc"] and r["targets"]["ackP99Under3Ticks"] and r["disconnects"] == 0
p1 = r["statesPerClientSecond"]["playersP1"]
print(f'{size:<10} {players:>7} {p1:>12.1f} {r["ackMs"]["p99"]:>12.1f} {cpu:>9.2f} {redis:>10.0f} {redis / max(players // 2, 1):>12.1f} {"yes" if held else "no"}')
EOF
    sleep 2
  done
  stop_all
done
echo "reports: $work/report.jsonl (removed at exit; copy it first if needed)" >&2
uptime >&2
