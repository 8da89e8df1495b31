#!/usr/bin/python3
"""edgeco against ONNX Runtime on the same models, input and thread count, run alternately.

For each model and thread count, `--rounds` times: one `edgeco bench` and one ONNX Runtime run of
`--iters` inferences each (after `--warmup`), alternating so that machine noise hits both. The
figure per runtime is the median over rounds of each round's median; the ratio is edgeco / ORT
(below 1.0: edgeco is faster). Every figure is measured on this machine.

  /usr/bin/python3 bench/compare_ort.py --edgeco build/edgeco [--threads 1 2] [--markdown] MODEL.onnx...
  /usr/bin/python3 bench/compare_ort.py --edgeco build/edgeco --torchvision mobilenet_v2 resnet18 ...
  /usr/bin/python3 bench/compare_ort.py --edgeco build/edgeco --torchvision --int8 mobilenet_v2 resnet18
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
    parser.add_argument("--int8", action="store_true",
                        help="also quantize each model (`edgeco quantize --calibration random`, QDQ) and time "
                             "the INT8 model on both runtimes, plus edgeco's INT8 speed-up over its own FP32")
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
        variants = [("fp32", model)]
        if args.int8:
            quantized = os.path.join(os.path.dirname(model), name + ".int8.onnx")
            subprocess.run([args.edgeco, "quantize", model, "--calibration", "random", "--out", quantized],
                           check=True, capture_output=True)
            variants.append(("int8", quantized))
        for threads in args.threads:
            # One round times every variant on both runtimes, alternating.
            times = {(v, rt): [] for v, _ in variants for rt in ("edgeco", "ort")}
            for _ in range(args.rounds):
                for variant, path in variants:
                    e = run_json([args.edgeco, "bench", path, "--threads", str(threads), "--iters",
                                  str(args.iters), "--warmup", str(args.warmup), "--json"] + inputs)
                    times[(variant, "edgeco")].append(e["median_ms"])
                    o = run_json(["node", ORT_RUN, path, "--threads", str(threads), "--iters", str(args.iters),
                                  "--warmup", str(args.warmup)] + inputs)
                    times[(variant, "ort")].append(o["median_ms"])
            med = {k: statistics.median(v) for k, v in times.items()}
            row = {"model": name, "threads": threads, "edgeco_ms": med[("fp32", "edgeco")],
                   "ort_ms": med[("fp32", "ort")]}
            row["ratio"] = row["edgeco_ms"] / row["ort_ms"]
            if args.int8:
                row["edgeco_int8_ms"] = med[("int8", "edgeco")]
                row["ort_int8_ms"] = med[("int8", "ort")]
                row["int8_ratio"] = row["edgeco_int8_ms"] / row["ort_int8_ms"]
                row["int8_speedup"] = row["edgeco_ms"] / row["edgeco_int8_ms"]
            rows.append(row)
            if not args.markdown:
                print(json.dumps(row), flush=True)
    if args.markdown and args.int8:
        print("| model | threads | edgeco FP32 ms | ORT FP32 ms | edgeco / ORT (FP32) | edgeco INT8 ms "
              "| ORT INT8 ms | edgeco / ORT (INT8) | edgeco INT8 speed-up over FP32 |")
        print("|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['model']} | {r['threads']} | {r['edgeco_ms']:.2f} | {r['ort_ms']:.2f} | {r['ratio']:.2f} "
                  f"| {r['edgeco_int8_ms']:.2f} | {r['ort_int8_ms']:.2f} | {r['int8_ratio']:.2f} "
                  f"| {r['int8_speedup']:.2f}x |")
    elif args.markdown:
        print("| model | threads | edgeco ms | ONNX Runtime ms | edgeco / ORT |")
        print("|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['model']} | {r['threads']} | {r['edgeco_ms']:.2f} | {r['ort_ms']:.2f} | {r['ratio']:.2f} |")


if __name__ == "__main__":
    main()
