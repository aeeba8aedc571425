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
