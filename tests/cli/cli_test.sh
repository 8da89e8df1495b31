#!/usr/bin/env bash
# The edgeco command line on good and bad input: exit codes, messages, outputs.
#   tests/cli/cli_test.sh path/to/edgeco
set -uo pipefail
EDGECO=$1
DATA=/usr/share/libonnx-testdata/data/node
source "$(dirname "$0")/lib.sh"

# --help explains every subcommand.
help=$("$EDGECO" --help) || fail "--help exit code"
for sub in info run conformance convert; do
  case "$help" in *"$sub"*) ;; *) fail "--help does not mention $sub" ;; esac
done

# A conv with its weights as an initializer (the suite's models take W as an input): 3x3, stride 2,
# pad 1, on 7x5 -> output 4x3, 12 x 9 = 108 MACs. Expected outputs come from the suite.
SUITE=$DATA/test_conv_with_strides_padding
CONV=$WORK/conv
mkdir -p "$CONV/test_data_set_0"
cp "$SUITE/test_data_set_0/input_0.pb" "$SUITE/test_data_set_0/output_0.pb" "$CONV/test_data_set_0/"
$PY - "$SUITE" "$CONV/model.onnx" <<'PYEOF'
import sys, onnx
from onnx import numpy_helper
m = onnx.load(sys.argv[1] + "/model.onnx")
w = onnx.TensorProto(); w.ParseFromString(open(sys.argv[1] + "/test_data_set_0/input_1.pb", "rb").read())
w.name = "W"
m.graph.initializer.append(w)
del m.graph.input[1]
onnx.save(m, sys.argv[2])
PYEOF
"$EDGECO" info "$CONV/model.onnx" --json > "$WORK/info.json" || fail "info --json exit code"
$PY - "$WORK/info.json" <<'PYEOF' || fail "info --json values"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["macs"] == 108, j["macs"]
assert j["params"] == 9, j["params"]
assert j["op_histogram"] == {"Conv": 1}, j["op_histogram"]
assert j["nodes"][0]["output_types"][0]["shape"] == [1, 1, 4, 3]
PYEOF
echo "ok: info --json"

# info --optimized: the graph as run, each node naming its kernel; MACs survive the rewrites.
"$EDGECO" info "$CONV/model.onnx" --optimized --json > "$WORK/info_opt.json" || fail "info --optimized exit code"
$PY - "$WORK/info_opt.json" <<'PYEOF' || fail "info --optimized values"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["optimized"] is True and j["macs"] == 108, j["macs"]
kernels = {n["op"]: n["kernel"] for n in j["nodes"]}
assert kernels.get("FusedConv") == "onednn", kernels
assert any(line.startswith("channels-last") for line in j["passes"]), j["passes"]
PYEOF
echo "ok: info --optimized"

# run with a .pb input writes the expected output as .npy.
"$EDGECO" run "$CONV/model.onnx" --input x="$CONV/test_data_set_0/input_0.pb" --output-dir "$WORK/out" > "$WORK/run.txt" \
  || fail "run exit code"
$PY - "$WORK/out/y.npy" "$CONV/test_data_set_0/output_0.pb" <<'PYEOF' || fail "run output differs from the expected"
import sys, numpy as np, onnx
from onnx import numpy_helper
t = onnx.TensorProto(); t.ParseFromString(open(sys.argv[2], "rb").read())
np.testing.assert_allclose(np.load(sys.argv[1]), numpy_helper.to_array(t), rtol=1e-6)
PYEOF
echo "ok: run --input .pb --output-dir"

# The same input as .npy, and deterministic random inputs.
$PY -c "
import numpy as np, onnx, sys
from onnx import numpy_helper
t = onnx.TensorProto(); t.ParseFromString(open('$CONV/test_data_set_0/input_0.pb', 'rb').read())
np.save('$WORK/x.npy', numpy_helper.to_array(t))"
"$EDGECO" run "$CONV/model.onnx" --input x="$WORK/x.npy" --output-dir "$WORK/out2" >/dev/null || fail "run with .npy"
cmp -s "$WORK/out/y.npy" "$WORK/out2/y.npy" || fail ".npy and .pb inputs give different outputs"
"$EDGECO" run "$CONV/model.onnx" --json > "$WORK/r1.json" && "$EDGECO" run "$CONV/model.onnx" --json > "$WORK/r2.json" \
  || fail "run with random inputs"
$PY -c "
import json; a, b = (json.load(open('$WORK/r%d.json' % i)) for i in (1, 2))
assert a['outputs'][0]['mean'] == b['outputs'][0]['mean'], 'random inputs are not deterministic'
assert a['random_inputs'] == ['x']" || fail "random inputs"
echo "ok: run --input .npy and random inputs"

# Bad input: clean errors with non-zero exit, never a crash.
head -c 100 "$CONV/model.onnx" > "$WORK/truncated.onnx"
expect_error "truncated model" "not a valid ONNX model" -- "$EDGECO" info "$WORK/truncated.onnx"
head -c 4096 /dev/urandom > "$WORK/random.onnx"
expect_error "random bytes as a model" "truncated.onnx" -- "$EDGECO" run "$WORK/truncated.onnx"
"$EDGECO" run "$WORK/random.onnx" >/dev/null 2>&1; rc=$?
[ "$rc" -eq 1 ] && echo "ok: random bytes" || fail "random bytes: exit code $rc"
# A model with an operator no registry will have, as a test folder the conformance runner can read.
UNSUP=$WORK/test_unsupported_op
mkdir -p "$UNSUP/test_data_set_0"
$PY - "$UNSUP" <<'PYEOF'
import sys, numpy as np
from onnx import helper, numpy_helper, TensorProto, save
node = helper.make_node("NoSuchOp", ["x"], ["y"], name="mystery", domain="com.example")
g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("com.example", 1)]),
     sys.argv[1] + "/model.onnx")
