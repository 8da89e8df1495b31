#!/usr/bin/python3
"""`edgeco telemetry`, `simulate` and `scenarios` from the command line: the fake board trees in
tests/power/trees read with the kernel's units converted, this machine's missing interfaces said
plainly with exit 0, the simulator's JSON summary and trace, and bad input refused by name.

    runtime_cli_test.py path/to/edgeco"""
import json
import os
import subprocess
import sys
import tempfile

EDGECO = sys.argv[1]
TREES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "trees")
failures = []


def run(*args):
    return subprocess.run([EDGECO, *args], capture_output=True, text=True, timeout=120)


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def readings(board):
    out = run("telemetry", "--root", os.path.join(TREES, board), "--samples", "1", "--json")
    check(out.returncode == 0, "telemetry %s exits 0 (%s)" % (board, out.stderr))
    j = json.loads(out.stdout)
    check(j["root"].endswith(board), "telemetry %s names its root" % board)
    return {r["name"]: (r["value"], r["unit"]) for r in j["readings"]}, j["missing"]


def expect(values, name, value, unit):
    got = values.get(name)
    check(got is not None and abs(got[0] - value) < 1e-9 and got[1] == unit,
          "%s = %s %s (got %s)" % (name, value, unit, got))


nano, _ = readings("jetson-nano")
expect(nano, "thermal/CPU-therm", 41.0, "C")
expect(nano, "cpufreq/cpu0/cur", 1479.0, "MHz")
expect(nano, "cpufreq/cpu0/available", 15, "count")
expect(nano, "devfreq/57000000.gpu/cur", 921.6, "MHz")
expect(nano, "power/POM_5V_IN", 3.562, "W")
expect(nano, "power/POM_5V_CPU", 0.553, "W")

laptop, missing = readings("laptop")
expect(laptop, "thermal/x86_pkg_temp", 52.0, "C")
expect(laptop, "battery/BAT0/capacity", 76, "%")
expect(laptop, "battery/BAT0/energy", 38.12, "Wh")
expect(laptop, "battery/BAT0/power", 9.87, "W")
expect(laptop, "rapl/package-0/energy", 262142.32885, "J")
expect(laptop, "cpufreq/cpu1/max", 4700, "MHz")
check(any(m["what"] == "cpufreq/cpu0/available" and m["why"] == "absent" for m in missing),
      "intel_pstate's missing frequency table is listed as absent")

pi, missing = readings("raspberry-pi-4")
expect(pi, "thermal/cpu-thermal", 48.686, "C")
expect(pi, "cpufreq/cpu3/min", 600, "MHz")
check(any(m["what"] == "devfreq" for m in missing), "the Pi's missing devfreq is listed")

# Two samples give rates: RAPL power and CPU utilisation need a difference.
out = run("telemetry", "--root", os.path.join(TREES, "laptop"), "--samples", "2",
          "--interval-ms", "20", "--json")
j = json.loads(out.stdout)
names = [r["name"] for r in j["readings"]]
check("rapl/package-0/power" in names, "two samples give RAPL power: %s" % names)
# A tree's /proc/stat does not tick: no utilisation, and it says why.
check(any(m["what"] == "cpu/util" and "no time" in m["why"] for m in j["missing"]),
      "a /proc/stat that does not tick is said")

# This machine, whatever it exposes: exit 0, and whatever is not read is said with its path.
out = run("telemetry", "--json", "--samples", "1")
check(out.returncode == 0, "telemetry on this machine exits 0 (%s)" % out.stderr)
j = json.loads(out.stdout)
check(isinstance(j["readings"], list) and all({"what", "path", "why"} <= set(m) for m in j["missing"]),
      "telemetry on this machine has the JSON shape")
out = run("telemetry")
check(out.returncode == 0 and "telemetry under /" in out.stdout, "plain telemetry prints a listing")

out = run("telemetry", "--root", "/no/such/tree")
check(out.returncode == 1 and "/no/such/tree" in out.stderr, "a missing root is an error naming it")

# The simulator: the summary's keys, a trace with the documented columns, determinism.
keys = ["platform", "scenario", "governor", "seed", "simulated_s", "frames", "served", "dropped",
        "deadline_misses", "energy_j", "avg_power_w", "frames_per_j", "latency_ms", "accuracy",
        "temperature_c", "throttled_s", "battery"]
