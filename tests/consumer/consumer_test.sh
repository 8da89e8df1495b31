#!/usr/bin/env bash
# A C++ project builds against the installed package (find_package(edgeco), edgeco::edgeco) and
# runs the shipped model as deployed, with the outputs and modelled totals the CLI gives; the
# README's C++ example is this program.
#   tests/consumer/consumer_test.sh BUILD_DIR SOURCE_DIR
set -uo pipefail
BUILD=$1 SRC=$2
EDGECO=$BUILD/edgeco
source "$SRC/tests/cli/lib.sh"
MODEL=$SRC/models/fmnist/student.int8.onnx

cmake --install "$BUILD" --prefix "$WORK/prefix" > "$WORK/install.log" 2>&1 || { cat "$WORK/install.log"; fail "cmake --install"; finish; }
[ -f "$WORK/prefix/lib/cmake/edgeco/edgecoConfig.cmake" ] && [ -f "$WORK/prefix/include/edgeco/session.h" ] \
  && [ ! -e "$WORK/prefix/include/edgeco/kernels" ] || fail "installed package layout"
cmake -S "$SRC/tests/consumer" -B "$WORK/consumer" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$WORK/prefix" > "$WORK/configure.log" 2>&1 || { cat "$WORK/configure.log"; fail "configure the consumer"; finish; }
cmake --build "$WORK/consumer" > "$WORK/build.log" 2>&1 || { cat "$WORK/build.log"; fail "build the consumer"; finish; }
"$WORK/consumer/quickstart" "$MODEL" > "$WORK/out.txt" || fail "the consumer runs the model"

# The same through the CLI: compile (energy, the default objective), run the plan on the same image.
$PY -c "import numpy as np; np.save('$WORK/x.npy', np.full((1, 1, 28, 28), 0.5, np.float32))"
"$EDGECO" compile "$MODEL" --platform jetson-nano-ethos-u55 --out "$WORK/plan.json" > /dev/null || fail "compile"
"$EDGECO" run --plan "$WORK/plan.json" --input input="$WORK/x.npy" --output-dir "$WORK/cli" > /dev/null || fail "run --plan"
$PY - "$WORK" <<'PYEOF' || fail "consumer and CLI agree"
import json, sys, numpy as np
work = sys.argv[1]
lines = dict(l.split(" ", 1) for l in open(f"{work}/out.txt").read().splitlines())
ms, mj = (float(v) for v in lines["modelled"].replace("ms", "").replace("mJ", "").split())
plan = json.load(open(f"{work}/plan.json"))["totals"]
assert abs(ms - plan["latency_ms"]) <= 1e-6 * ms and abs(mj - plan["energy_mj"]) <= 1e-6 * mj, (ms, mj, plan)
logits = np.array([float(v) for v in lines["logits"].split()])
cli = np.load(f"{work}/cli/logits.npy").ravel()
assert logits.shape == (10,) and np.allclose(logits, cli, rtol=1e-5, atol=1e-6), (logits, cli)
PYEOF

# The README's C++ example is this file, verbatim.
$PY - "$SRC" <<'PYEOF' || fail "README's C++ example is tests/consumer/quickstart.cc"
import re, sys
src = sys.argv[1]
blocks = re.findall(r"```cpp\n(.*?)```", open(f"{src}/README.md").read(), re.S)
assert open(f"{src}/tests/consumer/quickstart.cc").read() in blocks, "no README block equals quickstart.cc"
PYEOF
finish
