#!/usr/bin/env bash
# edgeco platforms / platform show / profile: presets, errors naming file and line, modelled costs.
#   tests/hw/platform_cli_test.sh path/to/edgeco
set -uo pipefail
EDGECO=$1
source "$(dirname "$0")/../cli/lib.sh"

"$EDGECO" platforms --json > "$WORK/list.json" || fail "platforms exit code"
$PY -c "
import json; j = json.load(open('$WORK/list.json'))
names = {p['name']: p['devices'] for p in j['platforms']}
assert names['jetson-nano-ethos-u55'] == ['cpu', 'gpu', 'npu'], names
assert {'jetson-nano', 'raspberry-pi-4', 'coral-dev-board'} <= set(names), names
" || fail "platforms list"
"$EDGECO" platform show jetson-nano-ethos-u55 --json > "$WORK/show.json" || fail "platform show exit code"
$PY -c "
import json; j = json.load(open('$WORK/show.json'))
npu = [d for d in j['devices'] if d['name'] == 'npu'][0]
assert list(npu['macs_per_cycle']) == ['int8'], npu
cpu = [d for d in j['devices'] if d['name'] == 'cpu'][0]
assert abs(cpu['max_dynamic_w'] - 1.744 * 1.09**2 * 1479e-3) < 1e-9, cpu
" || fail "platform show"

# Broken files: the error names the file, the line and the field.
printf 'name: x\nstatic_watts: [1, 2\n' > "$WORK/broken.yaml"
expect_error "broken YAML" "broken.yaml:" -- "$EDGECO" platform show "$WORK/broken.yaml"
sed 's/capacitance_nf: 0.083/capacitance_nf: fast/' "$(dirname "$0")/../../platforms/jetson-nano-ethos-u55.yaml" > "$WORK/field.yaml"
expect_error "bad field" "field.yaml:20:21: devices[2](npu).capacitance_nf: expected a number" -- \
  "$EDGECO" platform show "$WORK/field.yaml"
expect_error "unknown preset" "neither a preset" -- "$EDGECO" platform show no-such-board

# Profile of a small int8 model: convolutions can run on every device; the NPU takes int8 only.
"$EDGECO" zoo mobilenet_v2 --in-channels 1 --resolution 28 --classes 10 --width 0.35 --small-input \
  --out "$WORK/m.onnx" > /dev/null && "$EDGECO" quantize "$WORK/m.onnx" --out "$WORK/q.onnx" > /dev/null \
  || fail "model for profile"
"$EDGECO" profile "$WORK/q.onnx" --platform jetson-nano-ethos-u55 --json > "$WORK/p.json" || fail "profile exit code"
"$EDGECO" profile "$WORK/m.onnx" --platform jetson-nano-ethos-u55 --json > "$WORK/pf.json" || fail "float profile exit code"
$PY - "$WORK/p.json" "$WORK/pf.json" <<'PYEOF' || fail "profile figures"
import json, sys
q, f = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert "modelled" in q["what"], q["what"]
convs = [n for n in q["nodes"] if n["class"] in ("dense_conv", "depthwise_conv")]
assert len(convs) == 52 and sum(n["class"] == "depthwise_conv" for n in convs) == 17, len(convs)
for n in convs:
    assert set(n["devices"]) == {"cpu", "gpu", "npu"}, n
    assert n["devices"]["gpu"]["type"] == "fp16" and n["devices"]["npu"]["type"] == "int8", n
assert set(q["convolutions"]) == {"cpu", "gpu", "npu"}
# A float model never runs on the int8-only NPU.
assert all("npu" not in n["devices"] for n in f["nodes"]), "float node on the NPU"
PYEOF
finish
