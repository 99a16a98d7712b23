#!/usr/bin/env bash
# The one test command: installs what the tests need on a fresh machine, checks formatting
# and lints, and runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is required (https://rustup.rs)" >&2
  exit 1
fi

# schemathesis (PyPI) validates the running server against its own OpenAPI document
# (tests/openapi.rs); installed once, quietly, into the user's Python.
SCHEMATHESIS_VERSION=4.32.5
if ! command -v st >/dev/null 2>&1 || ! st --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  echo "== installing schemathesis $SCHEMATHESIS_VERSION"
  python3 -m pip install --quiet --disable-pip-version-check --user "schemathesis==$SCHEMATHESIS_VERSION" \
    || python3 -m pip install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
  export PATH="$(python3 -m site --user-base)/bin:$PATH"
fi
export ARCADE_REQUIRE_SCHEMATHESIS=1

# nginx (Debian's package) runs proxy/nginx.conf in front of the server in tests/proxy.rs.
# Installed once, quietly; the package list is refreshed only when the install needs it.
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  echo "== installing nginx"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  apt_install() { $SUDO apt-get install -y -qq --no-install-recommends nginx >/dev/null; }
  apt_install || { $SUDO apt-get update -qq >/dev/null && apt_install; } \
    || echo "could not install nginx: tests/proxy.rs fails under CI" >&2
  # The package may start a system nginx on port 80; the tests run their own.
  if command -v service >/dev/null 2>&1; then $SUDO service nginx stop >/dev/null 2>&1 || true; fi
fi

# The browser client's end-to-end tests (tests/browser.rs) drive Debian's Chromium with
# playwright-core, pinned in e2e/package-lock.json (it never downloads a browser of its own);
# node runs them. Installed once, quietly; under CI a missing piece fails those tests.
if [ ! -x /usr/bin/chromium ]; then
  echo "== installing chromium"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  chromium_install() { $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null; }
  chromium_install || { $SUDO apt-get update -qq >/dev/null && chromium_install; } \
    || echo "could not install chromium: tests/browser.rs fails under CI" >&2
fi
if command -v npm >/dev/null 2>&1; then
  if [ ! -d e2e/node_modules/playwright-core ] \
    || [ e2e/package-lock.json -nt e2e/node_modules/.package-lock.json ]; then
    echo "== npm ci (e2e/)"
    (cd e2e && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error) \
      || echo "could not install e2e/'s packages: tests/browser.rs fails under CI" >&2
  fi
else
  echo "node and npm are required for tests/browser.rs (https://nodejs.org)" >&2
fi
export ARCADE_REQUIRE_BROWSER=1

# PostgreSQL and Redis (Debian's packages) for the storage tests on both backends and
# tests/postgres.rs: installed once, quietly; one of each started for this run on free loopback
# ports (scripts/services.sh), stopped at exit.
source scripts/services.sh
trap services_stop EXIT
services_start || echo "could not start postgres/redis: tests/postgres.rs fails under CI" >&2
export ARCADE_REQUIRE_POSTGRES=1

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
log=$(mktemp)
trap 'rm -f "$log"; services_stop' EXIT
status=0
cargo test --workspace --locked 2>&1 | tee "$log" || status=$?
# One closing line for the whole run (cargo prints one per test binary, the last of which is
# often a crate's empty doc-test run).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