with tempfile.TemporaryDirectory() as tmp:
    trace = os.path.join(tmp, "trace.csv")
    out = run("simulate", "--scenario", "surveillance", "--governor", "schedutil", "--hours", "0.2",
              "--seed", "7", "--trace", trace, "--json")
    check(out.returncode == 0, "simulate exits 0 (%s)" % out.stderr)
    s = json.loads(out.stdout)
    check(all(k in s for k in keys), "the summary has every key: %s" % sorted(s))
    check(set(s["latency_ms"]) == {"p50", "p95", "p99"}, "latency percentiles")
    check(s["seed"] == 7 and s["served"] > 0 and abs(s["simulated_s"] - 720) < 1e-6,
          "seed, frames and the simulated time")
    with open(trace) as f:
        header = f.readline().strip()
        rows = f.readlines()
    check(header == "time_s,device,mhz,util,power_w,temperature_c,action", "trace header: " + header)
    # 0.2 h at 100 ms: 7200 intervals x (cpu, gpu, npu, board)
    check(len(rows) == 7200 * 4, "one row per device and the board per interval: %d" % len(rows))
    energy = sum(float(r.split(",")[4]) * 0.1 for r in rows)
    check(abs(energy - s["energy_j"]) <= 0.005 * s["energy_j"], "trace integral %.3f J vs %.3f J" % (energy, s["energy_j"]))
    again = run("simulate", "--scenario", "surveillance", "--governor", "schedutil", "--hours", "0.2",
                "--seed", "7", "--json")
    # Everything but the measured decision times is simulated: the same seed, the same figures.
    def simulated(text):
        j = json.loads(text)
        j.pop("decision_us")
        return j
    check(simulated(again.stdout) == simulated(out.stdout), "the same seed prints the same summary")

    bad = os.path.join(tmp, "bad.yaml")
    with open(bad, "w") as f:
        f.write("name: x\nplatform: raspberry-pi-4\ndeadline_ms: 10\nstreams:\n  - {name: c, kind: periodic, rate_hz: -3}\n")
    out = run("simulate", "--scenario", bad)
    check(out.returncode == 1 and bad + ":5" in out.stderr and "rate_hz" in out.stderr,
          "a bad scenario names file, line and field: " + out.stderr)
    badtrace = os.path.join(tmp, "arrivals.csv")
    with open(badtrace, "w") as f:
        f.write("time_s\n0.5\nsoon\n")
    with open(bad, "w") as f:
        f.write("name: x\nplatform: raspberry-pi-4\ndeadline_ms: 10\nstreams:\n  - {name: c, kind: trace, trace: arrivals.csv}\n")
    out = run("simulate", "--scenario", bad)
    check(out.returncode == 1 and "arrivals.csv:3" in out.stderr, "a bad trace names its line: " + out.stderr)

out = run("simulate", "--scenario", "surveillance", "--governor", "turbo")
check(out.returncode == 1 and "schedutil" in out.stderr, "an unknown governor lists the known ones")
out = run("simulate", "--scenario", "nowhere")
check(out.returncode == 1 and "surveillance" in out.stderr, "an unknown scenario lists the presets")
out = run("simulate", "--scenario", "navigation", "--governor", "static", "--static-mhz", "fast")
check(out.returncode == 1 and "--static-mhz" in out.stderr, "a bad --static-mhz is named")

# The controllers of issue 18 on the same run: each summary names its decisions, the shield's
# overrides, the configurations applied and the reaction to an injected event.
runs = {}
for g in ["static-max", "rule", "oracle"]:
    out = run("simulate", "--scenario", "har-wearable", "--governor", g, "--hours", "0.05",
              "--event", "battery_drop@60.05:5", "--json")
    check(out.returncode == 0, "simulate --governor %s runs: %s" % (g, out.stderr))
    runs[g] = json.loads(out.stdout)
for g, s in runs.items():
    check(sum(s["actions"].values()) == 1800, "%s: one configuration per interval (%d)" % (g, sum(s["actions"].values())))
    check(s["reaction_ms"]["events"] == 1, "%s: the event is counted" % g)
rule = runs["rule"]
check(rule["reaction_ms"]["unanswered"] == 0 and 100 <= rule["reaction_ms"]["max"] < 101,
      "the rule controller answers the battery drop "
      "within one 100 ms interval: %s, %s" % (rule["reaction_ms"], rule["shield_overrides"]))
check(runs["static-max"]["shield_overrides"] == {}, "static-max runs unshielded")
check(runs["oracle"]["energy_j"] <= runs["static-max"]["energy_j"], "the oracle spends no more than static-max")
# The shipped policies (models/governors) load, run from ONNX in edgeco's runtime, and spend less
# than the static settings on a seed they never trained on.
for sc in ["surveillance", "navigation", "har-wearable"]:
    got = {}
    for g in ["dqn", "static-max"]:
        out = run("simulate", "--scenario", sc, "--platform", "jetson-nano-ethos-u55", "--governor", g,
                  "--hours", "0.1", "--seed", "9", "--json")
        check(out.returncode == 0, "%s %s runs: %s" % (sc, g, out.stderr))
        got[g] = json.loads(out.stdout)
    check(got["dqn"]["energy_j"] < got["static-max"]["energy_j"] and got["dqn"]["decision_us"]["p50"] > 0
          and got["dqn"]["accuracy"] >= 0.95 * got["static-max"]["accuracy"],
          "%s: the shipped DQN spends %.1f J against static-max's %.1f J" % (
              sc, got["dqn"]["energy_j"], got["static-max"]["energy_j"]))
out = run("simulate", "--scenario", "surveillance", "--governor", "dqn", "--platform", "raspberry-pi-4")
check(out.returncode == 1 and "none is shipped" in out.stderr, "no shipped policy for a platform says so: " + out.stderr)

out = run("simulate", "--scenario", "har-wearable", "--event", "battery_drop@soon:5")
check(out.returncode == 1 and "'soon' is not a number" in out.stderr, "a bad --event says why: " + out.stderr)
out = run("simulate", "--scenario", "har-wearable", "--governor", "dqn", "--policy", "/nowhere.onnx")
check(out.returncode == 1 and "/nowhere.onnx" in out.stderr, "a missing policy is named: " + out.stderr)

out = run("scenarios", "--json")
names = sorted(s["name"] for s in json.loads(out.stdout))
check(names == ["har-wearable", "navigation", "surveillance", "surveillance-fog"], "scenarios lists the presets: %s" % names)

print("runtime_cli_test: %d failure(s)" % len(failures))
sys.exit(1 if failures else 0)
