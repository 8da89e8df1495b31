#!/usr/bin/python3
"""edgeco against ONNX Runtime on the same models, input and thread count, run alternately.

For each model and thread count, `--rounds` times: one `edgeco bench` and one ONNX Runtime run of
`--iters` inferences each (after `--warmup`), alternating so that machine noise hits both. The
figure per runtime is the median over rounds of each round's median; the ratio is edgeco / ORT
(below 1.0: edgeco is faster). Every figure is measured on this machine.

  /usr/bin/python3 bench/compare_ort.py --edgeco build/edgeco [--threads 1 2] [--markdown] MODEL.onnx...
  /usr/bin/python3 bench/compare_ort.py --edgeco build/edgeco --torchvision mobilenet_v2 resnet18 ...
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ORT_RUN = os.path.join(ROOT, "bench", "peers", "ort_run.js")
EXPORT = os.path.join(ROOT, "tests", "models", "export_torchvision.py")


def run_json(cmd):
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{result.stderr}")
    return json.loads(result.stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edgeco", required=True)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--work", default=os.path.join(ROOT, "out", "bench"))
    parser.add_argument("--torchvision", action="store_true", help="arguments are torchvision model names to export")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("models", nargs="+")
    args = parser.parse_args()

    os.makedirs(args.work, exist_ok=True)
    models = args.models
    if args.torchvision:
        subprocess.run([sys.executable, EXPORT, "--out", args.work] + args.models, check=True, capture_output=True)
        models = [os.path.join(args.work, m + ".onnx") for m in args.models]
    rows = []
    for model in models:
        name = os.path.splitext(os.path.basename(model))[0]
        x = os.path.join(os.path.dirname(model), name + ".input.npy")
        inputs = ["--input", "input=" + x] if os.path.exists(x) else []
        if not inputs:
            sys.exit(f"{model}: needs {x} (an input for both runtimes)")
        for threads in args.threads:
            ours, theirs = [], []
            for _ in range(args.rounds):
                e = run_json([args.edgeco, "bench", model, "--threads", str(threads), "--iters", str(args.iters),
                              "--warmup", str(args.warmup), "--json"] + inputs)
                ours.append(e["median_ms"])
                o = run_json(["node", ORT_RUN, model, "--threads", str(threads), "--iters", str(args.iters),
                              "--warmup", str(args.warmup)] + inputs)
                theirs.append(o["median_ms"])
            row = {"model": name, "threads": threads, "edgeco_ms": statistics.median(ours),
                   "ort_ms": statistics.median(theirs)}
            row["ratio"] = row["edgeco_ms"] / row["ort_ms"]
            rows.append(row)
            if not args.markdown:
                print(json.dumps(row), flush=True)
    if args.markdown:
        print("| model | threads | edgeco ms | ONNX Runtime ms | edgeco / ORT |")
        print("|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['model']} | {r['threads']} | {r['edgeco_ms']:.2f} | {r['ort_ms']:.2f} | {r['ratio']:.2f} |")


if __name__ == "__main__":
    main()
