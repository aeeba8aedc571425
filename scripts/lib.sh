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
