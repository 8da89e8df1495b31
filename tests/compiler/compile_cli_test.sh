#!/usr/bin/env bash
# edgeco compile / run --plan: plans with the documented shape, exact never worse than the
# baselines, the runtime executing a plan, and clear errors for bad requests and bad plans.
#   tests/compiler/compile_cli_test.sh path/to/edgeco
set -uo pipefail
EDGECO=$1
source "$(dirname "$0")/../cli/lib.sh"

"$EDGECO" zoo mobilenet_v2 --in-channels 1 --resolution 28 --classes 10 --width 0.35 --small-input \
  --out "$WORK/m.onnx" > /dev/null && "$EDGECO" quantize "$WORK/m.onnx" --out "$WORK/q.onnx" > /dev/null \
  || fail "model to compile"

for objective in energy latency edp; do
  "$EDGECO" compile "$WORK/q.onnx" --platform jetson-nano-ethos-u55 --objective $objective \
    --compare --json --out "$WORK/plan-$objective.json" > "$WORK/c-$objective.json" \
    || fail "compile --objective $objective exit code"
done
$PY - "$WORK" <<'PYEOF' || fail "plans and comparisons"
import json, sys
work = sys.argv[1]
for objective in ("energy", "latency", "edp"):
    plan = json.load(open(f"{work}/plan-{objective}.json"))
    assert plan["platform"] == "jetson-nano-ethos-u55" and plan["objective"] == objective, plan.keys()
    assert plan["strategy"] == "exact", plan["strategy"]
    # Energy and latency are proven optimal; EDP is where the Pareto search is cut short.
    assert plan["optimal"] or objective == "edp", (plan["method"], plan["optimal"])
    for key in ("name", "op", "device", "opp_mhz", "macs", "bytes_read", "bytes_written",
                "latency_ms", "energy_mj", "output_offsets", "cycles"):
        assert all(key in n for n in plan["nodes"]), key
    assert all(n["device"].startswith(("cpu", "gpu", "npu")) for n in plan["nodes"])
    # The NPU runs int8 only.
    assert all(n["type"] == "int8" for n in plan["nodes"] if n["device"] == "npu")
    total = sum(n["latency_ms"] + n["transfer_ms"] for n in plan["nodes"])
    assert abs(total - plan["totals"]["latency_ms"]) < 1e-9 * total, (total, plan["totals"])
    edp = plan["totals"]["latency_ms"] * plan["totals"]["energy_mj"]
    assert abs(plan["totals"]["edp"] - edp) < 1e-9 * edp
    c = json.load(open(f"{work}/c-{objective}.json"))["compare"]
    value = {"energy": lambda s: s["energy_mj"], "latency": lambda s: s["latency_ms"],
             "edp": lambda s: s["edp"]}[objective]
    for baseline in ("greedy", "all-cpu", "all-gpu"):
        assert value(c["exact"]) <= value(c[baseline]) * (1 + 1e-12), (objective, baseline, c)
    assert set(c["all-cpu"]["devices"]) == {"cpu"}, c["all-cpu"]
PYEOF

# A deadline: met when it can be, a clear error when not.
"$EDGECO" compile "$WORK/q.onnx" --platform jetson-nano-ethos-u55 --deadline-ms 1000 --json > "$WORK/d.json" \
  || fail "compile under a loose deadline"
expect_error "impossible deadline" "no placement meets the deadline" -- \
  "$EDGECO" compile "$WORK/q.onnx" --platform jetson-nano-ethos-u55 --deadline-ms 0.000001
expect_error "unknown platform" "neither a preset" -- "$EDGECO" compile "$WORK/q.onnx" --platform nowhere
out=$("$EDGECO" compile "$WORK/q.onnx" --platform jetson-nano --objective speed 2>&1)
[ $? -ne 0 ] && case "$out" in *objective*) ;; *) false ;; esac || fail "bad objective: $out"

