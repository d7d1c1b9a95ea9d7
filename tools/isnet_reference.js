#!/usr/bin/env node
// Reference runs of an ONNX model in onnxruntime-node, for tests and benchmarks of the converted
// TorchScript model. onnxruntime-node is not a dependency of the project: scripts/get-test-models.sh
// installs it into the model cache. It is found through --node-modules DIR, else the environment
// variable INPAINT_NODE_MODULES, else $CACHE/node/node_modules with CACHE as in that script.
//
//   node tools/isnet_reference.js forward MODEL.onnx IN.f32 OUT.f32 [IN2.f32 OUT2.f32 ...] [--threads 2] [--repeat N] [--shape 1,3,1024,1024]
//     IN: raw little-endian float32 of the given shape. Writes the output named "output" (else the
//     first output) as raw float32. More IN/OUT pairs reuse the session (tests start one process).
//     With --repeat N, times N more forwards of the first input after its first one (the warm-up)
//     and prints {"median_ms":..., "runs_ms":[...]} on stdout.
//
//   node tools/isnet_reference.js alpha MODEL.onnx IN.rgb WIDTH HEIGHT OUT.u8 [--threads 2]
//     IN: raw RGB8 pixels, row-major. Writes WIDTH*HEIGHT bytes of alpha, computed the way
//     @imgly/background-removal 1.4.5 computes its mask (facts read from its dist/index.cjs; this is
//     our own code). The conventions, which the C++ preset "imgly" must follow exactly:
//
//     resize (both directions, same function): for output pixel (x, y) of a dstW x dstH image,
//       sx = x * (srcW / dstW), sy = y * (srcH / dstH)  -- in double; pixel corners, NOT centres
//                                                          (no +0.5/-0.5), scale is src/dst
//       x0 = max(floor(sx), 0), x1 = min(ceil(sx), srcW - 1), fx = sx - x0  (likewise y)
//       (fx is not recomputed when x1 is clamped: at the right/bottom edge the two taps are the same
//       pixel, so the edge pixel is repeated)
//       v = (1-fx)(1-fy) p[y0][x0] + fx(1-fy) p[y0][x1] + (1-fx)fy p[y1][x0] + fx fy p[y1][x1]
//           (evaluated in double, in this order)
//       stored as Math.round(v), i.e. floor(v + 0.5), in uint8; no antialiasing when shrinking.
//     input: RGB(A) resized to 1024x1024 as above, then (value - 128) / 256 per channel into float32
//       NCHW [1,3,1024,1024] (alpha, if any, is ignored).
//     output: the tensor "output" [1,1,1024,1024] in float32, times 255 (in double) and assigned to a
//       Uint8Array: truncation toward zero, no clamping, no rounding (out-of-range values would wrap
//       modulo 256; NaN becomes 0 -- the model ends in a sigmoid, so in practice 0..255 truncated).
//       That 1024x1024 uint8 mask is resized to WIDTH x HEIGHT with the same resize (rounded again).
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');

function usage(message) {
  if (message) process.stderr.write(`isnet_reference: ${message}\n`);
  process.stderr.write('usage: isnet_reference.js forward MODEL.onnx IN.f32 OUT.f32 [IN OUT ...] [--threads N] [--repeat N] [--shape 1,3,H,W]\n' +
                       '       isnet_reference.js alpha MODEL.onnx IN.rgb WIDTH HEIGHT OUT.u8 [--threads N]\n' +
                       '       (both take --node-modules DIR; default $INPAINT_NODE_MODULES or $CACHE/node/node_modules)\n');
  process.exit(2);
}

function parseArgs(argv) {
  const positional = [];
  const options = { threads: 2, repeat: 0, shape: [1, 3, 1024, 1024], nodeModules: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) { positional.push(a); continue; }
    const value = argv[++i];
    if (value === undefined) usage(`${a} needs a value`);
    if (a === '--threads') options.threads = Number(value);
    else if (a === '--repeat') options.repeat = Number(value);
    else if (a === '--shape') options.shape = value.split(',').map(Number);
    else if (a === '--node-modules') options.nodeModules = value;
    else usage(`unknown option ${a}`);
  }
  if (!(Number.isInteger(options.threads) && options.threads > 0)) usage('--threads must be a positive integer');
  if (!(Number.isInteger(options.repeat) && options.repeat >= 0)) usage('--repeat must be a non-negative integer');
  if (options.shape.some((n) => !(Number.isInteger(n) && n > 0))) usage('--shape must be positive integers');
  return { positional, options };
}

function loadOrt(dir) {
  // Same cache rule as scripts/get-test-models.sh.
  const cache = process.env.INPAINT_MODEL_CACHE ||
    path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'libinpaint');
  const modules = dir || process.env.INPAINT_NODE_MODULES || path.join(cache, 'node', 'node_modules');
  try {
    return require(path.join(path.resolve(modules), 'onnxruntime-node'));
  } catch (e) {
    process.stderr.write(`isnet_reference: cannot load onnxruntime-node from ${modules} (run scripts/get-test-models.sh): ${e.message}\n`);
    process.exit(1);
  }
}

