#!/usr/bin/env bash
# Check that token-manager-core stays sans-IO (callers pass `now` and entropy): no clock, randomness, file,
# network, environment, thread or DOM access in its source, and no IO stack in its dependencies.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
failed=0

# 1. Calls in core/src (comment lines are skipped: the docs may name what core must not do).
calls='SystemTime::now|Instant::now|Utc::now|Local::now|std::fs|std::net|std::env|std::thread|std::process|std::io::std(in|out|err)|thread_rng|OsRng|rand::|getrandom|new_random|pkce::code_verifier|web_sys|js_sys|wasm_bindgen|tokio|reqwest|hyper|println!|eprintln!|dbg!'
if hits="$(grep -rnE "$calls" core/src | grep -vE '^[^:]+:[0-9]+:[[:space:]]*//' )"; then
  printf 'core/src performs IO (or prints); pass `now`/entropy in or move it to a caller:\n%s\n' "$hits" >&2
  failed=1
else
  step "core/src: no clock, randomness, fs, net, env, threads, DOM or printing"
fi

# Fail (naming the crates) when any of the crate names on stdin matches the pattern $1.
forbid() { # <pattern> <message> <ok-step>
  local bad
  bad="$(grep -xE "$1" || true)"
  if [ -n "$bad" ]; then
    printf '%s: %s\n' "$2" "$(echo $bad)" >&2
    failed=1
  else
    step "$3"
  fi
}

# 2. Direct dependencies: none that does IO, or reads a clock or an RNG.
direct="$(cargo tree -p token-manager-core -e normal --depth 1 --prefix none --target all | sed 1d | awk '{print $1}' | sort -u)"
forbid 'tokio|mio|reqwest|hyper|ureq|curl|socket2|async-std|rusqlite|sqlx|web-sys|js-sys|wasm-bindgen|gloo-.*|getrandom|rand|rand_core|chrono|tracing|log|env_logger' \
  'token-manager-core depends directly on IO/clock/RNG crates' \
  "core direct dependencies: $(echo $direct)" <<<"$direct"

# 3. The whole tree, native and wasm32: no async runtime, HTTP client, socket, database or DOM
# binding. (oauth2 and pkce bring rand/getrandom — and on wasm32 js-sys/wasm-bindgen through
# getrandom's "js" feature — for their own random helpers, which core never calls: check 1.)
tree="$( { cargo tree -p token-manager-core -e normal --prefix none;
           cargo tree -p token-manager-core -e normal --prefix none --target wasm32-unknown-unknown; } \
         | awk '{print $1}' | sort -u)"
forbid 'tokio|mio|reqwest|hyper|ureq|curl|socket2|async-std|rusqlite|sqlx|web-sys|gloo-.*|yew' \
  'token-manager-core pulls in IO crates (cargo tree -p token-manager-core -i <crate>)' \
  'core dependency tree (native + wasm32): no runtime, HTTP, socket, database or DOM crate' <<<"$tree"

[ "$failed" -eq 0 ] || die "token-manager-core is not sans-IO (see above)"
