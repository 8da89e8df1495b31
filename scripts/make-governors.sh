#!/usr/bin/env bash
# Trains the shipped runtime controllers (models/governors): one Double DQN policy per scenario
# preset, on the platform the runtime bars are measured on (jetson-nano-ethos-u55), 30 episodes of
# half a simulated hour each (seeds 1001..1030; evaluation seeds below 1000 are unseen). One
# training uses one core; the five take about 20 minutes here. Existing policies are kept unless
# FORCE=1.
#   scripts/make-governors.sh build/edgeco models/governors
set -euo pipefail
EDGECO=${1:?usage: make-governors.sh EDGECO OUT_DIR}
OUT=${2:?usage: make-governors.sh EDGECO OUT_DIR}
PLATFORM=${PLATFORM:-jetson-nano-ethos-u55}
mkdir -p "$OUT"
for scenario in surveillance navigation har-wearable; do
  policy="$OUT/$scenario.$PLATFORM.onnx"
  if [ -f "$policy" ] && [ "${FORCE:-0}" != 1 ]; then
    echo "keep $policy"
    continue
  fi
  "$EDGECO" train-governor --scenario "$scenario" --platform "$PLATFORM" --episodes 30 \
    --episode-hours 0.5 --seed 1 --threads 1 --out "$policy"
done
# The fog scenario twice: the shipped policy may offload; the .local one, trained without offloading
# (--no-offload), is what bench/offload_sim.py compares it with.
for variant in offload local; do
  policy="$OUT/surveillance-fog.$PLATFORM.onnx"
  extra=()
  if [ "$variant" = local ]; then
    policy="$OUT/surveillance-fog.$PLATFORM.local.onnx"
    extra=(--no-offload)
  fi
  if [ -f "$policy" ] && [ "${FORCE:-0}" != 1 ]; then
    echo "keep $policy"
    continue
  fi
  "$EDGECO" train-governor --scenario surveillance-fog --platform "$PLATFORM" --episodes 30 \
    --episode-hours 0.5 --seed 1 --threads 1 "${extra[@]}" --out "$policy"
done
