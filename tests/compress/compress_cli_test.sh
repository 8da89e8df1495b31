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