async function openSession(ort, model, threads) {
  // Graph optimisation is left at onnxruntime's default; only the thread count is set.
  return ort.InferenceSession.create(model, { executionProviders: ['cpu'], intraOpNumThreads: threads, interOpNumThreads: 1 });
}

async function forward(ort, session, data, shape) {
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', data, shape) };
  const name = session.outputNames.includes('output') ? 'output' : session.outputNames[0];
  // Asking for the one output keeps onnxruntime from copying out the side outputs.
  const result = await session.run(feeds, [name]);
  return result[name];
}

function readFloat32(file, count) {
  const buf = fs.readFileSync(file);
  if (buf.length !== count * 4) usage(`${file} has ${buf.length} bytes, expected ${count * 4}`);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = buf.readFloatLE(i * 4);
  return out;
}

function writeFloat32(file, data) {
  const buf = Buffer.alloc(data.length * 4);
  for (let i = 0; i < data.length; i++) buf.writeFloatLE(data[i], i * 4);
  fs.writeFileSync(file, buf);
}

// Bilinear resize of interleaved uint8 pixels with the convention described at the top.
function resizeBilinearU8(src, srcW, srcH, channels, dstW, dstH) {
  const dst = new Uint8Array(dstW * dstH * channels);
  const scaleX = srcW / dstW;
  const scaleY = srcH / dstH;
  for (let y = 0; y < dstH; y++) {
    const sy = y * scaleY;
    const y0 = Math.max(Math.floor(sy), 0);
    const y1 = Math.min(Math.ceil(sy), srcH - 1);
    const fy = sy - y0;
    for (let x = 0; x < dstW; x++) {
      const sx = x * scaleX;
      const x0 = Math.max(Math.floor(sx), 0);
      const x1 = Math.min(Math.ceil(sx), srcW - 1);
      const fx = sx - x0;
      for (let c = 0; c < channels; c++) {
        const a = src[(y0 * srcW + x0) * channels + c];
        const b = src[(y0 * srcW + x1) * channels + c];
        const d = src[(y1 * srcW + x0) * channels + c];
        const e = src[(y1 * srcW + x1) * channels + c];
        const v = (1 - fx) * (1 - fy) * a + fx * (1 - fy) * b + (1 - fx) * fy * d + fx * fy * e;
        dst[(y * dstW + x) * channels + c] = Math.round(v);
      }
    }
  }
  return dst;
}

async function main() {
  const [command, ...rest] = process.argv.slice(2);
  const { positional, options } = parseArgs(rest);
  if (command === 'forward') {
    if (positional.length < 3 || positional.length % 2 !== 1) usage('forward takes MODEL.onnx IN.f32 OUT.f32 [IN OUT ...]');
    const [model, ...files] = positional;
    const ort = loadOrt(options.nodeModules);
    const session = await openSession(ort, model, options.threads);
    let data;
    for (let i = 0; i < files.length; i += 2) {
      const input = readFloat32(files[i], options.shape.reduce((a, b) => a * b, 1));
      data = data || input;
      writeFloat32(files[i + 1], (await forward(ort, session, input, options.shape)).data);
    }
    if (options.repeat > 0) {
      const runs = [];
      for (let i = 0; i < options.repeat; i++) {
        const t0 = process.hrtime.bigint();
        await forward(ort, session, data, options.shape);
        runs.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
      const sorted = [...runs].sort((a, b) => a - b);
      const mid = sorted.length >> 1;
      const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
      process.stdout.write(JSON.stringify({ median_ms: median, runs_ms: runs }) + '\n');
    }
  } else if (command === 'alpha') {
    if (positional.length !== 5) usage('alpha takes MODEL.onnx IN.rgb WIDTH HEIGHT OUT.u8');
    const [model, input, w, h, output] = positional;
    const width = Number(w);
    const height = Number(h);
    if (!(Number.isInteger(width) && width > 0 && Number.isInteger(height) && height > 0)) usage('bad WIDTH/HEIGHT');
    const rgb = fs.readFileSync(input);
    if (rgb.length !== width * height * 3) usage(`${input} has ${rgb.length} bytes, expected ${width * height * 3}`);
    const ort = loadOrt(options.nodeModules);
    const size = 1024;
    const small = resizeBilinearU8(rgb, width, height, 3, size, size);
    const planes = new Float32Array(3 * size * size);
    for (let i = 0; i < size * size; i++) {
      for (let c = 0; c < 3; c++) planes[c * size * size + i] = (small[i * 3 + c] - 128) / 256;
    }
    const session = await openSession(ort, model, options.threads);
    const prob = (await forward(ort, session, planes, [1, 3, size, size])).data;
    const mask = new Uint8Array(size * size);
    for (let i = 0; i < mask.length; i++) mask[i] = prob[i] * 255; // Uint8Array store: truncates, wraps
    fs.writeFileSync(output, resizeBilinearU8(mask, size, size, 1, width, height));
  } else {
    usage(command ? `unknown command ${command}` : 'no command');
  }
}

main().catch((e) => {
  process.stderr.write(`isnet_reference: ${e.message}\n`);
  process.exit(1);
});
