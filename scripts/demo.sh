#!/usr/bin/env bash
# The main job, for now: export a real CNN (torchvision MobileNetV2) with PyTorch, show what edgeco
# sees in it, run it, check the outputs against PyTorch and ONNX Runtime, time it against ONNX
# Runtime, and quantize it.
set -euo pipefail
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
EDGECO=$ROOT/$BUILD/edgeco
WORK=$ROOT/out/demo
mkdir -p "$WORK"

echo "== export: torchvision mobilenet_v2 (random seeded weights) with PyTorch, opset 13, dynamic batch"
/usr/bin/python3 "$ROOT/tests/models/export_torchvision.py" --out "$WORK" --dynamic-batch mobilenet_v2 2>&1 | grep -v Warning || true

echo
echo "== edgeco info (counts are computed from the graph)"
"$EDGECO" info "$WORK/mobilenet_v2.onnx" | sed -n '1,3p;/^ops/,$p'

echo
echo "== edgeco run (measured on this machine)"
"$EDGECO" run "$WORK/mobilenet_v2.onnx" --input input="$WORK/mobilenet_v2.input.npy" --output-dir "$WORK/edgeco" --threads 2

echo
echo "== outputs against PyTorch and ONNX Runtime, and edgeco's re-exported model in ONNX Runtime"
/usr/bin/python3 "$ROOT/tests/models/check_models.py" --edgeco "$EDGECO" --work "$WORK/check" --dynamic-batch mobilenet_v2

echo
echo "== speed (measured): edgeco's optimised graph on the fast kernels against ONNX Runtime, 1 thread,"
echo "   FP32 and the INT8 QDQ model \`edgeco quantize --calibration random\` writes (int8 kernels in edgeco)"
/usr/bin/python3 "$ROOT/bench/compare_ort.py" --edgeco "$EDGECO" --work "$WORK" --threads 1 --iters 20 --rounds 2 \
  --int8 --markdown "$WORK/mobilenet_v2.onnx"

echo
echo "== the INT8 graph as edgeco runs it (integer nodes, their kernels) and its session memory"
"$EDGECO" info --optimized "$WORK/mobilenet_v2.int8.onnx" | sed -n '/^kernels/p;/^ops/p'
"$EDGECO" bench "$WORK/mobilenet_v2.int8.onnx" --input input="$WORK/mobilenet_v2.input.npy" --iters 20 | head -n 2
