"""The offload tests' harness: named checks that print ok/FAIL, and a run in a temporary folder that
exits 1 when any check failed."""
import shutil
import sys
import tempfile

failures = []


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what, flush=True)
    if not condition:
        failures.append(what)


def run(tests, prefix):
    """tests(edgeco, work) with edgeco from the command line and a fresh folder, removed after."""
    edgeco = sys.argv[1]
    work = tempfile.mkdtemp(prefix=prefix)
    try:
        tests(edgeco, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if failures:
        print("%d check(s) failed" % len(failures))
        sys.exit(1)
    print("all checks passed")
