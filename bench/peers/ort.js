// ONNX Runtime for the peers: the copy scripts/install-deps.sh installs under third_party, else
// one on Node's path.
'use strict';
const path = require('path');

function loadOrt() {
  const local = path.join(__dirname, '..', '..', 'third_party', 'ort-node', 'node_modules', 'onnxruntime-node');
  try { return require(local); } catch (e) { return require('onnxruntime-node'); }
}

module.exports = { loadOrt };
