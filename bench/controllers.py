#!/usr/bin/python3
"""The runtime controllers against the paper's claims and issue 18's bars, simulated
(`edgeco simulate --json`) on every scenario preset on one platform: the DQN (the policy shipped
in models/governors, shielded), the rule-based controller, the kernel's schedutil and ondemand,
static-max (the paper's "static settings") and the clairvoyant oracle, 24 simulated hours each on
a seed the DQN never trained on. Then the DQN on an unseen seed with the ambient 10 C hotter,
1,000 simulated hours shielded, and injected events (reaction time). Prints Markdown tables and
each bar met or missed with its figure; --json writes every summary.

    bench/controllers.py [path/to/edgeco] [--platform P] [--hours H] [--long-hours H] [--json F]"""
import argparse
import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ap = argparse.ArgumentParser()
ap.add_argument("edgeco", nargs="?", default=os.path.join(ROOT, "build", "edgeco"))
ap.add_argument("--platform", default="jetson-nano-ethos-u55")
ap.add_argument("--hours", type=float, default=24)
ap.add_argument("--long-hours", type=float, default=1000)
ap.add_argument("--seed", type=int, default=1, help="evaluation seed (training used 1001..)")
ap.add_argument("--jobs", type=int, default=2)
ap.add_argument("--json", help="write every summary here")
a = ap.parse_args()

SCENARIOS = ["surveillance", "navigation", "har-wearable"]
GOVERNORS = ["static-max", "schedutil", "ondemand", "rule", "dqn", "oracle"]


def simulate(scenario, governor, *extra, hours=None):
    cmd = [a.edgeco, "simulate", "--scenario", scenario, "--platform", a.platform, "--governor",
           governor, "--hours", str(hours or a.hours), "--json", *extra]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit("failed: %s\n%s" % (" ".join(cmd), out.stderr))
    return json.loads(out.stdout)


jobs = {}
with ThreadPoolExecutor(a.jobs) as pool:
    # The long run first: it takes the longest.
    jobs["long"] = pool.submit(simulate, "surveillance", "dqn", "--seed", str(a.seed + 100),
                               hours=a.long_hours)
    for sc in SCENARIOS:
        for g in GOVERNORS:
            jobs[(sc, g)] = pool.submit(simulate, sc, g, "--seed", str(a.seed))
        for g in ["dqn", "schedutil"]:
            jobs[(sc, g, "hot")] = pool.submit(simulate, sc, g, "--seed", str(a.seed + 1),
                                                "--ambient-offset", "10")
    events = {"har-wearable": ["battery_drop@3600.05:8", "battery_drop@7200.05:5"],
              "surveillance": ["load_burst@3600.05:400:60", "load_burst@7200.05:800:60"],
              "navigation": ["ambient_step@3600.05:25", "load_burst@7200.05:120:60"]}
    for sc, evs in events.items():
        extra = ["--seed", str(a.seed)]
        for e in evs:
            extra += ["--event", e]
        jobs[(sc, "dqn", "events")] = pool.submit(simulate, sc, "dqn", *extra, hours=3)
    results = {k: v.result() for k, v in jobs.items()}

bars = []


def bar(ok, text):
    bars.append(("met" if ok else "MISSED", text))


