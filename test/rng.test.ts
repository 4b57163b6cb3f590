import { describe, expect, it } from 'vitest';
import { Rng } from '../src/core/rng.ts';

describe('Rng', () => {
  it('is deterministic per seed and differs across seeds', () => {
    const a = Rng.fromSeed(1);
    const b = Rng.fromSeed(1);
    const c = Rng.fromSeed(2);
    const xa = Array.from({ length: 5 }, () => a.nextU32());
    expect(Array.from({ length: 5 }, () => b.nextU32())).toEqual(xa);
    expect(Array.from({ length: 5 }, () => c.nextU32())).not.toEqual(xa);
    expect(Rng.fromSeed('hopper').uniform()).toBe(Rng.fromSeed('hopper').uniform());
  });

  it('restores its state exactly, including the spare normal', () => {
    const a = Rng.fromSeed(9);
    a.normal(); // leaves a spare
    const b = Rng.fromState(JSON.parse(JSON.stringify(a.state())));
    for (let i = 0; i < 10; i++) expect(b.normal()).toBe(a.normal());
    expect(() => Rng.fromState({ s: [1, 2], spare: null } as never)).toThrow(/invalid RNG state/);
  });

  it('has the right moments and ranges', () => {
    const r = Rng.fromSeed(3);
    const n = 100_000;
    let s = 0,
      s2 = 0,
      u = 0;
    for (let i = 0; i < n; i++) {
      const x = r.normal();
      s += x;
      s2 += x * x;
      const v = r.uniform();
      expect(v >= 0 && v < 1).toBe(true);
      u += v;
    }
    expect(Math.abs(s / n)).toBeLessThan(0.02);
    expect(Math.abs(s2 / n - 1)).toBeLessThan(0.02);
    expect(Math.abs(u / n - 0.5)).toBeLessThan(0.01);
    const counts = new Array(7).fill(0);
    for (let i = 0; i < 70_000; i++) counts[r.int(7)]++;
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(500);
  });

  it('splits into independent streams reproducibly', () => {
    const p1 = Rng.fromSeed(5);
    const p2 = Rng.fromSeed(5);
    const c1 = p1.split();
    const c2 = p2.split();
    expect(c1.nextU32()).toBe(c2.nextU32());
    expect(p1.nextU32()).toBe(p2.nextU32());
    const c3 = p1.split();
    // Child streams are uncorrelated with each other and the parent.
    const n = 20_000;
    let dot = 0;
    for (let i = 0; i < n; i++) dot += c1.normal() * c3.normal();
    expect(Math.abs(dot / n)).toBeLessThan(0.03);
    expect(p1.derive('env').uniform()).toBe(p1.derive('env').uniform());
    expect(p1.derive('env').uniform()).not.toBe(p1.derive('actor').uniform());
  });

  it('permutation is a permutation', () => {
    const p = Rng.fromSeed(1).permutation(50);
    expect([...p].sort((a, b) => a - b)).toEqual([...Array(50).keys()]);
  });
});
