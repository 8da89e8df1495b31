#!/usr/bin/python3
"""Writes a 1,000-node ONNX graph for the placement bar (`edgeco compile` must place it in < 2 s):
a stack of residual blocks Conv 3x3 -> Relu -> Conv 1x1 -> Add(skip), 8 channels at 16x16, random
weights. Usage: bench/long_graph.py OUT.onnx [NODES]"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def main():
    out = sys.argv[1]
    nodes_wanted = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    rng = np.random.default_rng(0)
    channels = 8
    nodes, inits = [], []
    x = "input"
    i = 0
    while len(nodes) + 4 <= nodes_wanted:
        w1, w2 = f"w{i}a", f"w{i}b"
        inits.append(numpy_helper.from_array(
            (rng.standard_normal((channels, channels, 3, 3)) * 0.1).astype(np.float32), w1))
        inits.append(numpy_helper.from_array(
            (rng.standard_normal((channels, channels, 1, 1)) * 0.1).astype(np.float32), w2))
        nodes.append(helper.make_node("Conv", [x, w1], [f"c{i}"], name=f"conv{i}a", pads=[1, 1, 1, 1]))
        nodes.append(helper.make_node("Relu", [f"c{i}"], [f"r{i}"], name=f"relu{i}"))
        nodes.append(helper.make_node("Conv", [f"r{i}", w2], [f"d{i}"], name=f"conv{i}b"))
        nodes.append(helper.make_node("Add", [f"d{i}", x], [f"s{i}"], name=f"add{i}"))
        x = f"s{i}"
        i += 1
    while len(nodes) < nodes_wanted:
        nodes.append(helper.make_node("Relu", [x], [f"t{len(nodes)}"], name=f"tail{len(nodes)}"))
        x = f"t{len(nodes) - 1}"
    graph = helper.make_graph(
        nodes, "long", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, channels, 16, 16])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, channels, 16, 16])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    onnx.save(model, out)
    print(f"wrote {out}: {len(nodes)} nodes")


if __name__ == "__main__":
    main()
