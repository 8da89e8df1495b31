#!/usr/bin/env bash
# Installs every Debian package edgeco needs. Idempotent: skips what is there and runs
# `apt-get update` at most once. Nothing else is downloaded by the build.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config
  protobuf-compiler libprotobuf-dev libonnx-dev libonnx-testdata
  libgtest-dev libgmock-dev libcli11-dev nlohmann-json3-dev
  clang libclang-rt-14-dev clang-format clang-tidy libomp5-14 libomp-14-dev
  libdnnl-dev zlib1g-dev libtorch-dev libyaml-cpp-dev libglpk-dev
  dataset-fashion-mnist
  python3-numpy python3-onnx python3-torch python3-torchvision
  libgrpc++-dev protobuf-compiler-grpc libcpp-httplib-dev prometheus-cpp-dev
  python3-grpcio python3-grpc-tools prometheus curl iproute2
)
# The machine may carry its own Node.js (with npm); Debian's npm conflicts with it.
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# ONNX Runtime is the peer that exported models are checked against. Its npm package ships
# libonnxruntime.so; the post-install step would download a GPU build, so it is skipped.
peer_dir="$(cd "$(dirname "$0")/.." && pwd)/third_party/ort-node"
if [ ! -f "$peer_dir/node_modules/onnxruntime-node/package.json" ]; then
  echo "install-deps: installing onnxruntime-node into $peer_dir"
  mkdir -p "$peer_dir"
  (cd "$peer_dir" && [ -f package.json ] || echo '{"name":"edgeco-ort-peer","private":true}' > "$peer_dir/package.json")
  (cd "$peer_dir" && ONNXRUNTIME_NODE_INSTALL=skip npm install --silent --no-audit --no-fund onnxruntime-node >/dev/null)
fi
