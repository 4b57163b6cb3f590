import { describe, expect, it } from 'vitest';
import { noiseLaws } from '../experiments/noise-probe.ts';
import { Rng } from '../src/core/rng.ts';

describe('noise-probe laws', () => {
  it('a split law keeps the fixed vector everywhere but the chosen action dimension, or only there', () => {
    // 2 chunk steps x 4 action dims; dimension 3 is split off.
    const laws = new Map(noiseLaws(8, { fixed: 1, fixedScale: 0.5, actDim: 4, splitDim: 3 }));
    const draw = (name: string) => {
      const act = laws.get(name);
      if (!act) throw new Error(`no law "${name}" in ${[...laws.keys()].join(', ')}`);
      return Array.from(act.act(new Float32Array(0), 1, [Rng.fromSeed(7)]) as Float32Array);
    };
    const fixed = draw('fixed w #0 ~ 0.5 N(0, I), same at every chunk');
    expect(draw('fixed w #0 ~ 0.5 N(0, I), same at every chunk')).toEqual(fixed);
    const freshSplit = draw('  #0 fixed, dim 3 fresh');
    const fixedSplit = draw('  #0 fresh, dim 3 fixed');
    for (let i = 0; i < 8; i++) {
      const inSplit = i % 4 === 3;
      expect(freshSplit[i] === fixed[i]).toBe(!inSplit);
      expect(fixedSplit[i] === fixed[i]).toBe(inSplit);
    }
    expect([...new Map(noiseLaws(8, { fixed: 1, fixedOnly: true })).keys()]).toEqual(['fixed w #0 ~ N(0, I), same at every chunk']);
  });
});
