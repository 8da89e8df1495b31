#!/usr/bin/env bash
# edgeco prune, quantize --precision mixed and compress on a small ResNet-8 (untrained: these check
# the pipeline's structure and numbers it must get right, not accuracy; `make models` trains).
#   tests/compress/compress_cli_test.sh path/to/edgeco
set -uo pipefail
EDGECO=$1
source "$(dirname "$0")/../cli/lib.sh"

"$EDGECO" zoo resnet8 --in-channels 1 --resolution 28 --classes 10 --out "$WORK/r8.onnx" > /dev/null \
  || fail "zoo exit code"

# Pruning 40% of filters: the model is physically smaller and still loads and runs.
"$EDGECO" prune "$WORK/r8.onnx" --ratio 0.4 --out "$WORK/p.onnx" --json > "$WORK/p.json" || fail "prune exit code"
$PY - "$WORK/p.json" <<'PYEOF' || fail "prune report"
import json, sys
j = json.load(open(sys.argv[1]))
cut = 1 - j["filters_after"] / j["filters_before"]
assert 0.3 < cut < 0.45, cut                     # the logits layer is kept whole
assert j["macs_after"] < 0.65 * j["macs_before"], j
assert j["params_after"] < j["params_before"], j
kept = [g for g in j["groups"] if g["kept_because"]]
assert any("graph output" in g["kept_because"] for g in kept), kept
PYEOF
"$EDGECO" run "$WORK/p.onnx" > /dev/null || fail "pruned model runs"
head -c 100 "$WORK/r8.onnx" > "$WORK/truncated.onnx"
expect_error "prune a truncated model" "not a valid ONNX model" -- "$EDGECO" prune "$WORK/truncated.onnx" --out "$WORK/x.onnx"
out=$("$EDGECO" prune "$WORK/r8.onnx" --ratio 1.5 --out "$WORK/x.onnx" 2>&1) && fail "ratio 1.5 accepted"
case "$out" in *"--ratio"*) echo "ok: ratio out of range" ;; *) fail "ratio out of range: $out" ;; esac

# compress on another data set calibrates on that data set, not on Fashion-MNIST: a CIFAR-100
# folder whose pixels stop at byte 127 gives an input scale of about 127/255/255 (Fashion-MNIST's
# would be 1/255), and pruning by HRank reads its images too.
$PY - "$WORK/cifar" <<'PYEOF' || fail "synthetic CIFAR-100"
import os, sys, numpy as np
d = sys.argv[1]
os.makedirs(d)
rng = np.random.default_rng(5)
for split in ("train", "test"):
    records = np.zeros((40, 2 + 3072), np.uint8)
    records[:, 0] = rng.integers(0, 20, 40)
    records[:, 1] = rng.integers(0, 100, 40)
    records[:, 2:] = rng.integers(0, 128, (40, 3072))
    records.tofile(f"{d}/{split}.bin")
PYEOF
"$EDGECO" zoo resnet8 --in-channels 3 --resolution 32 --classes 100 --out "$WORK/c100.onnx" > /dev/null \
  || fail "cifar model"
"$EDGECO" compress "$WORK/c100.onnx" --dataset cifar100 --path "$WORK/cifar" --prune 0.25 --criterion hrank \
  --quantize int8 --finetune-epochs 1 --train-limit 16 --eval-limit 20 --latency-runs 1 --threads 1 \
  --out "$WORK/cc" --json > "$WORK/cc.json" 2> "$WORK/cc.err" \
  || [ ! -x "$(dirname "$EDGECO")/edgeco-train" ] || { cat "$WORK/cc.err"; fail "compress on CIFAR-100"; }
"$EDGECO" quantize "$WORK/c100.onnx" --calibration cifar100 --out "$WORK/x.onnx" > /dev/null 2>&1 \
  && fail "cifar100 calibration without its files accepted"
if [ -f "$WORK/cc/int8.onnx" ]; then
  $PY - "$WORK/cc/int8.onnx" <<'PYEOF' || fail "compress calibrated on CIFAR-100"
import sys, onnx
from onnx import numpy_helper
m = onnx.load(sys.argv[1])
inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
q = next(n for n in m.graph.node if n.op_type == "QuantizeLinear" and n.input[0] == m.graph.input[0].name)
scale = float(inits[q.input[1]])
assert abs(scale - 127 / 255 / 255) < 0.02 * 127 / 255 / 255, scale
PYEOF
  echo "ok: compress calibrates on its data set"
fi

if [ -x "$(dirname "$EDGECO")/edgeco-train" ]; then
  # The whole pipeline: prune, fine-tune (a few steps), quantize; one table row per variant.
  "$EDGECO" compress "$WORK/r8.onnx" --prune 0.4 --quantize int8 --finetune-epochs 1 \
    --train-limit 256 --eval-limit 200 --latency-runs 3 --out "$WORK/c" --json > "$WORK/c.json" \
    || fail "compress exit code"
  $PY - "$WORK/c.json" "$WORK/c" <<'PYEOF' || fail "compress report"
import json, os, sys
j, d = json.load(open(sys.argv[1])), sys.argv[2]
v = {r["variant"]: r for r in j["variants"]}
assert list(v) == ["base", "pruned", "pruned.ft", "int8"], list(v)
assert v["pruned"]["macs"] < 0.65 * v["base"]["macs"], v
assert v["pruned.ft"]["params"] == v["pruned"]["params"]
assert v["int8"]["bytes"] < 0.5 * v["pruned.ft"]["bytes"], v   # int8 weights
for r in v.values():
    assert 0 <= r["top1"] <= 1 and r["test_samples"] == 200 and r["latency_ms"] > 0, r
    assert os.path.exists(r["file"]), r
md = open(os.path.join(d, "report.md")).read()
assert all("| %s |" % name in md for name in v), md
assert open(os.path.join(d, "pruned.ft.onnx"), "rb").read() != open(os.path.join(d, "pruned.onnx"), "rb").read()
PYEOF
  echo "ok: compress pipeline"
fi
finish
