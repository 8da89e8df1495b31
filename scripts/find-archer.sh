#!/usr/bin/env bash
# Prints the path of LLVM's libarcher (Debian libomp-14-dev), the OMPT tool through which the
# OpenMP runtime tells ThreadSanitizer about its barriers and tasks. Fails when it is missing:
# without it every OpenMP region would be reported as a race.
set -euo pipefail
for lib in /usr/lib/llvm-14/lib/libarcher.so /usr/lib/llvm-*/lib/libarcher.so; do
  [ -f "$lib" ] && { echo "$lib"; exit 0; }
done
echo "find-archer: libarcher.so not found (Debian package libomp-14-dev)" >&2
exit 1
