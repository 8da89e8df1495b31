#!/usr/bin/env bash
# The README's conformance table must say what `edgeco conformance` prints today.
#   tests/conformance/check_readme.sh EDGECO README.md DATA_DIR
set -uo pipefail
EDGECO=$1 README=$2 DATA=$3
status=0
for suite in node pytorch-converted pytorch-operator simple; do
  measured=$("$EDGECO" conformance -q "$DATA/$suite" | tail -n 1)
  row=$(grep -E "^\| \`$suite\` \|" "$README" | head -n 1)
  if [ -z "$row" ]; then echo "README has no row for $suite"; status=1; continue; fi
  # Row: | `suite` | passed | failed | skipped |
  readme=$(echo "$row" | awk -F'|' '{gsub(/ /, "", $3); gsub(/ /, "", $4); gsub(/ /, "", $5); print $3 " passed, " $4 " failed, " $5 " skipped"}')
  if [ "$measured" != "$readme" ]; then
    echo "$suite: edgeco prints '$measured', README says '$readme'"
    status=1
  else
    echo "$suite: $measured (matches README)"
  fi
done
exit $status
