import { describe, expect, it } from 'vitest';
import { Rng } from '../src/core/rng.ts';
import { mlp } from '../src/nn/mlp.ts';
import { Adam, clipGradNorm, emaUpdate, gradNorm, polyak } from '../src/nn/optim.ts';

describe('Adam', () => {
  it('matches hand-computed bias-corrected steps', () => {
    const target = { values: new Float32Array([1, -2]), grads: new Float32Array([0.5, -0.1]) };
    const opt = new Adam(target, { lr: 0.1 });
    // Step 1: m = 0.1 g, v = 0.001 g^2; m_hat = g, v_hat = g^2 -> p -= lr * g / (|g| + eps) = lr * sign(g)
    opt.update();
    expect(target.values[0]).toBeCloseTo(1 - 0.1, 5);
    expect(target.values[1]).toBeCloseTo(-2 + 0.1, 5);
    // Step 2 with a new gradient: computed by hand in double precision.
    target.grads.set([1.0, 0.3]);
    opt.update();
    const b1 = 0.9,
      b2 = 0.999,
      eps = 1e-8,
      lr = 0.1;
    const expected = [
      [1 - 0.1, 0.5, 1.0],
      [-2 + 0.1, -0.1, 0.3],
    ].map(([p, g1, g2]) => {
      const m = b1 * (1 - b1) * g1 + (1 - b1) * g2;
      const v = b2 * (1 - b2) * g1 * g1 + (1 - b2) * g2 * g2;
      const mh = m / (1 - b1 ** 2);
      const vh = v / (1 - b2 ** 2);
      return p - (lr * mh) / (Math.sqrt(vh) + eps);
    });
    expect(target.values[0]).toBeCloseTo(expected[0], 5);
    expect(target.values[1]).toBeCloseTo(expected[1], 5);
    expect(opt.step).toBe(2);
  });

  it('minimises a quadratic', () => {
    const target = { values: new Float32Array([3, -4, 5]), grads: new Float32Array(3) };
    const opt = new Adam(target, { lr: 0.05 });
    for (let i = 0; i < 500; i++) {
      for (let j = 0; j < 3; j++) target.grads[j] = 2 * target.values[j];
      opt.update();
    }
    for (const v of target.values) expect(Math.abs(v)).toBeLessThan(0.05);
  });

  it('state round trip continues identically', () => {
    const mk = () => ({ values: new Float32Array([1, 2, 3]), grads: new Float32Array([0.1, -0.2, 0.3]) });
    const a = mk();
    const optA = new Adam(a, { lr: 0.01 });
    optA.update();
    const b = { values: a.values.slice(), grads: a.grads.slice() };
    const optB = new Adam(b, { lr: 0.01 });
    optB.load(optA.state());
    optA.update();
    optB.update();
    expect(Array.from(b.values)).toEqual(Array.from(a.values));
    expect(() => optB.load({ step: 1, m: new Float32Array(2), v: new Float32Array(2) })).toThrow(/moments/);
  });

  it('rejects a bad learning rate', () => {
    expect(() => new Adam({ values: new Float32Array(1), grads: new Float32Array(1) }, { lr: 0 })).toThrow(/lr/);
  });
});

describe('clipping, Polyak, EMA', () => {
  it('clips the global gradient norm', () => {
    const m = { grads: new Float32Array([3, 4]) };
    expect(clipGradNorm(m, 1)).toBeCloseTo(5, 5);
    expect(gradNorm(m)).toBeCloseTo(1, 4);
    const small = { grads: new Float32Array([0.3, 0.4]) };
    clipGradNorm(small, 1);
    expect(Array.from(small.grads)).toEqual([Math.fround(0.3), Math.fround(0.4)]);
  });

  it('Polyak moves the target by tau toward the source; EMA by 1 - decay', () => {
    const spec = { in: 3, hidden: [4], out: 2 };
    const src = mlp(spec, Rng.fromSeed(1));
    const tgt = mlp(spec, Rng.fromSeed(2));
    const before = tgt.values.slice();
    polyak(tgt, src, 0.005);
    for (let i = 0; i < before.length; i++) expect(tgt.values[i]).toBeCloseTo(0.995 * before[i] + 0.005 * src.values[i], 6);
    tgt.copyFrom(src);
    expect(Array.from(tgt.values)).toEqual(Array.from(src.values));
    const ema = mlp(spec, Rng.fromSeed(3));
    const e0 = ema.values.slice();
    emaUpdate(ema, src, 0.99);
    for (let i = 0; i < e0.length; i++) expect(ema.values[i]).toBeCloseTo(0.99 * e0[i] + 0.01 * src.values[i], 6);
    expect(() => polyak(mlp({ in: 3, hidden: [5], out: 2 }, Rng.fromSeed(1)), src, 0.1)).toThrow(/differ/);
  });
});
