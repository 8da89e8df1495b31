#!/usr/bin/python3
"""Issue 19's simulated bars: on a scenario with a fog node and a good link (surveillance-fog), the
DQN that may offload (models/governors/surveillance-fog.PLATFORM.onnx) against the DQN trained on
the same scenario without offloading (surveillance-fog.PLATFORM.local.onnx, `--no-offload`) and the
rule controller: device energy over the run; then the same with the link cut mid-run
(`--event link_down@...`): deadline misses and fallbacks. Everything here is simulated (the link,
the fog node, the board); seeds the policies never trained on. Prints a Markdown table and each bar.

    bench/offload_sim.py [path/to/edgeco] [--hours H] [--seed S] [--json F]"""
import argparse
import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ap = argparse.ArgumentParser()
ap.add_argument("edgeco", nargs="?", default=os.path.join(ROOT, "build", "edgeco"))
ap.add_argument("--platform", default="jetson-nano-ethos-u55")
ap.add_argument("--hours", type=float, default=6)
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--jobs", type=int, default=2)
ap.add_argument("--json", help="write every summary here")
a = ap.parse_args()

SCENARIO = "surveillance-fog"
policies = os.path.join(ROOT, "models", "governors")
fog_policy = os.path.join(policies, "%s.%s.onnx" % (SCENARIO, a.platform))
local_policy = os.path.join(policies, "%s.%s.local.onnx" % (SCENARIO, a.platform))
cut_at, cut_for = a.hours * 3600 / 3, a.hours * 3600 / 3  # the middle third without a link


def simulate(*extra):
    cmd = [a.edgeco, "simulate", "--scenario", SCENARIO, "--platform", a.platform, "--hours", str(a.hours),
           "--seed", str(a.seed), "--json", *extra]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit("failed: %s\n%s" % (" ".join(cmd), out.stderr))
    return json.loads(out.stdout)


runs = {
    "dqn+offload": ["--governor", "dqn", "--policy", fog_policy],
    "dqn local": ["--governor", "dqn", "--policy", local_policy, "--no-offload"],
    "rule (local)": ["--governor", "rule"],
    "oracle+offload": ["--governor", "oracle"],
    "oracle local": ["--governor", "oracle", "--no-offload"],
}
cut = ["--event", "link_down@%g:%g" % (cut_at, cut_for)]
with ThreadPoolExecutor(a.jobs) as pool:
    jobs = {(name, link): pool.submit(simulate, *args, *(cut if link == "cut" else []))
            for name, args in runs.items() for link in ("good", "cut")}
    results = {k: v.result() for k, v in jobs.items()}

print("%s on %s, %g simulated hours, seed %d (simulated)\n" % (SCENARIO, a.platform, a.hours, a.seed))
print("| controller | link | energy J | misses | dropped | offloaded | fallbacks | accuracy | link overrides |")
print("|---|---|---|---|---|---|---|---|---|")
for (name, link), s in results.items():
    print("| %s | %s | %.0f | %d | %d | %d | %d | %.4f | %d |" % (
        name, "good" if link == "good" else "cut %g-%g s" % (cut_at, cut_at + cut_for), s["energy_j"],
        s["deadline_misses"], s["dropped"], s["offloaded"], s["fallbacks"], s["accuracy"],
        s["shield_overrides"].get("link", 0)))
fog, local = results[("dqn+offload", "good")], results[("dqn local", "good")]
ratio = fog["energy_j"] / local["energy_j"]
print("\nbar: with a good link the DQN with offload uses less device energy than without: %.3fx -> %s" % (
    ratio, "met" if ratio < 1 else "MISSED"))
fog_cut, local_cut = results[("dqn+offload", "cut")], results[("dqn local", "cut")]
print("bar: with the link cut it misses no more deadlines than the local-only policy: %d vs %d -> %s" % (
    fog_cut["deadline_misses"], local_cut["deadline_misses"],
    "met" if fog_cut["deadline_misses"] <= local_cut["deadline_misses"] else "MISSED"))
o_fog, o_local = results[("oracle+offload", "good")], results[("oracle local", "good")]
print("what offloading can save here at best (the clairvoyant oracle with and without it): %.3fx" % (
    o_fog["energy_j"] / o_local["energy_j"]))
if a.json:
    with open(a.json, "w") as f:
        json.dump({"%s/%s" % k: v for k, v in results.items()}, f, indent=1)
