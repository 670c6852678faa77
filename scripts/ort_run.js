// scripts/ort_run.js -- run an ONNX model in ONNX Runtime (CPU), for the
// specs and the lesson that compare nnlua with it.
//   node scripts/ort_run.js MODEL.onnx IN.safetensors OUT.safetensors
// IN holds one F32 tensor per graph input, under the input's name (a graph
// model's several inputs: image, meta or input_1, input_2, ...); OUT gets
// one F32 tensor per graph output, under its name (output_1, output_2, ...).  safetensors is the
// exchange format because nnlua reads and writes it already (its layout:
// https://github.com/huggingface/safetensors, "Format").
// ONNX Runtime comes from .onnxruntime/ (scripts/get_onnxruntime.sh).
// Exit status 0, or 1 with the reason on stderr.
'use strict';
const fs = require('fs');
const path = require('path');

const ortDir = path.join(__dirname, '..', '.onnxruntime', 'node_modules', 'onnxruntime-node');
const ort = require(ortDir);

function readSafetensors(file) {
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  const data = buf.subarray(8 + n);
  const out = {};
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    if (info.dtype !== 'F32') throw new Error(`${file}: tensor '${name}' is ${info.dtype}, not F32`);
    const [b, e] = info.data_offsets;
    const floats = new Float32Array(data.buffer.slice(data.byteOffset + b, data.byteOffset + e));
    out[name] = new ort.Tensor('float32', floats, info.shape);
  }
  return out;
}

function writeSafetensors(file, tensors) {
  const header = {};
  const parts = [];
  let offset = 0;
  for (const name of Object.keys(tensors).sort()) {
    const t = tensors[name];
    const bytes = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    header[name] = { dtype: 'F32', shape: t.dims, data_offsets: [offset, offset + bytes.length] };
    parts.push(bytes);
    offset += bytes.length;
  }
  let text = JSON.stringify(header);
  text += ' '.repeat((8 - (text.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(text)));
  fs.writeFileSync(file, Buffer.concat([len, Buffer.from(text, 'utf8'), ...parts]));
}

async function main() {
  const [model, input, output] = process.argv.slice(2);
  if (!output) throw new Error('usage: node scripts/ort_run.js MODEL.onnx IN.safetensors OUT.safetensors');
  const session = await ort.InferenceSession.create(model, { executionProviders: ['cpu'] });
  const results = await session.run(readSafetensors(input));
  const out = {};
  for (const name of session.outputNames) out[name] = results[name];
  writeSafetensors(output, out);
}

main().catch((e) => { process.stderr.write(`ort_run: ${e.message}\n`); process.exit(1); });
