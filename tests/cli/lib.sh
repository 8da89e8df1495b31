# Shared by the command-line test scripts: sourced after EDGECO is set.
PY=/usr/bin/python3
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
failures=0

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# expect_error NAME EXPECTED_SUBSTRING -- COMMAND...: exit code 1 (a clean error, not a crash) and the message.
expect_error() {
  local name=$1 want=$2
  shift 3
  local out rc
  out=$("$@" 2>&1)
  rc=$?
  if [ "$rc" -ne 1 ]; then fail "$name: exit code $rc, expected 1: $out"; return; fi
  case "$out" in *"$want"*) echo "ok: $name" ;; *) fail "$name: message lacks '$want': $out" ;; esac
}

# finish: the script's exit status from the failures counted.
finish() {
  if [ "$failures" -ne 0 ]; then echo "$failures check(s) failed"; exit 1; fi
  echo "all checks passed"
}
