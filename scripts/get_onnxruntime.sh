#!/usr/bin/env bash
# scripts/get_onnxruntime.sh -- install ONNX Runtime's CPU build for the
# specs that compare nnlua with it (spec/onnx_spec.lua, tutorials/08_onnx.lua)
# into .onnxruntime/ (ignored by git):
#   bash scripts/get_onnxruntime.sh
# It is the npm package onnxruntime-node@1.30.0 (its CPU binaries are inside
# the package), installed with --ignore-scripts: the package's install script
# only fetches the GPU add-ons, which are not needed and not reachable here.
# Needs node and npm (scripts/setup.sh installs them) and the npm registry.
# Exit status 0 when ONNX Runtime is there afterwards; otherwise 1 and one
# line saying why.  Idempotent: a second run with the package present does
# nothing.  scripts/ort_run.js is the small runner the specs call.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=.onnxruntime
VERSION=1.30.0
if [ -f "$DIR/node_modules/onnxruntime-node/package.json" ] &&
   grep -q "\"version\": \"$VERSION\"" "$DIR/node_modules/onnxruntime-node/package.json"; then
  echo "get_onnxruntime: onnxruntime-node@$VERSION already in $DIR"
  exit 0
fi
for tool in node npm; do
  if ! command -v "$tool" > /dev/null; then
    echo "get_onnxruntime: $tool is not installed (scripts/setup.sh installs it)" >&2
    exit 1
  fi
done
mkdir -p "$DIR"
[ -f "$DIR/package.json" ] || echo '{ "name": "nnlua-onnxruntime", "private": true }' > "$DIR/package.json"
# at most 5 minutes: with no registry in reach npm retries for longer, and
# CI must not wait on it (the specs that need ONNX Runtime then skip)
if ! timeout 300 npm install --prefix "$DIR" --ignore-scripts --no-audit --no-fund \
       "onnxruntime-node@$VERSION" > "$DIR/npm.log" 2>&1; then
  echo "get_onnxruntime: npm install onnxruntime-node@$VERSION failed or took over 5 minutes (see $DIR/npm.log)" >&2
  exit 1
fi
echo "get_onnxruntime: onnxruntime-node@$VERSION installed in $DIR"
