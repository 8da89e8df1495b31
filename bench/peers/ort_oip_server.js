#!/usr/bin/env node
// The serving peer: ONNX Runtime (npm onnxruntime-node) behind Node's http server, answering the
// Open Inference Protocol's REST inference call (POST /v2/models/NAME/infer, JSON tensors) and
// GET /v2/health/ready. What one would stand up without edgeco serve.
//   node bench/peers/ort_oip_server.js MODEL.onnx NAME  ->  prints {"http_port": P} when ready
'use strict';
const http = require('http');
const path = require('path');

const { loadOrt } = require('./ort');

async function main() {
  const [model, name] = process.argv.slice(2);
  const ort = loadOrt();
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1 });
  const server = http.createServer((req, res) => {
    const reply = (status, body) => { res.writeHead(status, { 'Content-Type': 'application/json' }); res.end(JSON.stringify(body)); };
    if (req.method === 'GET' && req.url === '/v2/health/ready') return reply(200, { ready: true });
    if (req.method !== 'POST' || req.url !== `/v2/models/${name}/infer`) return reply(404, { error: 'no such endpoint' });
    const chunks = [];
    req.on('data', c => chunks.push(c));
    req.on('end', async () => {
      try {
        const doc = JSON.parse(Buffer.concat(chunks).toString());
        const feeds = {};
        for (const t of doc.inputs) feeds[t.name] = new ort.Tensor('float32', Float32Array.from(t.data.flat(Infinity)), t.shape);
        const out = await session.run(feeds);
        const outputs = Object.entries(out).map(([n, t]) => ({ name: n, datatype: 'FP32', shape: t.dims, data: Array.from(t.data) }));
        reply(200, { model_name: name, id: doc.id, outputs });
      } catch (e) { reply(400, { error: String(e.message || e) }); }
    });
  });
  server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ http_port: server.address().port })));
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
}
main().catch(e => { console.error(e); process.exit(1); });
