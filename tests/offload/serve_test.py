#!/usr/bin/python3
"""edgeco serve against real peers: curl on REST, a gRPC client generated here from the Open
Inference Protocol's .proto by grpc_tools (Debian python3-grpc-tools), promtool on /metrics.
Outputs equal `edgeco run`'s (1e-5); hostile and malformed requests get clear errors and leave the
server alive; above the queue limit requests are refused as overloaded, never left hanging;
SIGTERM lets requests in flight finish.

  /usr/bin/python3 tests/offload/serve_test.py build/edgeco
"""
import concurrent.futures
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np

import oip
from checks import check
import checks

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MODELS = os.path.join(ROOT, "models", "fmnist")

class Served:
    """edgeco serve on loopback with free ports, stopped (SIGTERM, then SIGKILL) at the end."""

    def __init__(self, edgeco, paths, *extra):
        self.proc = subprocess.Popen([edgeco, "serve", *paths, "--http", "0", "--grpc", "0", "--json", *extra],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("edgeco serve did not start: " + self.proc.stderr.read())
        self.ports = json.loads(line)
        self.http = "http://127.0.0.1:%d" % self.ports["http_port"]
        self.grpc = "127.0.0.1:%d" % self.ports["grpc_port"]

    def stop(self, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def curl(url, *args):
    out = subprocess.run(["curl", "-s", "--max-time", "20", "-w", "\n%{http_code}", url, *args],
                         capture_output=True, text=True, check=True).stdout
    body, _, code = out.rpartition("\n")
    return int(code), body


def edgeco_run(edgeco, model, x, work):
    np.save(os.path.join(work, "x.npy"), x)
    out_dir = os.path.join(work, "run-out")
    subprocess.run([edgeco, "run", model, "--input", "input=" + os.path.join(work, "x.npy"), "--output-dir", out_dir,
                    "--json"], check=True, capture_output=True)
    return np.load(os.path.join(out_dir, "logits.npy"))


def run_tests(edgeco, work):
    import grpc
    pb, pb_grpc = oip.generate(work)
    models = ["student", "camera64"]
    paths = [os.path.join(MODELS, m + ".onnx") for m in models]
    server = Served(edgeco, paths)
    try:
        channel = grpc.insecure_channel(server.grpc)
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        check(stub.ServerLive(pb.ServerLiveRequest(), timeout=10).live, "gRPC ServerLive")
        check(stub.ServerReady(pb.ServerReadyRequest(), timeout=10).ready, "gRPC ServerReady")
        check(stub.ModelReady(pb.ModelReadyRequest(name="student"), timeout=10).ready, "gRPC ModelReady")
        check(not stub.ModelReady(pb.ModelReadyRequest(name="nope"), timeout=10).ready, "gRPC ModelReady: unknown")
        meta = stub.ServerMetadata(pb.ServerMetadataRequest(), timeout=10)
        check(meta.name == "edgeco", "gRPC ServerMetadata")
        for path in ("/v2", "/v2/health/live", "/v2/health/ready", "/v2/models/student", "/v2/models/student/ready",
                     "/v2/models/student/versions/1/ready"):
            code, _ = curl(server.http + path)
            check(code == 200, "REST GET %s is 200" % path)
        code, body = curl(server.http + "/v2/models/nope/ready")
        check(code == 404, "REST: an unknown model is not ready (404)")

        rng = np.random.default_rng(5)
        for name, path in zip(models, paths):
            mm = stub.ModelMetadata(pb.ModelMetadataRequest(name=name), timeout=10)
            dims = [1 if d < 0 else d for d in mm.inputs[0].shape]
            check(mm.inputs[0].datatype == "FP32" and mm.outputs[0].name == "logits",
                  "gRPC ModelMetadata of %s" % name)
            x = rng.uniform(0, 1, size=dims).astype(np.float32)
            expected = edgeco_run(edgeco, path, x, work)
            # REST with curl
            body = json.dumps({"id": "r1", "inputs": [{"name": "input", "shape": list(x.shape), "datatype": "FP32",
                                                      "data": x.flatten().tolist()}]})
            with open(os.path.join(work, "req.json"), "w") as f:
                f.write(body)
            code, answer = curl(server.http + "/v2/models/%s/infer" % name, "-X", "POST", "-H",
                                "Content-Type: application/json", "--data-binary", "@" + os.path.join(work, "req.json"))
            check(code == 200, "REST infer %s is 200" % name)
            doc = json.loads(answer)
            out = np.array(doc["outputs"][0]["data"], dtype=np.float32).reshape(doc["outputs"][0]["shape"])
            err = float(np.abs(out - expected).max())
            check(doc["id"] == "r1" and err <= 1e-5, "REST infer %s equals edgeco run (max |diff| %.2g)" % (name, err))
            # gRPC with raw contents, as Triton's clients send them
            req = pb.ModelInferRequest(model_name=name, id="g1")
            t = req.inputs.add()
            t.name, t.datatype = "input", "FP32"
            t.shape.extend(x.shape)
            req.raw_input_contents.append(x.tobytes())
            resp = stub.ModelInfer(req, timeout=20)
            got = np.frombuffer(resp.raw_output_contents[0], dtype=np.float32).reshape(resp.outputs[0].shape)
            err = float(np.abs(got - expected).max())
            check(resp.id == "g1" and err <= 1e-5, "gRPC infer %s equals edgeco run (max |diff| %.2g)" % (name, err))
            # gRPC with typed contents
            req = pb.ModelInferRequest(model_name=name)
            t = req.inputs.add()
            t.name, t.datatype = "input", "FP32"
            t.shape.extend(x.shape)
            t.contents.fp32_contents.extend(x.flatten().tolist())
            resp = stub.ModelInfer(req, timeout=20)
            got = np.frombuffer(resp.raw_output_contents[0], dtype=np.float32).reshape(resp.outputs[0].shape)
            check(float(np.abs(got - expected).max()) <= 1e-5, "gRPC infer %s with typed contents" % name)

        # Malformed and hostile requests: a clear error each, and the server still answers.
        bad = [("{", 400, "not JSON"),
               ('{"inputs": [{"name": "input", "shape": [1,1,28,28], "datatype": "FP32", "data": [1]}]}', 400,
                "has 1 values"),
               ('{"inputs": [{"name": "input", "shape": [1,1,27,28], "datatype": "FP32", "data": %s}]}'
                % json.dumps([0.0] * 756), 400, "input"),
               ('{"inputs": [{"name": "other", "shape": [1], "datatype": "FP32", "data": [1]}]}', 400, "input"),
               ('{"inputs": [{"name": "input", "shape": [99999999999], "datatype": "FP32", "data": []}]}', 400,
                "elements")]
        for body, status, says in bad:
            code, answer = curl(server.http + "/v2/models/student/infer", "-X", "POST", "--data-binary", body)
            ok = code == status and says in json.loads(answer).get("error", "")
            check(ok, "REST refuses %r with %d and says %r (got %d %s)" % (body[:40], status, says, code, answer[:120]))
        code, answer = curl(server.http + "/v2/models/nope/infer", "-X", "POST", "--data-binary", bad[1][0])
        check(code == 404 and "nope" in json.loads(answer)["error"], "REST: an unknown model's infer is 404")
        big = os.path.join(work, "big.bin")
        with open(big, "wb") as f:
            f.write(b"[" * (65 << 20))
        code, answer = curl(server.http + "/v2/models/student/infer", "-X", "POST", "--data-binary", "@" + big)
        check(code == 413, "REST: a request over the size limit is 413 (got %d)" % code)
        req = pb.ModelInferRequest(model_name="student")
        t = req.inputs.add()
        t.name, t.datatype = "input", "FP32"
        t.shape.extend([1, 1, 28, 28])
        req.raw_input_contents.append(b"\0" * 100)
        try:
            stub.ModelInfer(req, timeout=10)
            check(False, "gRPC refuses raw contents of the wrong size")
        except grpc.RpcError as e:
            check(e.code() == grpc.StatusCode.INVALID_ARGUMENT and "bytes" in e.details(),
                  "gRPC refuses raw contents of the wrong size: %s" % e.details())
        for port in (server.ports["grpc_port"], server.ports["http_port"]):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(os.urandom(4096))
                s.settimeout(2)
                try:
                    s.recv(100)
                except (socket.timeout, ConnectionResetError):
                    pass
        check(stub.ServerLive(pb.ServerLiveRequest(), timeout=10).live and curl(server.http + "/v2/health/live")[0] == 200,
              "garbage bytes on both ports leave the server alive")

        # /metrics through promtool
        code, metrics = curl(server.http + "/metrics")
        promtool = subprocess.run(["promtool", "check", "metrics"], input=metrics, capture_output=True, text=True)
        check(code == 200 and promtool.returncode == 0,
              "promtool check metrics accepts /metrics %s" % (promtool.stdout + promtool.stderr).strip()[:200])
        check('edgeco_requests_total{model="student"}' in metrics and "edgeco_request_duration_seconds_bucket" in metrics
              and 'reason="bad_request"' in metrics, "/metrics counts requests, failures and latency per model")
    finally:
        check(server.stop() == 0, "SIGTERM stops the server with exit code 0")

    # Overload: one worker, no queue; concurrent requests are served or refused at once.
    server = Served(edgeco, [os.path.join(MODELS, "camera96.onnx")], "--threads", "1", "--queue", "0")
    try:
        channel = grpc.insecure_channel(server.grpc)
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        x = np.random.default_rng(1).uniform(0, 1, size=(1, 1, 96, 96)).astype(np.float32)

        def one(_):
            req = pb.ModelInferRequest(model_name="camera96")
            t = req.inputs.add()
            t.name, t.datatype = "input", "FP32"
            t.shape.extend(x.shape)
            req.raw_input_contents.append(x.tobytes())
            start = time.monotonic()
            try:
                stub.ModelInfer(req, timeout=30)
                return "ok", time.monotonic() - start
            except grpc.RpcError as e:
                return (e.code().name + ":" + e.details()), time.monotonic() - start

        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            results = list(pool.map(one, range(64)))
        kinds = {}
        for r, _ in results:
            kinds[r.split(":")[0]] = kinds.get(r.split(":")[0], 0) + 1
        refused = [r for r, _ in results if r != "ok"]
        check(kinds.get("ok", 0) > 0 and all(r.startswith("RESOURCE_EXHAUSTED:overloaded") for r in refused),
              "above the queue limit requests are refused as overloaded, the rest served: %s %s"
              % (kinds, sorted(set(r[:60] for r in refused))))
        check(len(refused) > 0, "64 concurrent requests against 1 worker, 0 queue: some refused (%d)" % len(refused))
        # Graceful shutdown: requests in flight when SIGTERM arrives still get their answer.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pending = pool.submit(one, 0)
            time.sleep(0.005)
            server.proc.send_signal(signal.SIGTERM)
            result = pending.result()[0]
        check(result == "ok" or result.startswith("UNAVAILABLE"),
              "a request racing SIGTERM is answered or refused, never lost: %s" % result[:60])
        check(server.proc.wait(timeout=20) == 0, "the server exits 0 after SIGTERM")
    finally:
        server.stop()


if __name__ == "__main__":
    checks.run(run_tests, "edgeco-serve-test-")
