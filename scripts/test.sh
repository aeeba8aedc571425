#!/usr/bin/env bash
# README command 2 (also .ci/run): install what is missing, then every check and test, in order,
# stopping at the first failure:
#   fmt · clippy (native, host without the mock, wasm32) · rustdoc · core is sans-IO · cargo test (native) ·
#   widget tests in headless Chromium · widget package build · host release build ·
#   Node tests in Chromium (tests/pkg: the npm package; tests/e2e: user paths end to end).
# Environment: TM_SKIP_SETUP=1 skips scripts/setup.sh; TM_TEST_LOG=1 echoes host logs.
set -Eeuo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

# A fresh checkout (CI) gains nothing from incremental artifacts; developers keep theirs.
if [ "${CI:-}" = "true" ]; then export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"; fi
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

current="setup"
timings=()
started=$SECONDS
section_started=$SECONDS
begin() {
  current="$1"
  section_started=$SECONDS
  section "$1"
}
done_section() {
  local took=$((SECONDS - section_started))
  timings+=("$(printf '%5ss  %s' "$took" "$current")")
  printf -- '--- %s: ok (%ss)\n' "$current" "$took"
}
on_error() {
  printf '\n✗ scripts/test.sh failed in section "%s" after %ss (see the output above)\n' \
    "$current" "$((SECONDS - started))" >&2
}
trap on_error ERR

# Background processes of this script (the host of the widget browser tests).
host_pid=""
host_dir=""
cleanup() {
  if [ -n "$host_pid" ]; then kill "$host_pid" 2>/dev/null || true; wait "$host_pid" 2>/dev/null || true; fi
  if [ -n "$host_dir" ]; then rm -rf "$host_dir"; fi
  pg_stop
}
trap cleanup EXIT

if [ "${TM_SKIP_SETUP:-}" != "1" ]; then
  begin "setup (scripts/setup.sh)"
  bash scripts/setup.sh
  done_section
fi

begin "cargo fmt --all --check"
cargo fmt --all --check
done_section

begin "cargo clippy --workspace --all-targets (native)"
cargo clippy --locked --workspace --all-targets -- -D warnings
done_section

begin "cargo clippy -p host-example --no-default-features (a host without the mock UPS)"
cargo clippy --locked -p host-example --no-default-features -- -D warnings
done_section

begin "cargo clippy core + widget (wasm32-unknown-unknown)"
cargo clippy --locked -p token-manager-core -p token-manager-widget --target wasm32-unknown-unknown -- -D warnings
done_section

begin "cargo doc -p token-manager-core (warnings are errors)"
RUSTDOCFLAGS=-Dwarnings cargo doc --locked --no-deps -p token-manager-core
done_section

begin "token-manager-core is sans-IO"
bash scripts/check-core-pure.sh
done_section

begin "cargo test --workspace (native)"
cargo test --locked --workspace
done_section

# The host's tests of exchange, refresh, Clear and their races, the APIs and the webhooks once
# more with every harness on a database of a throw-away PostgreSQL cluster instead of a SQLite
# file (tests/host/harness/engine.rs). Tests that read the SQLite file itself stay in the run
# above; the store's contract, two applications and three processes on PostgreSQL ran there too.
begin "cargo test: the host's storage tests on PostgreSQL"
pg_start
TM_TEST_POSTGRES="$PG_URL" cargo test --locked -p host-example --test host -- \
  concurrency:: lifecycle:: data_access:: webhooks:: api:: server_api:: ups:: generic::
pg_stop
done_section

# The host serves the widget's browser tests (TM_TEST_HOST) as well as the Node tests below.
begin "cargo build -p host-example --release"
cargo build --locked -p host-example --release
done_section

begin "widget tests in headless Chromium (wasm-bindgen-test)"
# wasm-bindgen-test-runner serves the tests on a fixed loopback port so the host can allow
# that origin (CORS with credentials); the host and its mock UPS listen on ephemeral ports.
test_port="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
host_dir="$(mktemp -d "${TMPDIR:-/tmp}/tm-widget-tests.XXXXXX")"
# The portal backend's API key for this host: the tests' session token is minted with it below.
api_key="tmk_$(node -e 'console.log(require("crypto").randomBytes(32).toString("base64url"))')"
TOKEN_MANAGER_API_KEY="$api_key" "$TARGET_DIR/release/host-example" \
  --listen 127.0.0.1:0 --mock-listen 127.0.0.1:0 \
  --db "$host_dir/tm.db" --key-file "$host_dir/key" --static-dir pkg/dist \
  --ready-file "$host_dir/ready.json" --exchange-per-minute 1000 \
  --allowed-origin "http://127.0.0.1:$test_port" --allowed-origin "http://localhost:$test_port" \
  >"$host_dir/host.log" 2>&1 &
host_pid=$!
for _ in $(seq 1 300); do
  [ -s "$host_dir/ready.json" ] && break
  kill -0 "$host_pid" 2>/dev/null || { cat "$host_dir/host.log" >&2; die "host-example exited before it was ready"; }
  sleep 0.1
done
[ -s "$host_dir/ready.json" ] || { cat "$host_dir/host.log" >&2; die "host-example was not ready after 30 s"; }
TM_TEST_HOST="$(node -p 'require(process.argv[1]).host' "$host_dir/ready.json")"
TM_TEST_MOCK="$(node -p 'require(process.argv[1]).mock' "$host_dir/ready.json")"
# A session token for the widget's tests against the real host (admin of both demo companies,
# an hour: the tests read it at compile time with option_env!).
TM_TEST_SESSION_TOKEN="$(node -e '
  const [host, key] = process.argv.slice(1);
  fetch(`${host}/api/v1/sessions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ user: { id: "admin", name: "Ada Admin" }, ttl_secs: 3600,
      companies: [{ id: "demo-co", role: "admin" }, { id: "acme", role: "admin" }] }),
  }).then(async (r) => {
    const body = await r.json();
    if (r.status !== 201) throw new Error(`POST /api/v1/sessions: ${r.status} ${JSON.stringify(body)}`);
    console.log(body.session_token);
  }).catch((e) => { console.error(e.message); process.exit(1); });
' "$TM_TEST_HOST" "$api_key")"
export TM_TEST_SESSION_TOKEN
step "host for the widget tests: $TM_TEST_HOST (mock UPS $TM_TEST_MOCK), tests served on 127.0.0.1:$test_port"
TM_TEST_HOST="$TM_TEST_HOST" TM_TEST_MOCK="$TM_TEST_MOCK" \
  WASM_BINDGEN_TEST_ADDRESS="127.0.0.1:$test_port" \
  CHROMEDRIVER=/usr/bin/chromedriver \
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
  WASM_BINDGEN_TEST_TIMEOUT=120 \
  cargo test --locked -p token-manager-widget --target wasm32-unknown-unknown
cleanup
host_pid=""
host_dir=""
done_section

begin "build the widget package (scripts/build-widget.sh)"
bash scripts/build-widget.sh
done_section

printf '\n======== timings so far ========\n'
printf '%s\n' "${timings[@]}"
printf '%5ss  total before the Node tests\n' "$((SECONDS - started))"

begin "Node tests in headless Chromium (tests/pkg, tests/e2e)"
cd tests
node --test --test-timeout=600000
