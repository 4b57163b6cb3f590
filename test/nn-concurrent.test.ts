/**
 * runConcurrently (src/nn/concurrent.ts): members of a critic ensemble run concurrently give the bits of running
 * them one after the other (forward, backward with input or parameter gradients, Adam), on the native backend's
 * pool (built-in gemm, 2 threads: native/programs.c) and on the js backend (replay in order); the recorder
 * refuses what it cannot record.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../src/core/rng.ts';
import { getBackend, jsBackend, setBackend, type Backend } from '../src/nn/backend.ts';
import { runConcurrently } from '../src/nn/concurrent.ts';
import { LayerNorm } from '../src/nn/layers.ts';
import { mlp } from '../src/nn/mlp.ts';
import { Model } from '../src/nn/module.ts';
import { nativeGemmInfo, nativeThreads, setNativeGemm } from '../src/nn/native-loader.ts';
import { Adam } from '../src/nn/optim.ts';

const auto = getBackend();
const info = nativeGemmInfo();
const threads0 = nativeThreads();

afterAll(() => {
  setBackend(auto);
  if (info) setNativeGemm(info.impl);
  if (info) nativeThreads(threads0);
});

const IN = 23; // an obs + chunk width that is no multiple of any SIMD width

/** n critics like DSRL-NA's (3 x 128, tanh, optional LayerNorm), each with its Adam; the same weights per seed. */
function ensemble(n: number, layerNorm: boolean, seed: number) {
  const rng = Rng.fromSeed(seed);
  const models = Array.from({ length: n }, () => mlp({ in: IN, hidden: [128, 128, 128], out: 1, activation: 'tanh', layerNorm }, rng));
  return { models, opts: models.map((m) => new Adam(m, { lr: 1e-3 })) };
}

/** Bit equality (Buffer.equals: vitest's toEqual walks 50k-element arrays slowly); on a difference, the first one. */
function expectSameBits(got: Float32Array, want: Float32Array, what: string): void {
  const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  if (got.length === want.length && bytes(got).equals(bytes(want))) return;
  const i = got.findIndex((v, k) => !Object.is(v, want[k]));
  expect({ length: got.length, first: i, value: got[i] }, what).toEqual({ length: want.length, first: i, value: want[i] });
}

/**
 * One round of every kind of step, per member: forward, backward with input gradients only, then zeroGrad +
 * backward with parameter and input gradients + Adam. `each` runs the per-member steps (directly or concurrently);
 * returns every output, input gradient, parameter gradient and updated weight.
 */
function round(
  e: ReturnType<typeof ensemble>,
  xs: Float32Array[],
  dys: Float32Array[],
  B: number,
  each: <T>(steps: (() => T)[]) => T[],
): Float32Array[] {
  const { models, opts } = e;
  const out: Float32Array[] = [];
  const q = each(models.map((m, i) => () => m.forward(xs[i], B)));
  out.push(...q.map((v) => v.slice()));
  const dxIn = each(models.map((m, i) => () => m.backward(dys[i], B, { inputGrad: true, paramGrad: false })!));
  out.push(...dxIn.map((v) => v.slice()));
  for (const m of models) m.zeroGrad();
  const dx = each(
    models.map((m, i) => () => {
      m.forward(xs[i], B);
      const g = m.backward(dys[i], B, { inputGrad: true })!;
      opts[i].update();
      return g;
    }),
  );
  out.push(...dx.map((v) => v.slice()), ...models.map((m) => m.grads.slice()), ...models.map((m) => m.values.slice()));
  return out;
}

const oneAfterOther = <T>(steps: (() => T)[]): T[] => steps.map((s) => s());

function checkBitEqual(B: number) {
  for (const [n, layerNorm] of [
    [2, true],
    [3, true],
    [2, false],
    [3, false],
  ] as const) {
    const rng = Rng.fromSeed(n * 10 + Number(layerNorm));
    const shared = rng.fillNormal(new Float32Array(B * IN));
    // Members 0 and 1 read the same input (as critics of one batch do); member 2 its own.
    const xs = Array.from({ length: n }, (_, i) => (i < 2 ? shared : rng.fillNormal(new Float32Array(B * IN))));
    const dys = Array.from({ length: n }, () => rng.fillNormal(new Float32Array(B)));
    const seq = ensemble(n, layerNorm, 7);
    const conc = ensemble(n, layerNorm, 7);
    for (let r = 0; r < 2; r++) {
      const want = round(seq, xs, dys, B, oneAfterOther);
      const got = round(conc, xs, dys, B, runConcurrently);
      expect(got.length).toBe(want.length);
      got.forEach((g, k) => expectSameBits(g, want[k], `${n} members, layerNorm ${layerNorm}, round ${r}, result ${k}`));
    }
  }
}

