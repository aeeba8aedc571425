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
wasm_opt="pkg/node_modules/.bin/wasm-opt"
esbuild="pkg/node_modules/.bin/esbuild"

want="$(locked_wasm_bindgen_version)"
have="$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)"
[ "$have" = "$want" ] || die "wasm-bindgen CLI ${have:-missing}, Cargo.lock wants $want: run bash scripts/setup.sh"
for tool in "$wasm_opt" "$esbuild"; do
  [ -x "$tool" ] || die "$tool is missing: run bash scripts/setup.sh (npm ci in pkg/)"
done

step "cargo build -p token-manager-widget --profile wasm-release --target wasm32-unknown-unknown"
cargo build -p token-manager-widget --profile wasm-release --target wasm32-unknown-unknown

step "wasm-bindgen --target web → $dist/"
staging="$(mktemp -d "${TMPDIR:-/tmp}/tm-widget.XXXXXX")"
trap 'rm -rf "$staging"' EXIT
wasm-bindgen --target web --out-dir "$staging" --out-name token_manager_widget "$wasm_in"

# Passes: measured on this widget, what shrinks the *brotli* size (what portals download) is
# not `-Oz`: its inlining/outlining remove bytes but also the repetition brotli feeds on
# (-Oz: raw -14 %, brotli +0.6 %). `-O1` plus duplicate-function elimination gives brotli
# -1.4 %. The result is kept only if it is smaller after brotli than wasm-bindgen's output.
# Feature flags: rustc's wasm32 output (its default target CPU) uses bulk memory and saturating
# float-to-int; sign-ext and mutable globals are binaryen defaults, listed to be explicit;
# reference-types is allowed for wasm-bindgen's externref mode. wasm-opt must be told, since the
# `target_features` section it could detect them from is stripped (`strip = true`). multivalue
# is not needed. `--zero-filled-memory` is sound: the module defines its memory, zeroed.
step "wasm-opt -O1 --duplicate-function-elimination"
"$wasm_opt" -O1 --duplicate-function-elimination --zero-filled-memory --strip-debug --strip-producers \
  --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-mutable-globals --enable-reference-types \
  -o "$staging/token_manager_widget_bg.opt.wasm" "$staging/token_manager_widget_bg.wasm"
node - "$staging/token_manager_widget_bg.wasm" "$staging/token_manager_widget_bg.opt.wasm" <<'JS'
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
  console.log(`==> wasm-opt: brotli ${kb(before)} -> ${kb(after)} is larger: keeping wasm-bindgen's output`);
}
JS

# The glue and the wrapper are minified (brotli 11.4 → 8.0 KiB); exports, `import.meta.url` and
# the `new URL("…wasm", import.meta.url)` pattern bundlers look for are kept as written.
step "esbuild --minify: wasm-bindgen glue and pkg/index.js"
minify() {
  "$esbuild" --minify --format=esm --target=es2022 --legal-comments=none --log-level=warning \
    --outfile="$2" "$1"
}
minify "$staging/token_manager_widget.js" "$staging/token_manager_widget.min.js"
mv "$staging/token_manager_widget.min.js" "$staging/token_manager_widget.js"
minify pkg/index.js "$staging/index.js"
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
