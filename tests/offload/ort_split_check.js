#!/usr/bin/env node
// Head + tail == whole in ONNX Runtime: for every NAME.cutK.head.onnx / NAME.cutK.onnx pair that
// `edgeco split --repository DIR --with-heads` wrote, runs the head, feeds what crosses to the tail
// and compares the tail's outputs with the whole model's (NAME.onnx) on the same seeded input.
//   node tests/offload/ort_split_check.js DIR NAME [--tolerance 1e-5]
// Prints one JSON line {"pairs", "worst", "failed": [...]}; exits 1 when a pair differs.
'use strict';
const fs = require('fs');
const path = require('path');

const { loadOrt } = require('../../bench/peers/ort');

async function main() {
  const [dir, name] = process.argv.slice(2);
  const tolIdx = process.argv.indexOf('--tolerance');
  const tolerance = tolIdx > 0 ? Number(process.argv[tolIdx + 1]) : 1e-5;
  if (!dir || !name) { console.error('usage: ort_split_check.js DIR NAME [--tolerance T]'); process.exit(2); }
  const ort = loadOrt();
  const opts = { intraOpNumThreads: 1, graphOptimizationLevel: 'disabled' };
  const whole = await ort.InferenceSession.create(path.join(dir, name + '.onnx'), opts);
  const inputName = whole.inputNames[0];
  const meta = JSON.parse(fs.readFileSync(path.join(dir, name + '.input.json'), 'utf8'));
  let seed = 12345;
  const data = new Float32Array(meta.shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) { seed = (seed * 1103515245 + 12345) % 2147483648; data[i] = seed / 2147483648 * 2 - 1; }
  const feed = { [inputName]: new ort.Tensor('float32', data, meta.shape) };
  const expected = await whole.run(feed);
  const pairs = fs.readdirSync(dir).filter(f => f.endsWith('.head.onnx')).sort();
  let worst = 0;
  const failed = [];
  for (const headFile of pairs) {
    const tailFile = headFile.replace('.head.onnx', '.onnx');
    const head = await ort.InferenceSession.create(path.join(dir, headFile), opts);
    const tail = await ort.InferenceSession.create(path.join(dir, tailFile), opts);
    const headFeed = {};
    for (const n of head.inputNames) headFeed[n] = feed[n];
    const sent = await head.run(headFeed);
    const tailFeed = {};
    for (const n of tail.inputNames) tailFeed[n] = sent[n] !== undefined ? sent[n] : feed[n];
    const got = await tail.run(tailFeed);
    for (const out of whole.outputNames) {
      const a = (got[out] || sent[out]).data, b = expected[out].data;
      let diff = 0, scale = 0;
      for (let i = 0; i < b.length; i++) { diff = Math.max(diff, Math.abs(a[i] - b[i])); scale = Math.max(scale, Math.abs(b[i])); }
      const rel = diff / (scale || 1);
      worst = Math.max(worst, rel);
      if (!(rel <= tolerance) || a.length !== b.length) failed.push(tailFile + ': ' + rel);
    }
  }
  console.log(JSON.stringify({ pairs: pairs.length, worst, failed }));
  process.exit(failed.length || pairs.length === 0 ? 1 : 0);
}
main().catch(e => { console.error(e.message || e); process.exit(1); });
