/**
 * The hand-written ONNX writer, checked by running what it writes through onnxruntime-node against our
 * own forward pass (src/nn): MLPs with each activation, with and without LayerNorm, and residual MLPs.
 */
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { Rng } from '../src/core/rng.ts';
import { ACTIVATIONS } from '../src/nn/backend.ts';
import { mlp, residualMlpLayers } from '../src/nn/mlp.ts';
import { Model } from '../src/nn/module.ts';
import { GraphBuilder, modelToOnnx, onnxActivation } from '../src/policies/onnx-writer.ts';
import { ProtoWriter } from '../src/policies/protobuf-writer.ts';

async function runOnnx(bytes: Uint8Array, feeds: Record<string, { data: Float32Array; dims: number[] }>): Promise<Record<string, Float32Array>> {
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], intraOpNumThreads: 1 });
  try {
    const inputs: Record<string, ort.Tensor> = {};
    for (const [k, v] of Object.entries(feeds)) inputs[k] = new ort.Tensor('float32', v.data, v.dims);
    const out = await session.run(inputs);
    return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data as Float32Array]));
  } finally {
    await session.release();
  }
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/**
 * Compare a model's forward pass to ONNX Runtime on the exported graph, at a few batch sizes. Both are
 * float32 with their own summation orders: measured at most 4.8e-7 over our native backend on OpenBLAS
 * (4 core types) and the built-in SGEMMs, and js; 1e-5 leaves 20x, a wrong op or layout is off by 1e-2.
 */
async function expectParity(model: Model, rng: Rng, tolerance = 1e-5): Promise<void> {
  const bytes = modelToOnnx(model);
  for (const batch of [1, 7]) {
    const x = new Float32Array(batch * model.inDim);
    rng.fillNormal(x);
    for (let i = 0; i < x.length; i++) x[i] *= 2; // reach the activations' curved parts
    const ours = model.forward(x, batch).slice();
    const { y } = await runOnnx(bytes, { x: { data: x, dims: [batch, model.inDim] } });
    expect(maxAbsDiff(ours, y)).toBeLessThan(tolerance);
  }
}

describe('protobuf encoding', () => {
  it('writes varints as protobuf does, including negative int64 in 10 bytes', () => {
    const bytesOf = (v: number) => {
      const w = new ProtoWriter();
      w.varint(v);
      return Array.from(w.finish());
    };
    expect(bytesOf(0)).toEqual([0]);
    expect(bytesOf(1)).toEqual([1]);
    expect(bytesOf(300)).toEqual([0xac, 0x02]);
    expect(bytesOf(2 ** 35)).toEqual([0x80, 0x80, 0x80, 0x80, 0x80, 0x01]);
    expect(bytesOf(-1)).toEqual([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    expect(() => bytesOf(1.5)).toThrow(/not an integer/);
  });

  it('frames nested messages with their length', () => {
    const inner = new ProtoWriter();
    inner.string(1, 'hi');
    const outer = new ProtoWriter();
    outer.message(7, inner);
    expect(Array.from(outer.finish())).toEqual([0x3a, 4, 0x0a, 2, 0x68, 0x69]);
  });
});

describe('ONNX writer vs our forward pass (onnxruntime-node)', () => {
  for (const activation of ACTIVATIONS) {
    for (const layerNorm of [false, true]) {
      it(`MLP with ${activation}${layerNorm ? ' and LayerNorm' : ''}`, async () => {
        const rng = Rng.fromSeed(`mlp-${activation}-${layerNorm}`);
        const model = mlp(
          { in: 9, hidden: [32, 24], out: 5, activation, layerNorm, outActivation: activation === 'identity' ? 'tanh' : 'identity' },
          rng,
        );
        await expectParity(model, rng);
      });
    }
  }

  for (const layerNorm of [false, true]) {
    it(`residual MLP (mish${layerNorm ? ', LayerNorm' : ''})`, async () => {
      const rng = Rng.fromSeed(`residual-${layerNorm}`);
      const model = new Model(residualMlpLayers({ in: 13, width: 48, blocks: 3, out: 6, activation: 'mish', layerNorm }), rng);
      await expectParity(model, rng);
    });
  }

  it('keeps symbolic batch dims and metadata readable by onnxruntime', async () => {
    const model = mlp({ in: 3, hidden: [4], out: 2 }, Rng.fromSeed(1));
    const bytes = modelToOnnx(model, { inputName: 'obs', outputName: 'q', batchDim: 'N', metadata: { envId: 'Hopper-v5' } });
    const session = await ort.InferenceSession.create(bytes);
    try {
      expect(session.inputNames).toEqual(['obs']);
      expect(session.outputNames).toEqual(['q']);
      const meta = session.inputMetadata[0];
      expect(meta.isTensor && meta.shape).toEqual(['N', 3]);
    } finally {
      await session.release();
    }
  });

  it('Mish stays accurate for large |x| (softplus form, no overflow)', async () => {
    const g = new GraphBuilder();
    const x = g.input('x', ['B', 1]);
    g.output(onnxActivation(g, x, 'mish'), 'y', ['B', 1]);
    const xs = Float32Array.from([-100, -20, -3, 0, 0.5, 3, 20, 100]);
    const { y } = await runOnnx(g.toBytes(), { x: { data: xs, dims: [xs.length, 1] } });
    const mish = (u: number) => u * Math.tanh(u > 20 ? u : Math.log1p(Math.exp(u)));
    xs.forEach((u, i) => expect(Math.abs(y[i] - mish(u))).toBeLessThan(1e-5 * Math.max(1, Math.abs(u))));
  });

  it('rejects malformed graphs with clear errors', () => {
    const g = new GraphBuilder();
    g.input('x', ['B', 2]);
    expect(() => g.op('Relu', ['nope'])).toThrow(/Relu input "nope" is not defined/);
    expect(() => g.input('x', ['B', 2])).toThrow(/"x" is already used/);
    expect(() => g.toBytes()).toThrow(/no outputs/);
    const t = new GraphBuilder();
    expect(() => t.constant([1, 2, 3], [2, 2])).not.toThrow();
    t.output(t.input('a', [1]), 'b', [1]);
    expect(() => t.toBytes()).toThrow(/has 3 values but dims \[2, 2\] need 4/);
  });
});
