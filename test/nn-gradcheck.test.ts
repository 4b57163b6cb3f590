import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../src/core/rng.ts';
import { getBackend, jsBackend, setBackend, type Activation, type Backend } from '../src/nn/backend.ts';
import { Act, Dense, LayerNorm, Linear, Sequential } from '../src/nn/layers.ts';
import { mlp, residualBlock, residualMlpLayers } from '../src/nn/mlp.ts';
import { Model, type Layer } from '../src/nn/module.ts';
import { loadWasmBackend } from '../src/nn/wasm-loader.ts';
import { gradCheck } from './helpers/gradcheck.ts';

const native = getBackend();
const wasm = loadWasmBackend().backend;
const backends: Backend[] = [...(native.name === 'native' ? [native] : []), ...(wasm ? [wasm] : []), jsBackend];
afterAll(() => setBackend(native));

function input(rows: number, dim: number, seed = 3): Float32Array {
  return Rng.fromSeed(seed).fillNormal(new Float32Array(rows * dim)) as Float32Array;
}

function expectGood(model: Model, rows: number, seed = 1, eps = 1e-2) {
  const res = gradCheck(model, input(rows, model.inDim, seed), rows, { eps });
  expect(res.failures, JSON.stringify(res.worst)).toEqual([]);
  expect(res.checked).toBeGreaterThan(10);
  expect(res.skipped).toBeLessThan(0.1 * (res.checked + res.skipped));
}

const activations: Activation[] = ['identity', 'relu', 'tanh', 'mish', 'silu'];

for (const be of backends) {
  describe(`gradient checks (${be.name} backend)`, () => {
    it.each(
      activations.flatMap(
        (a) =>
          [
            [a, false],
            [a, true],
          ] as [Activation, boolean][],
      ),
    )('Dense activation=%s layerNorm=%s', (activation, layerNorm) => {
      setBackend(be);
      expectGood(new Model(new Dense(7, 9, { activation, layerNorm }), Rng.fromSeed(11)), 5);
    });

    it('Linear', () => {
      setBackend(be);
      expectGood(new Model(new Linear(6, 4), Rng.fromSeed(2)), 3);
    });

    it('LayerNorm with non-trivial affine parameters', () => {
      setBackend(be);
      const m = new Model(new LayerNorm(8), Rng.fromSeed(2));
      Rng.fromSeed(5).fillNormal(m.values, 0.5, 1); // move gamma/beta away from 1/0
      expectGood(m, 4);
    });

    it.each(['relu', 'tanh', 'mish', 'silu'] as Activation[])('standalone %s', (a) => {
      setBackend(be);
      const m = new Model(new Sequential(new Linear(5, 6), new Act(6, a)), Rng.fromSeed(4));
      // ReLU: a smaller step, so fewer coordinates straddle a kink (this draw has pre-activations of 0.001).
      expectGood(m, 4, 1, a === 'relu' ? 1e-3 : 1e-2);
    });

    it('residual block with LayerNorm', () => {
      setBackend(be);
      const m = new Model(new Sequential(new Linear(4, 8), residualBlock(8, 'mish', true)), Rng.fromSeed(9));
      expectGood(m, 3);
    });

    it('whole MLP (3 hidden, LayerNorm, tanh) incl. input gradients', () => {
      setBackend(be);
      expectGood(mlp({ in: 10, hidden: [16, 16, 16], out: 3, layerNorm: true, activation: 'tanh' }, Rng.fromSeed(5)), 6);
    });

    it('residual MLP (diffusion-policy body)', () => {
      setBackend(be);
      expectGood(new Model(residualMlpLayers({ in: 9, width: 16, blocks: 2, out: 4 }) as Layer, Rng.fromSeed(6)), 4);
    });
  });
}

describe('the gradient check can fail', () => {
  it('flags a corrupted analytic gradient', () => {
    setBackend(native);
    const m = mlp({ in: 4, hidden: [8], out: 2, activation: 'tanh' }, Rng.fromSeed(1));
    const res = gradCheck(m, input(3, 4), 3, {
      samplesPerParam: 100,
      analyticGrads: (g) => {
        g[3] *= 1.5;
        g[3] += 0.05;
      },
    });
    expect(res.failures.length).toBeGreaterThan(0);
  });

  it('flags a wrong input gradient', () => {
    setBackend(native);
    const m = mlp({ in: 4, hidden: [8], out: 2, activation: 'silu' }, Rng.fromSeed(1));
    const res = gradCheck(m, input(3, 4), 3, { samplesPerParam: 1, analyticGrads: (_g, dx) => dx.fill(0) });
    expect(res.failures.some((f) => f.startsWith('input'))).toBe(true);
  });
});
