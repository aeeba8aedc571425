#!/usr/bin/env bash
# Benchmarks (not tests): build what they need, measure, and write target/bench/report.md and
# target/bench/report.png. Figures are medians of repeated runs; see bench/README.md.
#
#   bash scripts/bench.sh            everything (about 10 minutes on 2 cores)
#   bash scripts/bench.sh --quick    shorter runs and 1,000 authorizations for the refresher
#   bash scripts/bench.sh bundle host-read ...   only these parts (then the report)
#
# Parts: bundle render history host-read exchange refresher server-api (in this order), then
# report.
# Needs what scripts/setup.sh installs (Rust + wasm32, wasm-bindgen CLI, Node 20+, Chromium);
# installs wrk (apt) and bench/node_modules (npm ci) itself when missing.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

all_parts=(bundle render history host-read exchange refresher server-api)
parts=()
export BENCH_QUICK="${BENCH_QUICK:-0}"
for arg in "$@"; do
  case "$arg" in
    --quick) BENCH_QUICK=1 ;;
    -h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    bundle | render | history | host-read | exchange | refresher | server-api) parts+=("$arg") ;;
    *) die "unknown argument '$arg' (parts: ${all_parts[*]}; option: --quick)" ;;
  esac
done
[ "${#parts[@]}" -gt 0 ] || parts=("${all_parts[@]}")
wants() { local p; for p in "${parts[@]}"; do [ "$p" = "$1" ] && return 0; done; return 1; }
needs_host() { wants render || wants host-read || wants exchange || wants refresher || wants server-api; }

command -v node >/dev/null || die "node not found: run bash scripts/setup.sh"

# --- tools --------------------------------------------------------------------------------
if ! command -v wrk >/dev/null; then
  step "apt package wrk: installing (HTTP load generator)"
  if ! apt-cache show wrk >/dev/null 2>&1; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk
fi
if [ ! -d bench/node_modules ] || [ bench/package-lock.json -nt bench/node_modules/.package-lock.json ]; then
  step "npm ci in bench/ (playwright-core, oidc-client-ts, @auth0/auth0-spa-js)"
  (cd bench && npm ci --no-audit --no-fund --loglevel=error)
fi

# --- builds ---------------------------------------------------------------------------------
if wants bundle || wants render; then
  step "build the widget package (scripts/build-widget.sh)"
  bash scripts/build-widget.sh
fi
if needs_host; then
  step "cargo build --locked -p host-example --release"
  cargo build --locked -p host-example --release
fi

# --- measurements ---------------------------------------------------------------------------
mkdir -p "$TARGET_DIR/bench"
quick_args=()
[ "$BENCH_QUICK" = 1 ] && quick_args=(--quick)
for part in "${all_parts[@]}"; do
  wants "$part" || continue
  section "$part"
  node "bench/$part.mjs" "${quick_args[@]}"
done

section "report"
node bench/report.mjs