print("| scenario | controller | avg power W | device W (no board static) | accuracy | misses | dropped | temp mean / max C | throttled s | decision p99 us | overrides |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
for sc in SCENARIOS:
    for g in GOVERNORS:
        s = results[(sc, g)]
        dev_w = (s["energy_j"] - s["device_energy_j"]["board"]) / s["simulated_s"]
        print("| %s | %s | %.4f | %.4f | %.4f | %d | %d | %.1f / %.1f | %.0f | %.1f | %s |" % (
            sc, g, s["avg_power_w"], dev_w, s["accuracy"], s["deadline_misses"], s["dropped"],
            s["temperature_c"]["mean"], s["temperature_c"]["max"], s["throttled_s"],
            s["decision_us"]["p99"], s["shield_overrides"] or "-"))

for sc in SCENARIOS:
    r = {g: results[(sc, g)] for g in GOVERNORS}
    d, top, orc = r["dqn"], r["static-max"], r["oracle"]
    board = d["device_energy_j"]["board"]
    ratio = d["energy_j"] / top["energy_j"]
    dev_ratio = (d["energy_j"] - board) / (top["energy_j"] - top["device_energy_j"]["board"])
    bar(ratio <= 0.40 and d["accuracy"] >= 0.95 * top["accuracy"],
        "%s: DQN energy %.3f x static-max (bar 0.40; the devices alone, without the board's "
        "static power, %.3f x), accuracy %.4f vs %.4f (bar >= 0.95 x)" % (
            sc, ratio, dev_ratio, d["accuracy"], top["accuracy"]))
    best = min(["schedutil", "ondemand", "rule"], key=lambda g: r[g]["energy_j"])
    b = r[best]
    bar(d["energy_j"] <= 0.85 * b["energy_j"] and d["deadline_misses"] <= b["deadline_misses"],
        "%s: DQN energy %.4f x the best baseline (%s; bar 0.85), misses %d vs %d" % (
            sc, d["energy_j"] / b["energy_j"], best, d["deadline_misses"], b["deadline_misses"]))
    bar(d["energy_j"] <= 1.10 * orc["energy_j"] and d["deadline_misses"] <= orc["deadline_misses"],
        "%s: DQN energy %.4f x the oracle's (bar 1.10), misses %d vs %d" % (
            sc, d["energy_j"] / orc["energy_j"], d["deadline_misses"], orc["deadline_misses"]))
    bar(d["temperature_c"]["mean"] <= top["temperature_c"]["mean"] - 8,
        "%s: DQN mean temperature %.2f C vs static-max %.2f C (bar 8 C cooler): %.2f C cooler" % (
            sc, d["temperature_c"]["mean"], top["temperature_c"]["mean"],
            top["temperature_c"]["mean"] - d["temperature_c"]["mean"]))
    bar(d["decision_us"]["p99"] <= 1000, "%s: DQN decision p99 %.1f us (bar 1000)" % (sc, d["decision_us"]["p99"]))
    hd, hs = results[(sc, "dqn", "hot")], results[(sc, "schedutil", "hot")]
    bar(hd["energy_j"] <= 0.85 * hs["energy_j"] and hd["deadline_misses"] <= hs["deadline_misses"]
        and hd["throttled_s"] == 0,
        "%s, unseen seed %d and ambient +10 C: DQN energy %.4f x schedutil (bar 0.85), misses %d vs %d, "
        "throttled %.0f s, max %.1f C" % (sc, a.seed + 1, hd["energy_j"] / hs["energy_j"], hd["deadline_misses"],
                                       hs["deadline_misses"], hd["throttled_s"], hd["temperature_c"]["max"]))
    ev = results[(sc, "dqn", "events")]
    bar(ev["reaction_ms"]["events"] > 0 and ev["reaction_ms"]["unanswered"] == 0 and ev["reaction_ms"]["max"] <= 200,
        "%s: reaction to %d injected events: p50 %.1f ms, max %.1f ms, %d unanswered (bar 200 ms)" % (
            sc, ev["reaction_ms"]["events"], ev["reaction_ms"]["p50"], ev["reaction_ms"]["max"],
            ev["reaction_ms"]["unanswered"]))

lg = results["long"]
bar(lg["throttled_s"] == 0 and not lg["shutdown"],
    "surveillance, %g simulated hours, DQN shielded: throttled %.0f s, max %.1f C, overrides %s" % (
        lg["simulated_s"] / 3600, lg["throttled_s"], lg["temperature_c"]["max"], lg["shield_overrides"] or "none"))

print()
for verdict, text in bars:
    print("- %s: %s" % (verdict, text))
if a.json:
    with open(a.json, "w") as f:
        json.dump({" / ".join(map(str, k)) if isinstance(k, tuple) else k: v for k, v in results.items()}, f, indent=1)
