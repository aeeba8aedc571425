#!/usr/bin/env bash
# Build the npm package's browser files into pkg/dist/ (git-ignored), the folder the host serves
# at /assets/token-manager/ and `npm pack` (in pkg/) packs:
#   token_manager_widget_bg.wasm  the widget, release build, wasm-bindgen, wasm-opt
#   token_manager_widget.js/.d.ts wasm-bindgen's ES module glue (--target web), minified
#   index.js / index.d.ts         the hand-written wrapper (<token-manager>, mountTokenManager),
#                                 pkg/index.js minified, pkg/index.d.ts as written
#   openapi.json                  the widget ↔ host contract (host-example/openapi.json)
# Needs the tools of scripts/setup.sh (wasm32 target, wasm-bindgen CLI, pkg/node_modules).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

dist="pkg/dist"
wasm_in="$TARGET_DIR/wasm32-unknown-unknown/wasm-release/token_manager_widget.wasm"

want="$(locked_wasm_bindgen_version)"
have="$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)"
[ "$have" = "$want" ] || die "wasm-bindgen CLI ${have:-missing}, Cargo.lock wants $want: run bash scripts/setup.sh"
for tool in pkg/node_modules/.bin/wasm-opt pkg/node_modules/.bin/esbuild; do
  [ -x "$tool" ] || die "$tool is missing: run bash scripts/setup.sh (npm ci in pkg/)"
done

step "cargo build --locked -p token-manager-widget --profile wasm-release --target wasm32-unknown-unknown"
cargo build --locked -p token-manager-widget --profile wasm-release --target wasm32-unknown-unknown

step "wasm-bindgen --target web → $dist/"
staging="$(mktemp -d "${TMPDIR:-/tmp}/tm-widget.XXXXXX")"
trap 'rm -rf "$staging"' EXIT
wasm-bindgen --target web --out-dir "$staging" --out-name token_manager_widget "$wasm_in"

step "wasm-opt -O1 --duplicate-function-elimination (kept if smaller after brotli)"
optimize_wasm "$staging/token_manager_widget_bg.wasm"

# The glue and the wrapper are minified (brotli 11.4 → 8.0 KiB).
step "esbuild --minify: wasm-bindgen glue and pkg/index.js"
minify_js "$staging/token_manager_widget.js" "$staging/token_manager_widget.min.js"
mv "$staging/token_manager_widget.min.js" "$staging/token_manager_widget.js"
minify_js pkg/index.js "$staging/index.js"
cp pkg/index.d.ts "$staging/"

step "assemble $dist/ (wasm, glue, index.js, .d.ts files)"
rm -rf "$dist"
mkdir -p "$dist"
cp "$staging"/token_manager_widget.js "$staging"/token_manager_widget.d.ts \
  "$staging"/token_manager_widget_bg.wasm "$staging"/token_manager_widget_bg.wasm.d.ts \
  "$staging"/index.js "$staging"/index.d.ts "$dist/"
# The host contract, for portal teams implementing their own host (pkg/README "Host contract").
cp host-example/openapi.json "$dist/"

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