# The runtime executes a plan as deployed: each node computes in its device's type, the report
# carries the plan's modelled figures per device.
"$EDGECO" run --plan "$WORK/plan-energy.json" --json > "$WORK/run.json" || fail "run --plan exit code"
$PY - "$WORK" <<'PYEOF' || fail "run --plan report"
import json, sys
work = sys.argv[1]
r, plan = json.load(open(f"{work}/run.json")), json.load(open(f"{work}/plan-energy.json"))
devices = r["plan"]["devices"]
assert sum(d["nodes"] for d in devices.values()) == len(plan["nodes"]), devices
energy = sum(d["modelled_energy_mj"] for d in devices.values())
assert abs(energy - plan["totals"]["energy_mj"]) < 1e-9 * energy, (energy, plan["totals"])
types = {}
for n in plan["nodes"]:
    types[n["type"]] = types.get(n["type"], 0) + 1
assert r["plan"]["nodes_by_type"] == types, (r["plan"]["nodes_by_type"], types)
assert all(t["from"] != t["to"] for t in r["plan"]["transfers"])
PYEOF

# A float model whose nodes a plan puts on an fp16 GPU: the outputs are those of an independent
# fp16 evaluation (numpy's float16: every float read or written rounded to half), and differ from
# the fp32 run by a bounded amount.
$PY - "$WORK" <<'PYEOF' || fail "mlp for the fp16 plan"
import sys, numpy as np, onnx
from onnx import helper, numpy_helper, TensorProto
work = sys.argv[1]
rng = np.random.default_rng(3)
w1, b1, w2 = (rng.uniform(-1, 1, s).astype(np.float32) for s in ((32, 16), (16,), (16, 10)))
nodes = [helper.make_node("MatMul", ["x", "w1"], ["h"]), helper.make_node("Add", ["h", "b1"], ["hb"]),
         helper.make_node("Relu", ["hb"], ["r"]), helper.make_node("MatMul", ["r", "w2"], ["y"])]
graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 32])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 10])],
                          [numpy_helper.from_array(a, n) for a, n in ((w1, "w1"), (b1, "b1"), (w2, "w2"))])
onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), f"{work}/mlp.onnx")
np.save(f"{work}/mlp_x.npy", rng.uniform(-3, 3, (4, 32)).astype(np.float32))
PYEOF
"$EDGECO" compile "$WORK/mlp.onnx" --platform jetson-nano-ethos-u55 --strategy all-gpu --out "$WORK/mlp-plan.json" > /dev/null \
  || fail "compile the mlp"
$PY -c "
import json; p = json.load(open('$WORK/mlp-plan.json'))
for n in p['nodes']: n['type'] = 'fp16'
json.dump(p, open('$WORK/mlp-fp16.json', 'w'))" || fail "fp16 plan"
"$EDGECO" run --plan "$WORK/mlp-fp16.json" --input x="$WORK/mlp_x.npy" --output-dir "$WORK/mlp-fp16" > /dev/null \
  || fail "run the fp16 plan"
"$EDGECO" run "$WORK/mlp.onnx" --input x="$WORK/mlp_x.npy" --output-dir "$WORK/mlp-fp32" > /dev/null || fail "run the mlp"
$PY - "$WORK" <<'PYEOF' || fail "fp16 plan outputs"
import sys, numpy as np, onnx
from onnx import numpy_helper
work = sys.argv[1]
w = {t.name: numpy_helper.to_array(t) for t in onnx.load(f"{work}/mlp.onnx").graph.initializer}
h = lambda a: a.astype(np.float16).astype(np.float32)
x = np.load(f"{work}/mlp_x.npy")
r = h(np.maximum(h(h(h(x) @ h(w["w1"])) + h(w["b1"])), 0))
expected = h(r @ h(w["w2"]))
got, fp32 = np.load(f"{work}/mlp-fp16/y.npy"), np.load(f"{work}/mlp-fp32/y.npy")
assert np.array_equal(got, h(got)), "outputs are not half-precision values"
# Float sums may add in another order: one half-precision step at most.
assert np.all(np.abs(got - expected) <= np.abs(expected) * 2**-10 + 1e-6), np.abs(got - expected).max()
diff = np.abs(got - fp32)
assert 0 < diff.max() <= 0.02 * (np.abs(fp32).max() + 1), diff.max()
PYEOF

