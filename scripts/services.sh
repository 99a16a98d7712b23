# Sourced by scripts/test.sh (bash): installs PostgreSQL and Redis when missing, starts one of
# each for the test run on free loopback ports in a temporary folder, exports
# ARCADE_TEST_POSTGRES_URL and ARCADE_TEST_REDIS_URL, and stops both (by pid) at exit via
# `services_stop`, which the caller's EXIT trap runs. Usable alone:
#   source scripts/services.sh && services_start && env | grep ARCADE_TEST_

# A free TCP port on 127.0.0.1 (the kernel picks it; nothing holds it afterwards).
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Installs Debian's package $2 unless command/file $1 exists; quiet, refreshing the package
# list only when the install needs it.
apt_install_missing() {
  local probe=$1 package=$2
  if command -v "$probe" >/dev/null 2>&1 || [ -x "$probe" ]; then return 0; fi
  echo "== installing $package"
  local sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y -qq --no-install-recommends "$package" >/dev/null 2>&1 \
    || { $sudo apt-get update -qq >/dev/null && $sudo apt-get install -y -qq --no-install-recommends "$package" >/dev/null; } \
    || echo "could not install $package" >&2
}

# The folder of PostgreSQL's server binaries (Debian keeps them in /usr/lib/postgresql/<ver>/bin).
pg_bindir() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  if [ -n "$dir" ]; then echo "$dir"; else dirname "$(command -v postgres || command -v initdb)"; fi
}

SERVICES_DIR=""
SERVICES_PG_PID=""
SERVICES_REDIS_PID=""

# Runs "$@" as the user owning the PostgreSQL data folder (postgres refuses to run as root).
as_pg_user() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

services_start() {
  apt_install_missing /usr/lib/postgresql postgresql
  apt_install_missing redis-server redis-server
  # The packages may start system services on the default ports; the tests run their own.
  if command -v service >/dev/null 2>&1; then
    service postgresql stop >/dev/null 2>&1 || true
    service redis-server stop >/dev/null 2>&1 || true
  fi
  SERVICES_DIR=$(mktemp -d /tmp/arcade-services.XXXXXX)
  chmod 755 "$SERVICES_DIR"

  local bin pg_port
  bin=$(pg_bindir)
  pg_port=$(free_port)
  mkdir -p "$SERVICES_DIR/pg"
  if [ "$(id -u)" = 0 ]; then chown postgres: "$SERVICES_DIR/pg"; fi
  as_pg_user "$bin/initdb" -D "$SERVICES_DIR/pg/data" -U arcade -A trust -E UTF8 --no-sync >"$SERVICES_DIR/pg/initdb.log" 2>&1 \
    || { echo "initdb failed:" >&2; cat "$SERVICES_DIR/pg/initdb.log" >&2; return 1; }
  # fsync off: a test database need not survive a power cut; the socket lives in our folder.
  as_pg_user "$bin/postgres" -D "$SERVICES_DIR/pg/data" -h 127.0.0.1 -p "$pg_port" \
    -k "$SERVICES_DIR/pg" -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
    -c max_connections=400 >"$SERVICES_DIR/pg/postgres.log" 2>&1 &
  SERVICES_PG_PID=$! # the wrapper's, until the postmaster's own pid is known
  local tries=0
  until "$bin/pg_isready" -q -h 127.0.0.1 -p "$pg_port"; do
    tries=$((tries + 1))
    if [ "$tries" -gt 100 ] || ! kill -0 "$SERVICES_PG_PID" 2>/dev/null; then
      echo "postgres did not start:" >&2; cat "$SERVICES_DIR/pg/postgres.log" >&2; return 1
    fi
    sleep 0.1
  done
  # The postmaster's pid (first line of postmaster.pid): what services_stop signals, since the
  # wrapper (runuser, a subshell) does not pass signals on.
  SERVICES_PG_PID=$(head -1 "$SERVICES_DIR/pg/data/postmaster.pid")
  export ARCADE_TEST_POSTGRES_URL="postgres://arcade@127.0.0.1:$pg_port/postgres"

  local redis_port
  redis_port=$(free_port)
  redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize no --dir "$SERVICES_DIR" >"$SERVICES_DIR/redis.log" 2>&1 &
  SERVICES_REDIS_PID=$!
  tries=0
  until redis-cli -h 127.0.0.1 -p "$redis_port" ping 2>/dev/null | grep -q PONG; do
    tries=$((tries + 1))
    if [ "$tries" -gt 100 ] || ! kill -0 "$SERVICES_REDIS_PID" 2>/dev/null; then
      echo "redis did not start:" >&2; cat "$SERVICES_DIR/redis.log" >&2; return 1
    fi
    sleep 0.1
  done
  export ARCADE_TEST_REDIS_URL="redis://127.0.0.1:$redis_port"
  echo "== postgres on $ARCADE_TEST_POSTGRES_URL, redis on $ARCADE_TEST_REDIS_URL"
}

# Stops what services_start started (by pid) and removes its folder.
services_stop() {
  # SIGINT is PostgreSQL's fast shutdown (SIGTERM would wait for clients to leave).
  if [ -n "$SERVICES_PG_PID" ]; then kill -INT "$SERVICES_PG_PID" 2>/dev/null || true; fi
  if [ -n "$SERVICES_REDIS_PID" ]; then kill "$SERVICES_REDIS_PID" 2>/dev/null || true; fi
  # The postmaster is not this shell's child: wait for it by polling (fast shutdown, ~1 s).
  for pid in $SERVICES_PG_PID $SERVICES_REDIS_PID; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  done
  SERVICES_PG_PID=""
  SERVICES_REDIS_PID=""
  if [ -n "$SERVICES_DIR" ]; then rm -rf "$SERVICES_DIR"; SERVICES_DIR=""; fi
}
