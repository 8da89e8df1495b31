#!/usr/bin/python3
"""Load on the fog server: N concurrent clients on loopback for a bounded time against `edgeco serve`
and, at the same concurrency in the same run, ONNX Runtime behind Node's http server
(peers/ort_oip_server.js) speaking the same REST call. Prints throughput and p50/p99 latency for
each and edgeco/peer ratios; every request must succeed below the queue limit. Then an overload
phase (1 worker, a queue of 2, 16 clients): every request is answered, served or refused as
"overloaded" (HTTP 503) at once, none hangs or fails otherwise.

  /usr/bin/python3 bench/serve_load.py --edgeco build/edgeco [--model models/fmnist/camera64.onnx]
      [--clients 1,4,8] [--seconds 5] [--json]
"""
import argparse
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def start(cmd):
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError("%s did not start: %s" % (cmd[0], proc.stderr.read()))
    return proc, json.loads(line)["http_port"]


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def load(port, name, body, clients, seconds):
    """clients threads, each with a keep-alive connection, posting for `seconds`."""
    latencies, statuses, errors = [], {}, []
    lock = threading.Lock()
    end = time.monotonic() + seconds

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine, codes = [], {}
        while time.monotonic() < end:
            t0 = time.monotonic()
            try:
                conn.request("POST", "/v2/models/%s/infer" % name, body, {"Content-Type": "application/json"})
                r = conn.getresponse()
                answer = r.read()
                codes[r.status] = codes.get(r.status, 0) + 1
                if r.status == 200:
                    mine.append((time.monotonic() - t0) * 1e3)
                elif r.status == 503 and b"overloaded" not in answer:
                    errors.append(answer[:100])
            except Exception as e:  # a dropped connection counts as a failure
                errors.append(repr(e)[:100])
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        with lock:
            latencies.extend(mine)
            for k, v in codes.items():
                statuses[k] = statuses.get(k, 0) + v

    threads = [threading.Thread(target=client) for _ in range(clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    lat = np.array(latencies) if latencies else np.array([float("nan")])
    return {"clients": clients, "requests_per_s": len(latencies) / wall, "p50_ms": float(np.percentile(lat, 50)),
            "p99_ms": float(np.percentile(lat, 99)), "statuses": statuses, "errors": len(errors)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edgeco", default=os.path.join(ROOT, "build", "edgeco"))
    parser.add_argument("--model", default=os.path.join(ROOT, "models", "fmnist", "camera64.onnx"))
    parser.add_argument("--clients", default="1,4,8")
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    name = os.path.splitext(os.path.basename(args.model))[0]
    info = json.loads(subprocess.run([args.edgeco, "info", args.model, "--json"], capture_output=True, text=True,
                                     check=True).stdout)
    shape = [1 if d is None or d < 0 else d for d in info["inputs"][0]["type"]["shape"]]
    x = np.random.default_rng(0).uniform(0, 1, size=shape).astype(np.float32)
    body = json.dumps({"inputs": [{"name": info["inputs"][0]["name"], "shape": shape, "datatype": "FP32",
                                   "data": x.flatten().tolist()}]})
    clients = [int(c) for c in args.clients.split(",")]
    rows, ok = [], True
    edgeco, e_port = start([args.edgeco, "serve", args.model, "--http", "0", "--grpc", "-1", "--json", "--fast",
                            "--threads", "2", "--queue", str(max(clients) * 2)])
    peer, p_port = start(["node", os.path.join(HERE, "peers", "ort_oip_server.js"), args.model, name])
    try:
        for c in clients:
            # Alternating, so both see the same machine.
            e = load(e_port, name, body, c, args.seconds)
            p = load(p_port, name, body, c, args.seconds)
            good = e["errors"] == 0 and set(e["statuses"]) == {200}
            ok &= good
            rows.append({"clients": c, "edgeco": e, "ort_node": p,
                         "throughput_ratio": e["requests_per_s"] / p["requests_per_s"],
                         "p99_ratio": e["p99_ms"] / p["p99_ms"], "all_served": good})
    finally:
        stop(edgeco)
        stop(peer)
    edgeco, e_port = start([args.edgeco, "serve", args.model, "--http", "0", "--grpc", "-1", "--json", "--fast",
                            "--threads", "1", "--queue", "2"])
    try:
        over = load(e_port, name, body, 16, args.seconds)
    finally:
        stop(edgeco)
    over_ok = over["errors"] == 0 and set(over["statuses"]) <= {200, 503} and over["statuses"].get(503, 0) > 0
    ok &= over_ok
    if args.json:
        print(json.dumps({"model": name, "rows": rows, "overload": over, "ok": ok}))
    else:
        print("%s over REST JSON on loopback, %g s per point (measured)" % (name, args.seconds))
        print("clients  edgeco req/s  p50 ms  p99 ms | ORT+node req/s  p50 ms  p99 ms | throughput x  p99 x  all served")
        for r in rows:
            e, p = r["edgeco"], r["ort_node"]
            print("%7d  %12.0f  %6.2f  %6.2f | %14.0f  %6.2f  %6.2f | %12.2f  %5.2f  %s" % (
                r["clients"], e["requests_per_s"], e["p50_ms"], e["p99_ms"], p["requests_per_s"], p["p50_ms"],
                p["p99_ms"], r["throughput_ratio"], r["p99_ratio"], r["all_served"]))
        print("overload (1 worker, queue 2, 16 clients): %s, %d other failures, served p99 %.1f ms -> %s" % (
            over["statuses"], over["errors"], over["p99_ms"], "ok" if over_ok else "FAILED"))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
