#!/usr/bin/env bash
# Build the npm package's browser files into pkg/dist/ (git-ignored), the folder the host serves
# at /assets/token-manager/ and `npm pack` (in pkg/) packs:
#   token_manager_widget_bg.wasm  the widget, release build, wasm-bindgen, wasm-opt -Oz
#   token_manager_widget.js/.d.ts wasm-bindgen's ES module glue (--target web)
#   index.js / index.d.ts         the hand-written wrapper (<token-manager>, mountTokenManager)
# Needs the tools of scripts/setup.sh (wasm32 target, wasm-bindgen CLI, pkg/node_modules).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

dist="pkg/dist"
wasm_in="$TARGET_DIR/wasm32-unknown-unknown/release/token_manager_widget.wasm"
wasm_opt="pkg/node_modules/.bin/wasm-opt"

want="$(locked_wasm_bindgen_version)"
have="$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)"
[ "$have" = "$want" ] || die "wasm-bindgen CLI ${have:-missing}, Cargo.lock wants $want: run bash scripts/setup.sh"
[ -x "$wasm_opt" ] || die "$wasm_opt is missing: run bash scripts/setup.sh (npm ci in pkg/)"

step "cargo build -p token-manager-widget --release --target wasm32-unknown-unknown"
cargo build -p token-manager-widget --release --target wasm32-unknown-unknown

step "wasm-bindgen --target web → $dist/"
staging="$(mktemp -d "${TMPDIR:-/tmp}/tm-widget.XXXXXX")"
trap 'rm -rf "$staging"' EXIT
wasm-bindgen --target web --out-dir "$staging" --out-name token_manager_widget "$wasm_in"

# Feature flags: rustc's wasm32 output (its default target CPU) uses bulk memory and saturating
# float-to-int; sign-ext and mutable globals are binaryen defaults, listed to be explicit;
# reference-types is allowed for wasm-bindgen's externref mode. wasm-opt must be told, since the
# `target_features` section it could detect them from is stripped (`strip = true`). multivalue
# is not needed and makes the output bigger. `--zero-filled-memory` is sound: the module
# defines its memory, which starts zeroed. (`--converge` saved < 0.5 KB brotli for +20 s.)
step "wasm-opt -Oz"
"$wasm_opt" -Oz --zero-filled-memory --strip-debug --strip-producers \
  --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-mutable-globals --enable-reference-types \
  -o "$staging/token_manager_widget_bg.opt.wasm" "$staging/token_manager_widget_bg.wasm"
mv "$staging/token_manager_widget_bg.opt.wasm" "$staging/token_manager_widget_bg.wasm"

step "assemble $dist/ (glue, wasm, pkg/index.js, pkg/index.d.ts)"
cp pkg/index.js pkg/index.d.ts "$staging/"
rm -rf "$dist"
mkdir -p "$dist"
cp "$staging"/token_manager_widget.js "$staging"/token_manager_widget.d.ts \
  "$staging"/token_manager_widget_bg.wasm "$staging"/token_manager_widget_bg.wasm.d.ts \
  "$staging"/index.js "$staging"/index.d.ts "$dist/"

node --input-type=module -e '
  import { readFileSync } from "node:fs";
  import { brotliCompressSync, constants } from "node:zlib";
  const files = ["token_manager_widget_bg.wasm", "token_manager_widget.js", "index.js"];
  let raw = 0, br = 0;
  for (const f of files) {
    const bytes = readFileSync(`pkg/dist/${f}`);
    raw += bytes.length;
    br += brotliCompressSync(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length;
  }
  console.log(`==> pkg/dist/ ready: wasm + JS ${(raw / 1024).toFixed(1)} KiB, brotli ${(br / 1024).toFixed(1)} KiB`);
'
