#!/usr/bin/python3
"""Head + tail == whole model in ONNX Runtime, at every cut `edgeco split` offers, for the shipped
student and a MobileNetV2 (edgeco zoo, width 0.35 at 96x96: the full network's 150-odd cuts,
small enough to write every pair): the split models are valid ONNX another runtime runs.

  /usr/bin/python3 tests/offload/split_ort_test.py build/edgeco
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def main():
    edgeco = sys.argv[1]
    work = tempfile.mkdtemp(prefix="edgeco-split-ort-")
    failed = False
    try:
        mobilenet = os.path.join(work, "mobilenet_v2.onnx")
        subprocess.run([edgeco, "zoo", "mobilenet_v2", "--width", "0.35", "--resolution", "96", "--classes", "10",
                        "--seed", "4", "-o", mobilenet], check=True, capture_output=True)
        for name, model, shape in (("student", os.path.join(ROOT, "models", "fmnist", "student.onnx"), [1, 1, 28, 28]),
                                   ("mobilenet_v2", mobilenet, [1, 3, 96, 96])):
            repo = os.path.join(work, name)
            subprocess.run([edgeco, "split", model, "--repository", repo, "--with-heads", "--name", name],
                           check=True, capture_output=True)
            with open(os.path.join(repo, name + ".input.json"), "w") as f:
                json.dump({"shape": shape}, f)
            r = subprocess.run(["node", os.path.join(HERE, "ort_split_check.js"), repo, name], capture_output=True,
                               text=True)
            result = json.loads(r.stdout) if r.stdout.strip() else {"error": r.stderr}
            ok = r.returncode == 0 and result.get("pairs", 0) > 100
            print("%s %s: %s pairs in ONNX Runtime, worst relative difference %s %s" % (
                "ok  " if ok else "FAIL", name, result.get("pairs"), result.get("worst"), result.get("failed", "")[:5]
                if "failed" in result else result))
            failed |= not ok
            shutil.rmtree(repo)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
