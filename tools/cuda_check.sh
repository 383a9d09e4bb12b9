#!/usr/bin/env bash
# Check a prebuilt CUDA heatscope on a machine with an NVIDIA GPU: no Rust toolchain needed, a few
# minutes. Run it from a heatscope checkout (it reads tests/fixtures):
#
#   tools/cuda_check.sh path/to/heatscope [OUT_DIR]
#
# Build the binary where Rust is (any machine; tools/cuda_toolkit.sh makes the toolkit from PyPI):
#   cargo build --release --features cuda
#
# 1. The GPU and the CUDA libraries the binary links (libcuda.so.1 from the driver; libcublas,
#    libcublasLt, libnvrtc 13 and libcurand 10, looked up in Python's nvidia wheels and
#    /usr/local/cuda when the loader does not find them).
# 2. `bench parity`: the VLM fixtures in f32, f16 and bf16 against transformers, the imported-CNN
#    fixtures against PyTorch, the bundled CNN on the GPU against the CPU. Any failure fails the script.
# 3. The speed table: CNN batch 1 and 16 (GPU, then CPU), the VLM's time to first token and decode
#    rate in f32/f16/bf16 (the bundled model, and a random "medium" Qwen2-VL when Python has
#    transformers to make one), the GSD estimator (CPU: gradient-boosted trees, not a candle model).
# Everything printed is also written to OUT_DIR (default cuda-check/) as log.txt.
set -uo pipefail
bin=${1:?usage: tools/cuda_check.sh path/to/heatscope [OUT_DIR]}
out=${2:-cuda-check}
cd "$(dirname "$0")/.."
mkdir -p "$out"
bin=$(realpath "$bin")
exec > >(tee "$out/log.txt") 2>&1

if ldd "$bin" | grep -q "not found"; then
  dirs=$(python3 - <<'EOF' 2>/dev/null
import os
try:
    import nvidia
    for root in nvidia.__path__:
        for sub in sorted(os.listdir(root)):
            lib = os.path.join(root, sub, "lib")
            if os.path.isdir(lib):
                print(lib)
except ImportError:
    pass
EOF
)
  for d in $dirs /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/local/nvidia/lib64; do
    [ -d "$d" ] && LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  done
  export LD_LIBRARY_PATH
fi
if ldd "$bin" | grep "not found"; then
  echo "cuda_check: the libraries above are missing (install CUDA 13's cublas, nvrtc and curand, e.g. pip install nvidia-cublas nvidia-cuda-nvrtc nvidia-curand)"
  exit 1
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || echo "cuda_check: nvidia-smi failed"
echo "binary: $bin ($("$bin" --version 2>/dev/null))"

status=0
echo "== parity"
"$bin" bench parity --fixtures tests/fixtures || status=1

echo "== speed: CNN (GPU, then CPU)"
"$bin" bench cnn --batches 1,16 --runs 50 || status=1
HEATSCOPE_DEVICE=cpu "$bin" bench cnn --batches 1,16 --runs 20 || status=1

echo "== speed: VLM (bundled vlm-spectrum-tiny)"
for dt in f32 f16 bf16; do
  "$bin" bench vlm --model bundled --dtype "$dt" --tokens 64 --runs 5 || status=1
done
if python3 -c "import transformers, torch" 2>/dev/null; then
  if python3 tools/make_vlm_fixtures.py --medium "$out/qwen2vl-medium" > "$out/medium.log" 2>&1; then
    for dt in f32 f16 bf16; do
      "$bin" bench vlm --model "$out/qwen2vl-medium" --dtype "$dt" --tokens 64 --runs 5 || status=1
    done
  else
    echo "cuda_check: no medium model ($(tail -1 "$out/medium.log")); the bundled model's numbers stand alone"
  fi
fi

echo "== speed: GSD estimator (CPU)"
"$bin" bench gsd || status=1

if [ $status -eq 0 ]; then echo "cuda_check: all passed"; else echo "cuda_check: FAILED (see above)"; fi
exit $status
