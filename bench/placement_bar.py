#!/usr/bin/python3
"""The placement bar: `edgeco compile` places a 1,000-node graph (bench/long_graph.py) in under 2 s
for every objective, on the paper's platform. Prints the solver's time per objective and exits 1
when one is over the bar. Usage: bench/placement_bar.py --edgeco build/edgeco [--nodes 1000]
[--bar-s 2] [--platform jetson-nano-ethos-u55]"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--edgeco", required=True)
    ap.add_argument("--nodes", type=int, default=1000)
    ap.add_argument("--bar-s", type=float, default=2.0)
    ap.add_argument("--platform", default="jetson-nano-ethos-u55")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as work:
        model = os.path.join(work, "long.onnx")
        subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "long_graph.py"), model,
                        str(a.nodes)], check=True, stdout=subprocess.DEVNULL)
        failed = False
        for objective in ("energy", "latency", "edp"):
            out = subprocess.run([a.edgeco, "compile", model, "--platform", a.platform, "--no-fuse",
                                  "--objective", objective, "--json"], check=True, capture_output=True, text=True)
            plan = json.loads(out.stdout)
            seconds = plan["solve_ms"] / 1000
            ok = seconds < a.bar_s
            failed |= not ok
            print(f"{a.nodes}-node placement, {objective}: {seconds:.3f} s ({plan['method']}, "
                  f"{'optimal' if plan['optimal'] else 'not proven optimal'}) "
                  f"{'under' if ok else 'OVER'} the {a.bar_s:g} s bar")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