function refusals(backend: Backend) {
  const x = new Float32Array(8 * IN);
  expect(() => runConcurrently([() => getBackend().sumSquares(x)])).toThrow(/sumSquares .*cannot run inside runConcurrently/);
  expect(getBackend()).toBe(backend); // restored after the throw
  const ln = new Model(new LayerNorm(IN), Rng.fromSeed(1));
  expect(() => runConcurrently([() => ln.forward(x, 8)])).toThrow(/LayerNorm .*cannot run inside runConcurrently/);
  const { models } = ensemble(2, true, 3);
  expect(() => runConcurrently([() => models[0].zeroGrad()])).toThrow(/zeroGrad .*cannot run inside runConcurrently/);
  expect(() => runConcurrently([() => runConcurrently([() => 1])])).toThrow(/cannot nest/);
  // Two tasks writing the same memory, or one reading what the other writes, would race: refused, whichever backend.
  const shared = new Float32Array(IN);
  const src = x.subarray(0, 4);
  const writeBoth = [0, 1].map(() => () => getBackend().axpby(shared.subarray(0, 4), src, 1, 1));
  expect(() => runConcurrently(writeBoth)).toThrow(/task \d writes memory that task \d also uses/);
  const own = new Float32Array(4);
  const readWritten = [() => getBackend().axpby(shared.subarray(0, 4), src, 1, 1), () => getBackend().axpby(own, shared.subarray(2, 6), 1, 1)];
  expect(() => runConcurrently(readWritten)).toThrow(/task 0 writes memory that task 1 also uses \(bytes 8\.\.16 of one buffer\)/);
  // Neighbouring views of one buffer are fine; so is reading the same input.
  const before = shared.slice();
  runConcurrently([() => getBackend().axpby(shared.subarray(0, 4), src, 1, 1), () => getBackend().axpby(shared.subarray(4, 8), src, 1, 1)]);
  expect([...shared.subarray(0, 8)]).toEqual([...before.subarray(0, 4), ...before.subarray(4, 8)].map((v, i) => Math.fround(v + src[i % 4])));
  expect(getBackend()).toBe(backend);
}

describe.runIf(auto.name === 'native')('runConcurrently on the native backend (built-in gemm, 2 threads)', () => {
  it('every output, gradient and updated weight is bit-equal to running the members one after the other', () => {
    setBackend(auto);
    setNativeGemm('builtin');
    nativeThreads(2);
    checkBitEqual(256); // 256 x 128 x 128 products run on 2 threads one after the other, on 1 each concurrently
  });

  it('runs recorded programs in native code with the built-in gemm, and declines with OpenBLAS', () => {
    setBackend(auto);
    setNativeGemm('builtin');
    const y = new Float32Array([1, 2, 3]);
    const x = new Float32Array([10, 20, 30]);
    const prog = { nums: Float64Array.from([6, 1, 1]), arrays: [y, x] }; // axpby: y = x + y
    expect(auto.runPrograms!([prog, { nums: new Float64Array(0), arrays: [] }])).toBe(true);
    expect([...y]).toEqual([11, 22, 33]);
    if (info?.hasOpenblas) {
      setNativeGemm('openblas');
      expect(auto.runPrograms!([prog])).toBe(false);
      expect([...y]).toEqual([11, 22, 33]);
      setNativeGemm('builtin');
    }
  });

  it('a bad program throws before anything runs', () => {
    setBackend(auto);
    setNativeGemm('builtin');
    const y = new Float32Array([1, 2, 3]);
    const ok = { nums: Float64Array.from([6, 1, 1]), arrays: [y, new Float32Array(3)] };
    const short = { nums: Float64Array.from([6, 1, 1]), arrays: [new Float32Array(4), new Float32Array(3)] };
    expect(() => auto.runPrograms!([ok, short])).toThrow(/program 1 op 0 \(axpby\): x has 3 elements, needs 4/);
    const gemm = {
      nums: Float64Array.from([0, 0, 0, 4, 4, 4, 1, 4, 4, 0, 4]),
      arrays: [new Float32Array(16), new Float32Array(15), new Float32Array(16)],
    };
    expect(() => auto.runPrograms!([ok, gemm])).toThrow(/program 1 op 0 \(gemm\): B has 15 elements, needs 16/);
    expect(() => auto.runPrograms!([{ nums: Float64Array.from([9]), arrays: [] }])).toThrow(/unknown op code/);
    expect(() => auto.runPrograms!([{ nums: Float64Array.from([6, 1]), arrays: [y, y] }])).toThrow(/ends inside this op/);
    expect(() => auto.runPrograms!([{ nums: Float64Array.from([1, -1, 3, 0]), arrays: [y, null, y] }])).toThrow(/rows must be an integer >= 0/);
    expect([...y]).toEqual([1, 2, 3]);
  });

  it('refuses what it cannot record', () => refusals(auto));
});

describe('runConcurrently on the js backend (replayed in order)', () => {
  it('every output, gradient and updated weight is bit-equal to running the members one after the other', () => {
    setBackend(jsBackend);
    checkBitEqual(32);
  });

  it('refuses what it cannot record', () => {
    setBackend(jsBackend);
    refusals(jsBackend);
  });
});
