# Shared helpers of the scripts in this folder (sourced, not run).
# shellcheck shell=bash

# Repository root, whatever the caller's working directory.
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export REPO_ROOT
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO_ROOT/target}"

# `step "what"`: one line per step, so a log reads as a list of what was done.
step() { printf '==> %s\n' "$*"; }
# `section "name"`: a header for the long phases of the test run.
section() { printf '\n======== %s ========\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Run as root, or through sudo when not root.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# The version of the `wasm-bindgen` crate in Cargo.lock (the CLI must match it exactly).
locked_wasm_bindgen_version() {
  awk '
    /^\[\[package\]\]/ { name = "" }
    /^name = / { name = $3; gsub(/"/, "", name) }
    /^version = / && name == "wasm-bindgen" { v = $3; gsub(/"/, "", v); print v; exit }
  ' "$REPO_ROOT/Cargo.lock"
}

# Seconds since the script started, for the timing lines.
elapsed() { printf '%ss' "$SECONDS"; }

# `optimize_wasm FILE`: wasm-opt FILE in place, keeping the result only if it is smaller after
# brotli -q 11 (what portals download). Used by build-widget.sh and bench/bundle.mjs (the Yew
# floor), so both go through the same passes.
# Passes: measured on this widget, what shrinks the *brotli* size (what portals download) is
# not `-Oz`: its inlining/outlining remove bytes but also the repetition brotli feeds on
# (-Oz: raw -14 %, brotli +0.6 %). `-O1` plus duplicate-function elimination gives brotli
# -1.4 %. The result is kept only if it is smaller after brotli than wasm-bindgen's output.
# Feature flags: rustc's wasm32 output (its default target CPU) uses bulk memory and saturating
# float-to-int; sign-ext and mutable globals are binaryen defaults, listed to be explicit;
# reference-types is allowed for wasm-bindgen's externref mode. wasm-opt must be told, since the
# `target_features` section it could detect them from is stripped (`strip = true`). multivalue
# is not needed. `--zero-filled-memory` is sound: the module defines its memory, zeroed.
optimize_wasm() {
  local input="$1" optimized="$1.opt"
  "$REPO_ROOT/pkg/node_modules/.bin/wasm-opt" -O1 --duplicate-function-elimination --zero-filled-memory \
    --strip-debug --strip-producers \
    --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals --enable-reference-types \
    -o "$optimized" "$input"
  node - "$input" "$optimized" <<'JS'
const { readFileSync, renameSync, rmSync } = require("node:fs");
const { brotliCompressSync, constants } = require("node:zlib");
const [input, optimized] = process.argv.slice(2);
const br = (f) => brotliCompressSync(readFileSync(f), { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length;
const [before, after] = [br(input), br(optimized)];
const kb = (n) => (n / 1024).toFixed(1) + " KiB";
if (after <= before) {
  renameSync(optimized, input);
  console.log(`==> wasm-opt: brotli ${kb(before)} -> ${kb(after)}`);
} else {
  rmSync(optimized);
  console.log(`==> wasm-opt: brotli ${kb(before)} -> ${kb(after)} is larger: keeping the input`);
}
JS
}

# `minify_js IN OUT`: an ES module minified by esbuild; exports, `import.meta.url` and the
# `new URL("…wasm", import.meta.url)` pattern bundlers look for are kept as written.
minify_js() {
  "$REPO_ROOT/pkg/node_modules/.bin/esbuild" --minify --format=esm --target=es2022 \
    --legal-comments=none --log-level=warning --outfile="$2" "$1"
}

# A throw-away PostgreSQL cluster (Debian's postgresql package, installed by setup.sh):
# `pg_start` runs initdb in a fresh temporary directory and starts the server on a free
# loopback port (as the postgres user when run as root: the server refuses root), setting
# PG_DIR and PG_URL (postgres://postgres@127.0.0.1:PORT/postgres, trust authentication);
# `pg_stop` stops it and removes the directory. Nothing is left running or on disk.
PG_DIR=""
PG_URL=""
pg_bin() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
  [ -n "$d" ] && [ -x "$d/initdb" ] || die "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): run scripts/setup.sh"
  printf '%s' "$d"
}
pg_as() {
  if [ "$(id -u)" = "0" ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
pg_start() {
  local bin port
  bin=$(pg_bin)
  PG_DIR=$(mktemp -d /tmp/tm-pg-XXXXXX)
  if [ "$(id -u)" = "0" ]; then chown postgres:postgres "$PG_DIR"; fi
  pg_as "$bin/initdb" -D "$PG_DIR/data" -A trust -U postgres --no-sync -E UTF8 >"$PG_DIR/initdb.log" 2>&1 \
    || { cat "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
  port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
  pg_as "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
    -o "-p $port -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
    start >/dev/null || { cat "$PG_DIR/server.log" >&2; die "PostgreSQL did not start"; }
  PG_URL="postgres://postgres@127.0.0.1:$port/postgres"
}
pg_stop() {
  if [ -n "$PG_DIR" ] && [ -d "$PG_DIR/data" ]; then
    pg_as "$(pg_bin)/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  if [ -n "$PG_DIR" ]; then rm -rf "$PG_DIR"; fi
  PG_DIR=""
}