# The shipped int8 student on a plan with GPU fp16 nodes: its int8 nodes run in their float form in
# fp16, so the outputs move (a little) and eval reports the accuracy as deployed.
STUDENT="$(dirname "$0")/../../models/fmnist/student.int8.onnx"
"$EDGECO" compile "$STUDENT" --platform jetson-nano-ethos-u55 --strategy all-gpu --out "$WORK/student-gpu.json" > /dev/null \
  || fail "compile the student for the gpu"
"$EDGECO" run --plan "$WORK/student-gpu.json" --output-dir "$WORK/student-gpu-out" --json > "$WORK/student-run.json" \
  || fail "run the student's gpu plan"
"$EDGECO" run "$STUDENT" --output-dir "$WORK/student-out" > /dev/null || fail "run the student"
"$EDGECO" eval "$STUDENT" --plan "$WORK/student-gpu.json" --limit 300 --json > "$WORK/student-gpu-eval.json" \
  || fail "eval --plan"
"$EDGECO" eval "$STUDENT" --limit 300 --json > "$WORK/student-eval.json" || fail "eval the student"
$PY - "$WORK" <<'PYEOF' || fail "the student as deployed"
import json, sys
work = sys.argv[1]
run = json.load(open(f"{work}/student-run.json"))
deployed, host = (json.load(open(f"{work}/{n}.json")) for n in ("student-gpu-eval", "student-eval"))
assert run["plan"]["nodes_by_type"].get("fp16", 0) > 40, run["plan"]["nodes_by_type"]
assert deployed["deployed"]["rewritten_nodes"] > 40, deployed["deployed"]
# The same 300 images: fp16 on dequantized weights changes a few decisions at most.
assert abs(deployed["top1"] - host["top1"]) <= 0.02, (deployed["top1"], host["top1"])
import numpy as np
gpu, cpu = np.load(f"{work}/student-gpu-out/logits.npy"), np.load(f"{work}/student-out/logits.npy")
diff = np.abs(gpu - cpu).max()
assert 0 < diff <= 0.1 * np.abs(cpu).max(), (diff, cpu, gpu)
PYEOF
printf '{"platform": "x", "objective": "energy", "strategy": "exact", "nodes": [{"name": 1}]}' > "$WORK/bad.json"
expect_error "malformed plan" "nodes[0].name" -- "$EDGECO" run --plan "$WORK/bad.json" "$WORK/q.onnx"
$PY -c "
import json; p = json.load(open('$WORK/plan-energy.json')); p['nodes'][0]['type'] = 'bf16'
json.dump(p, open('$WORK/bf16.json', 'w'))"
expect_error "plan with an unknown type" "nodes[0].type" -- "$EDGECO" run --plan "$WORK/bf16.json"
printf '{"platform": ' > "$WORK/cut.json"
expect_error "truncated plan" "cut.json" -- "$EDGECO" run --plan "$WORK/cut.json" "$WORK/q.onnx"
expect_error "plan of another model" "plan was made for another model" -- \
  "$EDGECO" run --plan "$WORK/plan-energy.json" "$WORK/m.onnx"

# Calibrating the host writes a platform file that parses; validate compares the model with a
# measurement (the error is modelled / measured - 1; its size is a benchmark's business, not a test's).
"$EDGECO" calibrate --repeats 1 --out "$WORK/host.yaml" --json > "$WORK/cal.json" || fail "calibrate exit code"
"$EDGECO" platform show "$WORK/host.yaml" --json > "$WORK/host.json" || fail "calibrated platform does not load"
"$EDGECO" validate --platform "$WORK/host.yaml" "$WORK/m.onnx" "$WORK/q.onnx" --iters 2 --breakdown --json > "$WORK/val.json" \
  || fail "validate exit code"
