#!/usr/bin/env bash
# Benchmarks (not tests): build what they need, measure, and write target/bench/report.md and
# target/bench/report.png. Figures are medians of repeated runs; see bench/README.md.
#
#   bash scripts/bench.sh            everything (about 10 minutes on 2 cores)
#   bash scripts/bench.sh --quick    shorter runs and 1,000 authorizations for the refresher
#   bash scripts/bench.sh bundle host-read ...   only these parts (then the report)
#
# Parts: bundle render history host-read exchange refresher server-api (in this order), then
# report; refresher-scale (PostgreSQL: GET /tokens, POST /exchange, and the refresher with
# 100,000 companies on 1-3 instances, ≈ 1¼ hours; --quick 5,000, ≈ 13 minutes) runs only when
# named.
# Needs what scripts/setup.sh installs (Rust + wasm32, wasm-bindgen CLI, Node 20+, Chromium);
# installs wrk (apt) and bench/node_modules (npm ci) itself when missing; refresher-scale also
# needs Debian's postgresql package (scripts/setup.sh) and sqlite3.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

all_parts=(bundle render history host-read exchange refresher server-api)
# Run only when named (long): after the others, before the report.
extra_parts=(refresher-scale)
parts=()
export BENCH_QUICK="${BENCH_QUICK:-0}"
for arg in "$@"; do
  case "$arg" in
    --quick) BENCH_QUICK=1 ;;
    -h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    bundle | render | history | host-read | exchange | refresher | server-api | refresher-scale) parts+=("$arg") ;;
    *) die "unknown argument '$arg' (parts: ${all_parts[*]} ${extra_parts[*]}; option: --quick)" ;;
  esac
done
[ "${#parts[@]}" -gt 0 ] || parts=("${all_parts[@]}")
wants() { local p; for p in "${parts[@]}"; do [ "$p" = "$1" ] && return 0; done; return 1; }
needs_host() { wants render || wants host-read || wants exchange || wants refresher || wants server-api || wants refresher-scale; }

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
if wants refresher-scale; then
  step "cargo build --locked -p host-example -p mock-ups --release"
  cargo build --locked -p host-example -p mock-ups --release
elif needs_host; then
  step "cargo build --locked -p host-example --release"
  cargo build --locked -p host-example --release
fi

# --- measurements ---------------------------------------------------------------------------
mkdir -p "$TARGET_DIR/bench"
quick_args=()
[ "$BENCH_QUICK" = 1 ] && quick_args=(--quick)
for part in "${all_parts[@]}" "${extra_parts[@]}"; do
  wants "$part" || continue
  section "$part"
  if [ "$part" = refresher-scale ]; then
    # PostgreSQL beside SQLite: the reads and exchanges of host-read and exchange, then the
    # refresher at scale on 1-3 instances (bench/README.md).
    node bench/host-read.mjs --engine postgres "${quick_args[@]}"
    node bench/exchange.mjs --engine postgres "${quick_args[@]}"
  fi
  node "bench/$part.mjs" "${quick_args[@]}"
done

section "report"
node bench/report.mjs
