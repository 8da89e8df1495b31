#!/usr/bin/python3
"""The kernel's governors on every scenario preset, simulated (`edgeco simulate --json`): average
power, energy per frame, latency, deadline misses, temperature and time throttled, as a Markdown
table. The baselines issue 18's learned controller has to beat.

    bench/governors.py [path/to/edgeco] [--hours H] [--seed N]"""
import argparse
import json
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ap = argparse.ArgumentParser()
ap.add_argument("edgeco", nargs="?", default=os.path.join(ROOT, "build", "edgeco"))
ap.add_argument("--hours", type=float, default=0, help="0: each scenario's own length")
ap.add_argument("--seed", type=int, default=1)
a = ap.parse_args()

scenarios = json.loads(subprocess.run([a.edgeco, "scenarios", "--json"], check=True,
                                      capture_output=True, text=True).stdout)
print("| scenario (platform, hours) | governor | avg power W | mJ per frame | p95 latency ms | "
      "deadline misses | dropped | temp mean / max C | throttled s | battery end % |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for sc in scenarios:
    for g in ["performance", "powersave", "ondemand", "conservative", "schedutil"]:
        cmd = [a.edgeco, "simulate", "--scenario", sc["name"], "--governor", g, "--seed", str(a.seed), "--json"]
        if a.hours > 0:
            cmd += ["--hours", str(a.hours)]
        s = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        print("| %s (%s, %g) | %s | %.3f | %.2f | %.2f | %d | %d | %.1f / %.1f | %.0f | %.1f |" % (
            sc["name"], s["platform"], s["simulated_s"] / 3600, g, s["avg_power_w"],
            1e3 * s["energy_j"] / max(1, s["served"]), s["latency_ms"]["p95"], s["deadline_misses"],
            s["dropped"], s["temperature_c"]["mean"], s["temperature_c"]["max"], s["throttled_s"],
            s["battery"]["end_pct"]))