for name, i in (("input_0", "x"), ("output_0", "y")):
    open(f"{sys.argv[1]}/test_data_set_0/{name}.pb", "wb").write(
        numpy_helper.from_array(np.ones(2, np.float32), i).SerializeToString())
PYEOF
expect_error "unsupported op names op and node" "node 'mystery' (NoSuchOp): operator 'com.example.NoSuchOp' is not supported" -- \
  "$EDGECO" run "$UNSUP/model.onnx"
$PY -c "import numpy as np; np.save('$WORK/wrong.npy', np.zeros((1, 1, 5, 5), np.float32))"
expect_error "wrong input shape" "the model expects [1, 1, 7, 5]" -- \
  "$EDGECO" run "$CONV/model.onnx" --input x="$WORK/wrong.npy"
$PY -c "import numpy as np; np.save('$WORK/wrongtype.npy', np.zeros((1, 1, 7, 5), np.int32))"
expect_error "wrong input dtype" "has type int32" -- "$EDGECO" run "$CONV/model.onnx" --input x="$WORK/wrongtype.npy"
printf '\x93NUMPY\x01\x00\x10\x00{garbage header}' > "$WORK/bad.npy"
expect_error "bad .npy header" "bad .npy header" -- "$EDGECO" run "$CONV/model.onnx" --input x="$WORK/bad.npy"
expect_error "unknown input name" "no input named 'nope'" -- "$EDGECO" run "$CONV/model.onnx" --input nope="$WORK/x.npy"
expect_error "tensor too large" "out of memory" -- env EDGECO_MAX_TENSOR_BYTES=64 "$EDGECO" run "$CONV/model.onnx"
$PY - "$WORK/cycle.onnx" <<'PYEOF'
import sys
from onnx import helper, TensorProto, save
g = helper.make_graph([helper.make_node("Relu", ["b"], ["a"], name="first"), helper.make_node("Relu", ["a"], ["b"], name="second")],
                      "cycle", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                      [helper.make_tensor_value_info("b", TensorProto.FLOAT, [1])])
save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), sys.argv[1])
PYEOF
expect_error "cyclic graph" "cycle" -- "$EDGECO" info "$WORK/cycle.onnx"

# Conformance counts and exit status on a folder with a passing and a skipped test.
mkdir -p "$WORK/suite" && cp -r "$CONV" "$UNSUP" "$WORK/suite/"
out=$("$EDGECO" conformance "$WORK/suite") || fail "conformance exit code"
case "$out" in *"1 passed, 0 failed, 1 skipped"*) echo "ok: conformance counts" ;; *) fail "conformance: $out" ;; esac

# Data sets: the real Fashion-MNIST test set summarised as JSON; a missing or corrupt one is an error.
if [ -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ]; then
  "$EDGECO" dataset fashion-mnist --json > "$WORK/fmnist.json" || fail "dataset fashion-mnist exit code"
  $PY - "$WORK/fmnist.json" <<'PYEOF' || fail "dataset fashion-mnist summary"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["samples"] == 10000 and j["sample_shape"] == [1, 28, 28], j
assert set(j["per_class"].values()) == {1000}, j["per_class"]
PYEOF
fi
expect_error "data set without its files" "give its path" -- "$EDGECO" dataset cifar100
mkdir -p "$WORK/badfm" && printf 'not gzip, not idx' > "$WORK/badfm/t10k-images-idx3-ubyte"
printf '\x00\x00\x08\x01\x00\x00\x00\x01\x03' > "$WORK/badfm/t10k-labels-idx1-ubyte"
expect_error "corrupt IDX file" "not an IDX file" -- "$EDGECO" dataset fashion-mnist --path "$WORK/badfm"

# Zoo: a CIFAR ResNet-8 written as ONNX; ONNX Runtime loads and runs it with edgeco's outputs.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
"$EDGECO" zoo resnet8 --resolution 32 --classes 10 --out "$WORK/r8.onnx" --json > "$WORK/r8.json" \
  || fail "zoo exit code"
$PY -c "import numpy as np; np.save('$WORK/img.npy', np.random.default_rng(0).random((2, 3, 32, 32), dtype=np.float32))"
"$EDGECO" run "$WORK/r8.onnx" --input input="$WORK/img.npy" --output-dir "$WORK/r8_edgeco" > /dev/null || fail "zoo model runs"
if node "$ROOT/bench/peers/ort_run.js" "$WORK/r8.onnx" --input input="$WORK/img.npy" --output-dir "$WORK/r8_ort" > /dev/null 2>&1; then
  $PY - "$WORK/r8_edgeco/logits.npy" "$WORK/r8_ort/logits.npy" <<'PYEOF' || fail "zoo model: edgeco and ONNX Runtime differ"
import sys, numpy as np
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
assert a.shape == (2, 10) and np.abs(a - b).max() <= 1e-4 * np.abs(b).max(), (a, b)
PYEOF
  echo "ok: zoo model in ONNX Runtime"
else
  fail "ONNX Runtime does not load the zoo model"
fi
# An option outside its choices is a usage error (CLI11's exit code, not 0), naming the choices.
out=$("$EDGECO" zoo vgg16 --out "$WORK/v.onnx" 2>&1) && fail "unknown architecture accepted"
case "$out" in *"not in {mobilenet_v2"*) echo "ok: unknown architecture" ;; *) fail "unknown architecture: $out" ;; esac

finish
