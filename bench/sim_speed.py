#!/usr/bin/python3
"""The simulator's speed: it is the DQN's training environment, so 24 simulated hours of the
surveillance scenario under schedutil must take at most 5 s of wall time on one core. Runs
`edgeco simulate` pinned to one CPU, three times, and prints the best wall time and the
simulated-seconds-per-wall-second ratio (the pricing of the variants, done once, included).

    bench/sim_speed.py [path/to/edgeco] [--scenario surveillance] [--governor schedutil] [--hours 24]"""
import argparse
import json
import os
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ap = argparse.ArgumentParser()
ap.add_argument("edgeco", nargs="?", default=os.path.join(ROOT, "build", "edgeco"))
ap.add_argument("--scenario", default="surveillance")
ap.add_argument("--governor", default="schedutil")
ap.add_argument("--hours", type=float, default=24)
ap.add_argument("--bar-s", type=float, default=5.0)
a = ap.parse_args()

cmd = ["taskset", "-c", "0", a.edgeco, "simulate", "--scenario", a.scenario, "--governor", a.governor,
       "--hours", str(a.hours), "--json"]
best, summary = None, None
for _ in range(3):
    start = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True,
                         env=dict(os.environ, OMP_NUM_THREADS="1"))
    wall = time.perf_counter() - start
    summary = json.loads(out.stdout)
    best = wall if best is None else min(best, wall)
ratio = summary["simulated_s"] / best
print("%s, %s, %.0f simulated hours: %d frames, %.2f s wall on one core (best of 3)"
      % (a.scenario, a.governor, a.hours, summary["frames"], best))
print("simulated seconds per wall second: %.0f (bar: >= %.0f, i.e. %.0f h in %.0f s)"
      % (ratio, a.hours * 3600 / a.bar_s, a.hours, a.bar_s))
print("bar %s" % ("met" if best <= a.bar_s else "NOT met"))
