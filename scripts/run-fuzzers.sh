#!/usr/bin/env bash
# Runs each libFuzzer target for a while from a seed corpus of real files.
#   scripts/run-fuzzers.sh BUILD_DIR SECONDS
set -euo pipefail
BUILD=$1
SECONDS_EACH=${2:-30}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CORPUS=$ROOT/$BUILD/corpus
mkdir -p "$CORPUS/onnx" "$CORPUS/npy" "$CORPUS/idx" "$CORPUS/platform" "$CORPUS/plan" "$CORPUS/dataset" \
         "$CORPUS/sysfs" "$CORPUS/scenario" "$CORPUS/infer"
# Seeds: a few small models and tensors from the ONNX suite, and .npy files of several types.
for t in test_conv_with_strides_padding test_maxpool_2d_pads test_gemm_all_attributes test_resize_upsample_scales_linear \
         test_qlinearconv test_slice_neg_steps test_split_equal_parts_1d test_batchnorm_example; do
  cp /usr/share/libonnx-testdata/data/node/$t/model.onnx "$CORPUS/onnx/$t.onnx" 2>/dev/null || true
done
/usr/bin/python3 - "$CORPUS/npy" <<'PY'
import sys, numpy as np
for i, dtype in enumerate([np.float32, np.float16, np.int8, np.uint8, np.int64, np.bool_]):
    np.save(f"{sys.argv[1]}/seed{i}.npy", (np.arange(12) % 3).astype(dtype).reshape(3, 4))
np.save(f"{sys.argv[1]}/scalar.npy", np.float64(1.5))
PY
# IDX seeds: Fashion-MNIST's real test labels, and a small image file in the same format.
zcat /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz > "$CORPUS/idx/labels.idx1" 2>/dev/null || true
printf '\x00\x00\x08\x03\x00\x00\x00\x02\x00\x00\x00\x03\x00\x00\x00\x02abcdefghijkl' > "$CORPUS/idx/images.idx3"
# Platform seeds: the presets.
cp "$ROOT"/platforms/*.yaml "$CORPUS/platform/"
# Plan seeds: plans for the fuzz target's two-node model (mm, relu) in each numeric type.
for type in fp32 fp16 int8; do
  printf '{"platform": "p", "objective": "energy", "strategy": "exact", "fused": true, "nodes": [
  {"name": "mm", "op": "MatMul", "device": "gpu", "type": "%s", "opp_mhz": 921.6, "macs": 12, "bytes_read": 64, "bytes_written": 12, "latency_ms": 0.02, "energy_mj": 0.1},
  {"name": "relu", "op": "Relu", "device": "cpu", "type": "fp32", "opp_mhz": 1479, "macs": 3, "bytes_read": 12, "bytes_written": 12, "latency_ms": 0.01, "energy_mj": 0.05, "transfer_ms": 0.001}],
  "totals": {"latency_ms": 0.03, "energy_mj": 0.15}}' "$type" > "$CORPUS/plan/$type.json"
done
# Data-set seeds: two CIFAR-100 records (first byte even), and a two-window UCI HAR split (odd; the
# label file and nine signal files separated by form feeds).
/usr/bin/python3 - "$CORPUS/dataset" <<'PY'
import sys
out = sys.argv[1]
records = bytes([3, 42]) + bytes(range(256)) * 12 + bytes([19, 99]) + bytes(3072)
open(f"{out}/cifar.seed", "wb").write(b"\x00" + records)
window = " ".join(f"{0.01 * k:.4f}" for k in range(128))
har = "1\n6\n" + "".join("\f" + window + "\n" + window + "\n" for _ in range(9))
open(f"{out}/har.seed", "wb").write(b"\x01" + har.encode())
PY
# sysfs seeds: every file of the fake board trees (numbers, frequency tables, /proc/stat).
i=0
find "$ROOT/tests/power/trees" -type f | sort | while read -r f; do i=$((i + 1)); cp "$f" "$CORPUS/sysfs/seed$i"; done
# Scenario seeds: the presets and an arrival trace.
cp "$ROOT"/scenarios/*.yaml "$CORPUS/scenario/"
printf 'camera,time_s\nA,0.5\nB,1.25\nA,1.5\n' > "$CORPUS/scenario/trace.csv"
# Inference request seeds: a REST body and a gRPC request (raw and typed contents), encoded by protoc.
printf '{"id":"1","inputs":[{"name":"input","shape":[1,2],"datatype":"FP32","data":[[0.5,1]]}],"outputs":[{"name":"y"}]}' \
  > "$CORPUS/infer/rest.json"
for text in 'model_name: "m" inputs { name: "x" datatype: "FP32" shape: 2 } raw_input_contents: "\000\000\200?\000\000\000@"' \
            'model_name: "m" inputs { name: "x" datatype: "INT64" shape: 1 shape: 2 contents { int64_contents: 3 int64_contents: 4 } }'; do
  i=$((${i:-0} + 1))
  echo "$text" | protoc --proto_path="$ROOT/src/offload/proto" --encode=inference.ModelInferRequest \
    open_inference_grpc.proto > "$CORPUS/infer/grpc$i.bin"
done
status=0
for target in onnx_loader npy_reader idx_reader platform_yaml plan dataset_reader sysfs scenario infer_request; do
  dir=$CORPUS/${target%%_*}
  echo "fuzzing $target for ${SECONDS_EACH}s"
  if ! "$ROOT/$BUILD/fuzz_$target" -max_total_time="$SECONDS_EACH" -max_len=65536 -rss_limit_mb=2048 -timeout=25 \
       -artifact_prefix="$ROOT/$BUILD/crash-$target-" "$dir" 2> "$ROOT/$BUILD/fuzz_$target.log"; then
    echo "fuzz_$target found a failure:"; tail -n 40 "$ROOT/$BUILD/fuzz_$target.log"; status=1
  else
    grep -E "^Done|#[0-9]+.*DONE" "$ROOT/$BUILD/fuzz_$target.log" | tail -n 1
  fi
done
exit $status
