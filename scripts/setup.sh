#!/usr/bin/env bash
# Install what the demo and the tests need, idempotently: on a fresh Debian machine with Rust
# (rustup), Node 20+/npm and apt, as root (sudo is used otherwise). Each step prints one line:
# what it did, or that there was nothing to do.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

command -v cargo >/dev/null || die "cargo not found: install Rust with rustup (https://rustup.rs)"
command -v rustup >/dev/null || die "rustup not found: the wasm32 target and components are installed with it"
command -v node >/dev/null || die "node not found: install Node.js 20 or newer"
command -v npm >/dev/null || die "npm not found: install npm (comes with Node.js)"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge 20 ] || die "Node.js $(node --version) is too old: 20 or newer is needed"

# --- Rust: wasm32 target, rustfmt and clippy -----------------------------------------------
if rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  step "rust target wasm32-unknown-unknown: present"
else
  step "rust target wasm32-unknown-unknown: installing"
  rustup target add wasm32-unknown-unknown
fi
missing_components=()
for component in rustfmt clippy; do
  rustup component list --installed | grep -q "^$component" || missing_components+=("$component")
done
if [ "${#missing_components[@]}" -eq 0 ]; then
  step "rust components rustfmt, clippy: present"
else
  step "rust components ${missing_components[*]}: installing"
  rustup component add "${missing_components[@]}"
fi

# --- wasm-bindgen CLI at exactly the Cargo.lock version -------------------------------------
wbg_version="$(locked_wasm_bindgen_version)"
[ -n "$wbg_version" ] || die "no wasm-bindgen package in Cargo.lock"
have_wbg="$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)"
have_runner="$(wasm-bindgen-test-runner --version 2>/dev/null | awk '{print $2}' || true)"
if [ "$have_wbg" = "$wbg_version" ] && [ "$have_runner" = "$wbg_version" ]; then
  step "wasm-bindgen CLI $wbg_version: present"
else
  step "wasm-bindgen CLI $wbg_version: installing (found '${have_wbg:-none}'; cargo install takes a few minutes)"
  cargo install wasm-bindgen-cli --version "$wbg_version" --force
fi

# --- Debian packages: Chromium, chromedriver, brotli, PostgreSQL -----------------------------
# postgresql: the PostgreSQL store's tests start a throw-away cluster with its initdb/pg_ctl
# (/usr/lib/postgresql/*/bin); no server of the package's own is needed.
apt_missing=()
for package in chromium chromium-driver brotli postgresql; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || apt_missing+=("$package")
done
if [ "${#apt_missing[@]}" -eq 0 ]; then
  step "apt packages chromium, chromium-driver, brotli, postgresql: present"
else
  if ! apt-cache show "${apt_missing[@]}" >/dev/null 2>&1; then
    step "apt package lists: updating (needed to find ${apt_missing[*]})"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  fi
  step "apt packages ${apt_missing[*]}: installing"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_missing[@]}"
fi

# --- npm packages of pkg/ (binaryen's wasm-opt, typescript) and tests/ ----------------------
# `npm ci` when node_modules is missing or was installed from another lock file.
npm_install() {
  local dir="$1"
  [ -f "$dir/package-lock.json" ] || { step "npm $dir/: no package-lock.json, skipped"; return; }
  local want stamp="$dir/node_modules/.token-manager-lock.sha256"
  want="$(cat "$dir/package.json" "$dir/package-lock.json" | sha256sum | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    step "npm packages of $dir/: up to date"
  else
    step "npm packages of $dir/: npm ci"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    printf '%s\n' "$want" >"$stamp"
  fi
}
npm_install pkg
npm_install tests
