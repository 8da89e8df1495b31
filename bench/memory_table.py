#!/usr/bin/python3
"""Session memory of edgeco against the bar "weights plus the two largest live activations".

For each model, `edgeco bench --json` (one untimed run records the activations live at once)
reports the tensor storage the session held at its peak, from loading the model to the last run:
weights, kernels' packed copies and activations, without code or libraries (peak RSS is printed
beside it for those), and the activation arena of the session's static memory plan (the
activations the fast kernels write, placed by liveness). Every figure is measured.

  /usr/bin/python3 bench/memory_table.py --edgeco build/edgeco MODEL.onnx [--input input=X.npy]...
"""
import argparse
import json
import subprocess
import sys


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edgeco", required=True)
    parser.add_argument("--input", action="append", default=[],
                        help="MODEL=NAME=FILE.npy: an input for that model (others get random inputs)")
    parser.add_argument("models", nargs="+")
    args = parser.parse_args()
    inputs = {}
    for spec in args.input:
        model, _, rest = spec.partition("=")
        inputs.setdefault(model, []).extend(["--input", rest])
    print("| model | weights MB | two largest live activations MB | tensor peak MB | peak / (weights + two) "
          "| steady MB | of which activation arena MB | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|")
    for model in args.models:
        result = subprocess.run([args.edgeco, "bench", model, "--iters", "3", "--warmup", "1", "--json"]
                                + inputs.get(model, []), capture_output=True, text=True)
        if result.returncode != 0:
            sys.exit(f"{model}: {result.stderr}")
        j = json.loads(result.stdout)
        m = j["memory"]
        print(f"| {model} | {m['weights_mb']:.1f} | {m['largest_two_live_activations_mb']:.1f} "
              f"| {m['tensor_peak_mb']:.1f} | {m['peak_over_weights_and_two_activations']:.2f} "
              f"| {m['tensor_steady_mb']:.1f} | {m['arena_mb']:.1f} | {j['peak_rss_mb']:.1f} |")


if __name__ == "__main__":
    main()
