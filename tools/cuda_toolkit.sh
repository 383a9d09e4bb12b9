#!/usr/bin/env bash
# Assemble a CUDA 13.0 toolkit from PyPI's NVIDIA wheels, so `cargo build --features cuda` builds on a
# machine without CUDA and without a GPU (Debian has no toolkit here). The GPU machines we check on
# run driver 580 (CUDA 13.0), and cudarc 0.19 knows CUDA up to 13.4, so the wheels are pinned to 13.0.
#
#   tools/cuda_toolkit.sh DIR            # once (about 1.2 GB); prints the variables to export
#   export CUDA_HOME=DIR/toolkit PATH=DIR/toolkit/bin:$PATH CUDA_COMPUTE_CAP=90
#   cargo build --release --features cuda
#
# DIR/toolkit gets bin/ (nvcc, ptxas ...), include/, nvvm/ and lib64/ with the unversioned names the
# linker looks for. The wheels have no libcuda.so (it comes with the driver), so lib64/libcuda.so is a
# stub: every driver function cudarc declares, as an empty symbol, with the driver's soname
# libcuda.so.1. It only satisfies the linker (the CUDA toolkit ships the same kind of stub in
# lib64/stubs); at run time the driver's own libcuda.so.1 is loaded.
set -euo pipefail
dir=${1:?usage: tools/cuda_toolkit.sh DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
cd "$(dirname "$0")/.."

py=${PYTHON:-python3}
if [ ! -x "$dir/venv/bin/pip" ]; then
  "$py" -m venv "$dir/venv"
fi
"$dir/venv/bin/pip" install -q --disable-pip-version-check \
  "nvidia-cuda-nvcc==13.0.*" "nvidia-cuda-crt==13.0.*" "nvidia-nvvm==13.0.*" "nvidia-cuda-cccl==13.0.*" "nvidia-cuda-runtime==13.0.*" \
  "nvidia-cuda-nvrtc==13.0.*" "nvidia-cublas==13.0.*" "nvidia-curand==10.4.*"
cu=$("$dir/venv/bin/python" -c 'import nvidia, os; print(os.path.join(list(nvidia.__path__)[0], "cu13"))')
[ -x "$cu/bin/nvcc" ] || { echo "no nvcc in $cu/bin: the nvidia-cuda-nvcc wheel changed its layout" >&2; exit 1; }

tk="$dir/toolkit"
rm -rf "$tk"
mkdir -p "$tk/lib64"
ln -s "$cu/bin" "$tk/bin"
ln -s "$cu/include" "$tk/include"
ln -s "$cu/nvvm" "$tk/nvvm"
for f in "$cu"/lib/*.so.*; do
  base=$(basename "$f")
  ln -sf "$f" "$tk/lib64/$base"
  ln -sf "$f" "$tk/lib64/${base%%.so.*}.so"
done

# The driver stub: the names come from cudarc's own bindings (the crate candle builds on).
cargo fetch -q
cudarc=$(cargo metadata --format-version 1 --features cuda 2>/dev/null | "$py" -c '
import json, sys, os
m = json.load(sys.stdin)
print(next(os.path.dirname(p["manifest_path"]) for p in m["packages"] if p["name"] == "cudarc"))')
grep -ohE '^pub unsafe fn cu[A-Za-z0-9_]+' "$cudarc/src/driver/sys/mod.rs" | sed 's/^pub unsafe fn //' | sort -u \
  | awk '{ printf "int %s(void) { return 999; }\n", $1 }' > "$tk/lib64/libcuda_stub.c"
cc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$tk/lib64/libcuda.so" "$tk/lib64/libcuda_stub.c"
echo "CUDA $("$tk/bin/nvcc" --version | grep -o 'release [0-9.]*') in $tk ($(wc -l < "$tk/lib64/libcuda_stub.c") driver symbols stubbed)"
echo "export CUDA_HOME=$tk PATH=$tk/bin:\$PATH CUDA_COMPUTE_CAP=\${CUDA_COMPUTE_CAP:-90}"
