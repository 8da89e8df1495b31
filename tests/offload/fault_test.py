#!/usr/bin/python3
"""Offloading survives its server: a 1,000-frame `edgeco stream --offload` on loopback while the fog
node is killed with SIGKILL after ~200 frames and restarted after ~500; then against a server that
answers garbage bytes, one that answers well-formed but wrong tensors, one that answers past the
timeout, and a port that refuses connections. Every time: 1,000 results, each frame exactly once,
none dropped, each prediction equal to the all-local run's, and where each ran reported.

  /usr/bin/python3 tests/offload/fault_test.py build/edgeco
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent import futures

import oip
from checks import check
import checks

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
STUDENT = os.path.join(ROOT, "models", "fmnist", "student.onnx")
FRAMES, RATE = 1000, 250
def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stream(edgeco, work, name, *extra):
    out = os.path.join(work, name + ".jsonl")
    cmd = [edgeco, "stream", STUDENT, "--rate", str(RATE), "--count", str(FRAMES), "--queue", str(FRAMES),
           "--out", out, "--json", *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True), out


def read_frames(path):
    frames = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                if line.endswith("\n"):
                    frames.append(json.loads(line))
    return frames


def finish(proc, path):
    stdout, stderr = proc.communicate(timeout=120)
    if proc.returncode != 0:
        raise RuntimeError("edgeco stream failed (%d): %s" % (proc.returncode, stderr))
    return read_frames(path), json.loads(stdout.strip().splitlines()[-1])["summary"]


def check_run(label, frames, summary, local):
    ids = sorted(f["frame"] for f in frames)
    check(ids == list(range(FRAMES)), "%s: %d results, each frame exactly once" % (label, len(frames)))
    check(not any(f.get("dropped") for f in frames) and summary["dropped"] == 0, "%s: none dropped" % label)
    wrong = [f["frame"] for f in frames if f.get("predicted") != local.get(f["frame"])]
    check(not wrong, "%s: every prediction equals the local run's (%d differ)" % (label, len(wrong)))
    where = {}
    for f in frames:
        where[f["where"]] = where.get(f["where"], 0) + 1
    check(summary["served_where"] == where, "%s: where each ran is reported: %s" % (label, where))
    return where


class Served:
    def __init__(self, edgeco, repo, port):
        self.proc = subprocess.Popen([edgeco, "serve", repo, "--http", "-1", "--grpc", str(port), "--json", "--fast"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if not self.proc.stdout.readline():
            raise RuntimeError("edgeco serve did not start: " + self.proc.stderr.read())

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def garbage_server(port, stop):
    """Accepts connections and answers each with random bytes."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(16)
    srv.settimeout(0.2)
    while not stop.is_set():
        try:
            conn, _ = srv.accept()
        except socket.timeout:
            continue
        with conn:
            try:
                conn.sendall(os.urandom(512))
            except OSError:
                pass
    srv.close()


def fake_grpc_server(work, port, mode):
    """A protocol server written here: 'slow' answers after 1 s, 'wrong' answers at once with a
    tensor whose bytes do not match its shape."""
    import grpc
    pb, pb_grpc = oip.generate(work)

    class Fake(pb_grpc.GRPCInferenceServiceServicer):
        def ServerReady(self, request, context):
            return pb.ServerReadyResponse(ready=True)

        def ModelInfer(self, request, context):
            if mode == "slow":
                time.sleep(1.0)
            r = pb.ModelInferResponse(model_name=request.model_name)
            o = r.outputs.add()
            o.name, o.datatype = "logits", "FP32"
            o.shape.extend([1, 10])
            r.raw_output_contents.append(b"\1" * 12)
            return r

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(Fake(), server)
    server.add_insecure_port("127.0.0.1:%d" % port)
    server.start()
    return server


def run_tests(edgeco, work):
    repo = os.path.join(work, "repo")
    os.makedirs(repo)
    subprocess.run([edgeco, "split", STUDENT, "--at", "Clip6", "--head", os.path.join(work, "head.onnx"), "--tail",
                    os.path.join(repo, "student.cut6.onnx")], check=True, capture_output=True)
    proc, path = stream(edgeco, work, "local")
    frames, _ = finish(proc, path)
    local = {f["frame"]: f["predicted"] for f in frames}
    check(len(local) == FRAMES, "the local run serves all %d frames" % FRAMES)

    # The fog node killed and restarted under the stream.
    port = free_port()
    server = Served(edgeco, repo, port)
    proc, path = stream(edgeco, work, "killed", "--offload", "127.0.0.1:%d" % port, "--split", "Clip6",
                        "--offload-timeout-ms", "500")
    killed_at = restarted_at = None
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        n = len(read_frames(path))
        if killed_at is None and n >= 200:
            server.kill()
            killed_at = n
        if killed_at is not None and restarted_at is None and n >= 500:
            server = Served(edgeco, repo, port)
            restarted_at = n
        time.sleep(0.01)
    frames, summary = finish(proc, path)
    server.kill()
    check(killed_at is not None and restarted_at is not None,
          "server killed after %s frames, restarted after %s" % (killed_at, restarted_at))
    where = check_run("SIGKILL and restart", frames, summary, local)
    by_frame = {f["frame"]: f["where"] for f in frames}
    before = [by_frame[i] for i in range(0, 150)]
    after = [by_frame[i] for i in range(900, FRAMES)]
    check(before.count("offload") > 100, "before the kill frames ran on the server (%d of 150)" % before.count("offload"))
    check(where.get("fallback", 0) > 0, "while it was down frames fell back (%d)" % where.get("fallback", 0))
    check(after.count("offload") > 50, "after the restart the client reconnected (%d of the last 100 offloaded)"
          % after.count("offload"))

    # Garbage bytes, wrong tensors, answers past the timeout, refused connections.
    stop = threading.Event()
    port = free_port()
    t = threading.Thread(target=garbage_server, args=(port, stop), daemon=True)
    t.start()
    cases = [("garbage bytes", port)]
    slow_port, wrong_port = free_port(), free_port()
    slow = fake_grpc_server(work, slow_port, "slow")
    wrong = fake_grpc_server(work, wrong_port, "wrong")
    cases += [("answers past the timeout", slow_port), ("malformed answers", wrong_port),
              ("refused connections", free_port())]
    try:
        for label, p in cases:
            proc, path = stream(edgeco, work, label.replace(" ", "-"), "--offload", "127.0.0.1:%d" % p, "--split",
                                "Clip6", "--offload-timeout-ms", "100")
            frames, summary = finish(proc, path)
            where = check_run(label, frames, summary, local)
            check(where.get("fallback", 0) == FRAMES, "%s: every frame fell back to the local tail" % label)
            check(summary["offload"]["student"]["failures"] > 0, "%s: failures counted (%d)"
                  % (label, summary["offload"]["student"]["failures"]))
    finally:
        stop.set()
        slow.stop(0)
        wrong.stop(0)


if __name__ == "__main__":
    checks.run(run_tests, "edgeco-fault-test-")
