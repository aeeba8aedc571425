#!/usr/bin/env bash
# README command 1: install what is missing, build the widget package, and run the example host
# (portal on :8080, mock UPS on :8081, SQLite file ./token-manager.db). Extra arguments go to
# host-example (see host-example/README.md), e.g. `bash scripts/demo.sh --listen 127.0.0.1:9090`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

bash scripts/setup.sh
bash scripts/build-widget.sh
step "cargo build --locked -p host-example --release"
cargo build --locked -p host-example --release

listen="${TM_LISTEN:-127.0.0.1:8080}"
prev=""
for arg in "$@"; do
  case "$arg" in
    --listen=*) listen="${arg#--listen=}" ;;
    *) [ "$prev" = "--listen" ] && listen="$arg" ;;
  esac
  prev="$arg"
done
step "starting the demo: open http://$listen/ → Admin → Authorize, sign in at the mock UPS as demo / demo-password (Ctrl-C stops)"
# glibc: two malloc arenas instead of up to 8 per core (host-example/README "Real providers").
export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}"
exec "$TARGET_DIR/release/host-example" "$@"
