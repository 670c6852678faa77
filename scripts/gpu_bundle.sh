#!/bin/bash
# scripts/gpu_bundle.sh -- pack what a GPU machine without Lua needs to run
# nnlua's specs and benchmarks there.
#
# The GPU machines lent to this project (the `device` tool) have the CUDA
# toolkit, cuBLAS and PyTorch, but no Lua, no OpenBLAS, no busted and no
# network.  This builds ./nnlua here (with the CUDA backend: nvcc is here),
# and packs into .gpu/bundle.tar.xz (ignored by git):
#   nnlua                    the program, at the repository root as here
#   .gpu/lib/                the shared libraries it links, except glibc's
#   .gpu/lua/share, lua/lib  busted and its modules (the spec runner)
#   data/fashion-mnist/      the dataset, for the benchmarks and the main job
#   .gpu/env.sh              LD_LIBRARY_PATH, LUA_PATH, LUA_CPATH for those
# On the GPU machine, from the repository root (carry .gpu):
#   tar xJf .gpu/bundle.tar.xz && . .gpu/env.sh && ./nnlua spec/run.lua spec
#   . .gpu/env.sh && scripts/bench --device cuda      (PyTorch CUDA is there)
# Usage: bash scripts/gpu_bundle.sh   (after scripts/setup.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

make -j"$(nproc)" nnlua
bash scripts/prepare_data.sh fashion-mnist

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/.gpu/lib" "$stage/.gpu/lua/share" "$stage/.gpu/lua/lib" "$stage/data"

cp nnlua "$stage/"
# every library nnlua links but glibc's own (the GPU machine has a newer
# glibc, which runs programs built against Debian 12's)
ldd nnlua | awk '$3 ~ /^\// { print $3 }' | while read -r lib; do
  case "$(basename "$lib")" in
    libc.so*|libm.so*|libpthread.so*|libdl.so*|librt.so*|ld-linux*) ;;
    *) cp -L "$lib" "$stage/.gpu/lib/" ;;
  esac
done
# busted and what it requires (Debian's lua-* packages; -L: they are symlinks)
cp -rL /usr/share/lua/5.4/. "$stage/.gpu/lua/share/"
cp -rL /usr/lib/x86_64-linux-gnu/lua/5.4/. "$stage/.gpu/lua/lib/"
cp -r data/fashion-mnist "$stage/data/"

cat > "$stage/.gpu/env.sh" <<'EOF'
# . .gpu/env.sh -- from the repository root, after unpacking .gpu/bundle.tar.xz
here=$(pwd)/.gpu
export LD_LIBRARY_PATH="$here/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export LUA_PATH="$here/lua/share/?.lua;$here/lua/share/?/init.lua;;"
export LUA_CPATH="$here/lua/lib/?.so;;"
# cuBLAS: nnlua opens libcublas.so.13 through its rpath, /usr/local/cuda/lib64;
# else the copy in PyTorch's pip packages
if [ ! -e /usr/local/cuda/lib64/libcublas.so.13 ]; then
  d=$(python3 -c 'import nvidia.cublas, os; print(os.path.dirname(nvidia.cublas.__file__))' 2>/dev/null || true)
  [ -n "$d" ] && export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$d/lib"
fi
EOF

mkdir -p .gpu
tar -C "$stage" -cJf .gpu/bundle.tar.xz nnlua .gpu data
ls -la .gpu/bundle.tar.xz
