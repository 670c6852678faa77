#!/usr/bin/env bash
# scripts/setup.sh -- install the Debian 12 packages that nnlua's build, specs
# and demo need.  Run as root on a fresh machine:   bash scripts/setup.sh
# Idempotent and fast: when every package is already installed it only checks
# (dpkg-query) and touches nothing; otherwise it runs apt-get update + install
# for the missing ones.  As a normal user it works only when nothing is missing.
set -euo pipefail

# One package per line.  Another helper may append packages at the end.
PKGS=(
  # build: C compiler, make, and pkg-config to find the libraries below
  build-essential pkg-config
  # Lua 5.4: headers + library for the embedded VM; the lua5.4 interpreter
  liblua5.4-dev lua5.4
  # specs: busted (pulls in luassert, penlight, lua-term, lua-system)
  lua-busted
  # tensors on the CPU: OpenBLAS (cblas_sgemm), its OpenMP build (Makefile)
  libopenblas-openmp-dev
  # REPL: line editing and history
  libedit-dev
  # datasets: gzip'd IDX files (zlib), and Fashion-MNIST itself for the demo
  zlib1g-dev dataset-fashion-mnist
  # checkpoints: safetensors' JSON header (jansson); predict.lua reads PNG
  libjansson-dev libpng-dev
  # make fuzz: clang with libFuzzer and the sanitizer runtimes
  clang libclang-rt-14-dev
  # nn.plot(history, 'loss.png'): gnuplot without X (its pngcairo terminal)
  gnuplot-nox
  # ONNX (io/onnx.c): onnx.proto, protoc-c to generate its C code at build
  # time, libprotobuf-c; ONNX's checker (python3-onnx) and its backend node
  # tests (libonnx-testdata) for the specs and `make onnx-conformance`;
  # node (and npm, below) for scripts/get_onnxruntime.sh (ONNX Runtime, from npm)
  libonnx-dev protobuf-c-compiler libprotobuf-c-dev libonnx-testdata python3-onnx
  nodejs
  # nn.autograd.dot(y, 'g.dot'): render the tape with dot -Tpng
  graphviz
)
# npm: Debian's package, unless an npm is already on PATH (NodeSource's
# nodejs bundles its own, and Debian's npm would conflict with it)
command -v npm > /dev/null 2>&1 || PKGS+=(npm)

missing=()
for pkg in "${PKGS[@]}"; do
  # "install ok installed" (a multi-arch package may print it once per arch)
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  case "$status" in
    *"install ok installed"*) ;;
    *) missing+=("$pkg") ;;
  esac
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PKGS[@]} packages already installed"
  exit 0
fi

echo "setup: missing packages: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "setup: installing them needs root; run:  sudo bash scripts/setup.sh" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "setup: apt-get update"
apt-get update
echo "setup: apt-get install -y --no-install-recommends ${missing[*]}"
apt-get install -y --no-install-recommends "${missing[@]}"
echo "setup: done"