$PY - "$WORK" <<'PYEOF' || fail "calibrate and validate figures"
import json, sys
work = sys.argv[1]
cal, host, val = (json.load(open(f"{work}/{n}.json")) for n in ("cal", "host", "val"))
classes = {(p["type"], p["class"]) for p in cal["points"]}
assert {("fp32", "dense_conv"), ("int8", "dense_conv"), ("fp32", "depthwise_conv"),
        ("int8", "depthwise_conv"), ("fp32", "matmul"), ("fp32", "pooling")} <= classes, classes
assert all(p["measured_ms"] > 0 and p["macs_per_cycle"] > 0 for p in cal["points"])
cpu = host["devices"][0]
assert cpu["name"] == "cpu" and abs(cpu["opps"][0]["mhz"] - cal["mhz"]) < 1e-3 * cal["mhz"]
assert len(val["models"]) == 2
for m in val["models"]:
    assert m["modelled_ms"] > 0 and m["measured_ms"] > 0, m
    assert abs(m["error"] - (m["modelled_ms"] / m["measured_ms"] - 1)) < 1e-12, m
    # --breakdown: every plan node lands in one group (the runtime times every node it runs).
    groups = {g["group"]: g for g in m["groups"]}
    assert "(not timed by the runtime)" not in groups, groups
    assert abs(sum(g["modelled_ms"] for g in groups.values()) - m["modelled_ms"]) < 1e-9 * m["modelled_ms"], m
    assert all(g["measured_ms"] > 0 for g in groups.values()), groups
    assert any(name.endswith("dense_conv") for name in groups), groups
    # ... and the time between nodes is the run's time the node times leave out.
    assert 0 < groups["(between nodes)"]["measured_ms"] < m["measured_ms"], groups
assert abs(val["max_abs_error"] - max(abs(m["error"]) for m in val["models"])) < 1e-12
PYEOF
# --calibrate: the host is fitted in the same run, its benchmarks timed in the models' rounds.
# With --breakdown, the node times are those of the same rounds.
"$EDGECO" validate --calibrate --breakdown "$WORK/m.onnx" --iters 4 --json > "$WORK/valcal.json" \
  || fail "validate --calibrate"
$PY - "$WORK/valcal.json" <<'PYEOF' || fail "validate --calibrate figures"
import json, sys
v = json.load(open(sys.argv[1]))
assert v["platform_file"] == "(calibrated in this run)", v
(m,) = v["models"]
assert m["modelled_ms"] > 0 and m["measured_ms"] > 0, m
assert abs(m["error"] - (m["modelled_ms"] / m["measured_ms"] - 1)) < 1e-12, m
groups = {g["group"]: g for g in m["groups"]}
assert "(not timed by the runtime)" not in groups, groups
assert abs(sum(g["modelled_ms"] for g in groups.values()) - m["modelled_ms"]) < 1e-9 * m["modelled_ms"], m
assert all(g["measured_ms"] > 0 for g in groups.values()), groups
assert 0 < groups["(between nodes)"]["measured_ms"] < m["measured_ms"], groups
# Four rounds: the groups and the time between nodes add up to the mean of the middle two runs,
# which is the median (per-node medians would not add up to it).
assert abs(sum(g["measured_ms"] for g in groups.values()) - m["measured_ms"]) < 1e-9 * m["measured_ms"], m
PYEOF
EDGECO_HOST_PLATFORM="$WORK/host.yaml" "$EDGECO" platform show host --json > "$WORK/found.json" \
  || fail "platform show host"
$PY -c "import json; assert json.load(open('$WORK/found.json'))['file'] == '$WORK/host.yaml'" \
  || fail "the calibrated host is what --platform host finds"
expect_error "calibrate another platform" "only the host" -- "$EDGECO" calibrate --platform jetson-nano
finish
