#!/usr/bin/env node
// Runs an ONNX model with ONNX Runtime (npm onnxruntime-node), the peer edgeco is compared with.
//   node bench/peers/ort_run.js MODEL --input NAME=FILE.npy ... --output-dir DIR [--threads N]
// Writes each output as DIR/<name>.npy (names sanitised like edgeco's) and prints one JSON line.
'use strict';
const fs = require('fs');
const path = require('path');

const { loadOrt } = require('./ort');

const DTYPES = {
  '<f4': ['float32', Float32Array], '<f8': ['float64', Float64Array], '<i8': ['int64', BigInt64Array],
  '<i4': ['int32', Int32Array], '|u1': ['uint8', Uint8Array], '|i1': ['int8', Int8Array], '|b1': ['bool', Uint8Array],
};

function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.toString('latin1', 0, 6) !== '\x93NUMPY') throw new Error(`${file}: not a .npy file`);
  const major = buf[6];
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const offset = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', offset, offset + headerLen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)[1];
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)[1].split(',').map(s => s.trim()).filter(Boolean).map(Number);
  if (!DTYPES[descr]) throw new Error(`${file}: unsupported dtype ${descr}`);
  const [type, Ctor] = DTYPES[descr];
  const start = offset + headerLen;
  const bytes = buf.subarray(start);
  const data = new Ctor(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
  return { type, data, dims: shape };
}

function writeNpy(file, tensor) {
  const entry = Object.entries(DTYPES).find(([, [t]]) => t === tensor.type);
  if (!entry) throw new Error(`cannot write ${tensor.type}`);
  const shape = tensor.dims.length === 1 ? `(${tensor.dims[0]},)` : `(${tensor.dims.join(', ')})`;
  let header = `{'descr': '${entry[0]}', 'fortran_order': False, 'shape': ${shape}, }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1; pre[7] = 0; pre.writeUInt16LE(header.length, 8);
  const data = Buffer.from(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength);
  fs.writeFileSync(file, Buffer.concat([pre, Buffer.from(header, 'latin1'), data]));
}

async function main() {
  const args = process.argv.slice(2);
  if (args.length === 0 || args.includes('--help')) {
    console.log('usage: ort_run.js MODEL --input NAME=FILE.npy ... [--output-dir DIR] [--threads N] [--iters N] [--warmup N]');
    process.exit(args.length === 0 ? 2 : 0);
  }
  const model = args[0];
  const inputs = {};
  let outDir = null, threads = 1, iters = 1, warmup = 0;
  for (let i = 1; i < args.length; i++) {
    if (args[i] === '--input') { const [n, f] = args[++i].split('='); inputs[n] = f; }
    else if (args[i] === '--output-dir') outDir = args[++i];
    else if (args[i] === '--threads') threads = Number(args[++i]);
    else if (args[i] === '--iters') iters = Number(args[++i]);
    else if (args[i] === '--warmup') warmup = Number(args[++i]);
    else throw new Error(`unknown argument ${args[i]}`);
  }
  const ort = loadOrt();
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: threads, interOpNumThreads: 1 });
  const feeds = {};
  for (const [name, file] of Object.entries(inputs)) {
    const t = readNpy(file);
    feeds[name] = new ort.Tensor(t.type, t.data, t.dims);
  }
  let results;
  for (let i = 0; i < warmup; i++) await session.run(feeds);
  const times = [];
  for (let i = 0; i < iters; i++) {
    const t0 = process.hrtime.bigint();
    results = await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const outputs = [];
  for (const [name, t] of Object.entries(results)) {
    const record = { name, type: t.type, dims: t.dims };
    if (outDir) {
      fs.mkdirSync(outDir, { recursive: true });
      const file = path.join(outDir, name.replace(/[^A-Za-z0-9._-]/g, '_') + '.npy');
      writeNpy(file, t);
      record.file = file;
    }
    outputs.push(record);
  }
  times.sort((a, b) => a - b);
  console.log(JSON.stringify({ model, threads, median_ms: times[Math.floor(times.length / 2)], outputs }));
}

main().catch(e => { console.error(`ort_run: ${e.message}`); process.exit(1); });
