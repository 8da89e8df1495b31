#!/usr/bin/python3
"""`edgeco stream`: the real control loop on this machine. Fashion-MNIST test images arrive
faster than the FP32 camera network can serve them; the rule governor switches to a faster
variant under load, every frame is served (with its measured latency, prediction and whether it
was right) or reported dropped, and bad input is refused by name.

    stream_cli_test.py path/to/edgeco"""
import json
import os
import subprocess
import sys
import tempfile

EDGECO = sys.argv[1]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODELS = ",".join(os.path.join(ROOT, "models", "fmnist", m)
                  for m in ("camera96.onnx", "camera64.int8.onnx", "student.int8.onnx"))
failures = []


def run(*args, timeout=120):
    return subprocess.run([EDGECO, *args], capture_output=True, text=True, timeout=timeout)


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


with tempfile.TemporaryDirectory() as tmp:
    # The FP32 network's warm latency here sets a rate it cannot sustain: three times its pace.
    out = run("stream", MODELS, "--rate", "50", "--count", "5", "--json", "--out", os.path.join(tmp, "w.jsonl"))
    check(out.returncode == 0, "a short stream runs: " + out.stderr)
    warm = json.loads(out.stdout.strip().splitlines()[-1])["summary"]["warm_latency_ms"]
    rate = 3 * 1000 / warm["camera96"]
    count = int(rate * 3)  # three seconds
    log = os.path.join(tmp, "frames.jsonl")
    out = run("stream", MODELS, "--rate", "%.1f" % rate, "--count", str(count), "--queue", "4",
              "--json", "--out", log)
    check(out.returncode == 0, "the stream runs at %.0f fps: %s" % (rate, out.stderr))
    s = json.loads(out.stdout)["summary"]
    with open(log) as f:
        frames = [json.loads(line) for line in f]
    check(len(frames) == count, "one line per frame: %d of %d" % (len(frames), count))
    check(sorted(f["frame"] for f in frames) == list(range(count)), "every frame number once")
    served = [f for f in frames if not f.get("dropped")]
    dropped = [f for f in frames if f.get("dropped")]
    check(s["served"] == len(served) and s["dropped"] == len(dropped) and s["frames"] == count,
          "the summary counts what the log holds: %s" % {k: s[k] for k in ("frames", "served", "dropped")})
    check(s["switches"] >= 1 and len(s["served_by_variant"]) >= 2,
          "the governor switched variants under load: %s" % s["served_by_variant"])
    check(all(f["correct"] == (f["predicted"] == f["label"]) and f["where"] == "local" and
              f["latency_ms"] > 0 for f in served), "each served frame says what it predicted and if right")
    accuracy = sum(f["correct"] for f in served) / len(served)
    check(abs(accuracy - s["accuracy"]) < 1e-12 and accuracy > 0.85,
          "accuracy is the served frames' (%.4f vs %.4f)" % (accuracy, s["accuracy"]))
    check(s["latency_ms"]["p50"] > 0 and s["latency_ms"]["p99"] >= s["latency_ms"]["p50"], "latency percentiles")
    check(s["energy_source"].startswith("modelled") or s["energy_source"].startswith("measured"),
          "energy says whether it is measured or modelled")

    npy = os.path.join(tmp, "bad")
    os.mkdir(npy)
    with open(os.path.join(npy, "a.npy"), "wb") as f:
        f.write(b"\x93NUMPY garbage")
    out = run("stream", MODELS, "--source", npy, "--count", "3")
    check(out.returncode == 1 and "a.npy" in out.stderr, "a malformed .npy is named: " + out.stderr)
out = run("stream", MODELS, "--source", "/nowhere")
check(out.returncode == 1 and "/nowhere" in out.stderr, "a missing source is named: " + out.stderr)
out = run("stream", MODELS, "--governor", "dqn")
check(out.returncode == 1 and "policy" in out.stderr, "dqn without a policy says so: " + out.stderr)
out = run("stream", "nowhere.onnx")
check(out.returncode == 1 and "nowhere.onnx" in out.stderr, "a missing model is named: " + out.stderr)

print("stream_cli_test: %d failure(s)" % len(failures))
sys.exit(1 if failures else 0)
