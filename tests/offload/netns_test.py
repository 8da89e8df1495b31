#!/usr/bin/python3
"""The split follows the real link: two network namespaces made here (an edge and a fog node joined
by a veth pair), `tc netem` shaping the link (delay, loss, a rate limit; where the kernel lacks netem, a token bucket
limits the rate alone), `edgeco serve` in the fog
namespace and `edgeco stream --offload --split auto` in the edge one, on camera96 priced as a Coral
Dev Board against this machine as the server. As the rate drops the cut the client settles on
moves toward local, and on the slowest link every frame stays on the device. All traffic stays in
the namespaces; they are deleted at the end. Skips (exit 0, saying why) where namespaces cannot be
made (not root, no iproute2, a sandbox that forbids them).

  /usr/bin/python3 tests/offload/netns_test.py build/edgeco
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MODEL = os.path.join(ROOT, "models", "fmnist", "camera96.onnx")
PID = os.getpid() % 100000
EDGE, FOG = "ec-edge-%d" % PID, "ec-fog-%d" % PID
VE, VF = "ece%d" % PID, "ecf%d" % PID
EDGE_IP, FOG_IP = "10.231.77.1", "10.231.77.2"
PORT = 18001


def sh(*cmd, check=True):
    return subprocess.run(cmd, capture_output=True, text=True, check=check)


def setup():
    sh("ip", "netns", "add", EDGE)
    sh("ip", "netns", "add", FOG)
    sh("ip", "link", "add", VE, "type", "veth", "peer", "name", VF)
    sh("ip", "link", "set", VE, "netns", EDGE)
    sh("ip", "link", "set", VF, "netns", FOG)
    for ns, dev, ip in ((EDGE, VE, EDGE_IP), (FOG, VF, FOG_IP)):
        sh("ip", "-n", ns, "addr", "add", ip + "/24", "dev", dev)
        sh("ip", "-n", ns, "link", "set", dev, "up")
        sh("ip", "-n", ns, "link", "set", "lo", "up")


NETEM = True  # False where the kernel lacks sch_netem: the rate alone, by a token bucket


def shape(rate_mbit, delay_ms, loss_pct):
    for ns, dev in ((EDGE, VE), (FOG, VF)):
        if NETEM:
            sh("tc", "-n", ns, "qdisc", "replace", "dev", dev, "root", "netem", "delay", "%gms" % delay_ms, "loss",
               "%g%%" % loss_pct, "rate", "%gmbit" % rate_mbit)
        else:
            sh("tc", "-n", ns, "qdisc", "replace", "dev", dev, "root", "tbf", "rate", "%gmbit" % rate_mbit, "burst",
               "32kbit", "latency", "2000ms")


def teardown():
    for ns in (EDGE, FOG):
        sh("ip", "netns", "del", ns, check=False)


def main():
    edgeco = os.path.abspath(sys.argv[1])
    if os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("tc") is None:
        print("skipped: needs root with ip and tc (iproute2) to make network namespaces")
        return 0
    global NETEM
    try:
        setup()
        try:
            shape(1000, 0.5, 0)
        except subprocess.CalledProcessError as e:
            NETEM = False
            print("note: netem is not in this kernel (%s): the link is shaped by rate only (tbf), without "
                  "delay or loss" % (e.stderr or "").strip())
            shape(1000, 0.5, 0)
    except subprocess.CalledProcessError as e:
        teardown()
        print("skipped: this machine refuses network namespaces or netem: " + (e.stderr or "").strip())
        return 0
    work = tempfile.mkdtemp(prefix="edgeco-netns-test-")
    server = None
    failed = []
    try:
        repo = os.path.join(work, "repo")
        sh(edgeco, "split", MODEL, "--repository", repo)
        server = subprocess.Popen(["ip", "netns", "exec", FOG, edgeco, "serve", repo, "--host", FOG_IP, "--grpc",
                                   str(PORT), "--http", "-1", "--json", "--fast"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if not server.stdout.readline():
            raise RuntimeError("edgeco serve did not start in the fog namespace: " + server.stderr.read())
        cuts = []
        for rate, delay, loss in ((1000, 0.5, 0), (20, 2, 0.5), (1, 5, 1)):
            shape(rate, delay, loss)
            out = sh("ip", "netns", "exec", EDGE, edgeco, "stream", MODEL, "--rate", "20", "--count", "100",
                     "--queue", "100", "--platform", "coral-dev-board", "--offload", "%s:%d" % (FOG_IP, PORT),
                     "--split", "auto", "--offload-timeout-ms", "300", "--json", "--out", os.path.join(work, "f.jsonl"))
            summary = json.loads(out.stdout.strip().splitlines()[-1])["summary"]
            st = summary["offload"]["camera96"]
            cuts.append(st["cut"])
            print("link %g Mbit/s, %g ms, %g%% loss: settled on cut %d of %d (all local: %s), estimated %.1f Mbit/s, "
                  "RTT %.2f ms; frames %s" % (rate, delay, loss, st["cut"], st["cuts"] - 1, st["all_local"],
                                              st["bandwidth_mbps"], st["rtt_ms"], summary["served_where"]))
            if summary["served"] != 100:
                failed.append("at %g Mbit/s not every frame was served" % rate)
        if cuts != sorted(cuts):
            failed.append("the cut did not move toward local as the rate dropped: %s" % cuts)
        if cuts[0] == cuts[-1]:
            failed.append("the cut did not move at all: %s" % cuts)
        if not st["all_local"]:
            failed.append("at 1 Mbit/s frames still left the device")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=20)
        teardown()
        shutil.rmtree(work, ignore_errors=True)
    for f in failed:
        print("FAIL " + f)
    if not failed:
        print("ok   the cut moved toward local as the link slowed: %s" % cuts)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
