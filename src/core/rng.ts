/**
 * Seeded, splittable pseudo-random generator: the only source of randomness in dsrl.
 *
 * xoshiro128** (Blackman & Vigna, 2018) on 32-bit integers: fast in JS, 2^128 - 1 period, and its
 * full state is four integers, so a run's generators can be saved in a checkpoint and restored
 * exactly. Seeds are expanded with splitmix32 so nearby seeds give unrelated streams. `split()`
 * derives an independent child stream (for a worker, a network init, an env) without disturbing
 * how the parent's own stream continues beyond the draws used to seed it.
 */

export interface RngState {
  s: [number, number, number, number];
  /** Spare standard normal from Box-Muller, or null. Part of the state so resume is exact. */
  spare: number | null;
}

function splitmix32(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (x + 0x9e3779b9) >>> 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

function hashString(text: string): number {
  // FNV-1a, enough to turn a name into a 32-bit seed.
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

const TWO_POW_M32 = 2 ** -32;
const TWO_POW_M24 = 2 ** -24;
const TWO_POW_M53 = 2 ** -53;

export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  private spare: number | null = null;

  private constructor(s: readonly number[]) {
    this.s0 = s[0] >>> 0;
    this.s1 = s[1] >>> 0;
    this.s2 = s[2] >>> 0;
    this.s3 = s[3] >>> 0;
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s3 = 1; // all-zero is a fixed point
  }

  /** A generator from an integer seed (any safe integer) or a string. */
  static fromSeed(seed: number | string): Rng {
    let base: number;
    if (typeof seed === 'string') base = hashString(seed);
    else {
      if (!Number.isSafeInteger(seed)) throw new Error(`Rng seed must be a safe integer, got ${seed}`);
      // Fold the high bits in so seeds above 2^32 still differ.
      base = (seed >>> 0) ^ Math.imul(Math.floor(seed / 2 ** 32) >>> 0, 0x9e3779b1);
    }
    const sm = splitmix32(base);
    return new Rng([sm(), sm(), sm(), sm()]);
  }

  static fromState(state: RngState): Rng {
    if (!state || !Array.isArray(state.s) || state.s.length !== 4 || state.s.some((v) => !Number.isInteger(v))) {
      throw new Error('invalid RNG state: expected {s: [4 integers], spare}');
    }
    const r = new Rng(state.s);
    r.spare = state.spare ?? null;
    return r;
  }

  /** Continue from a saved state, in place (objects holding this generator keep it). */
  setState(state: RngState): void {
    const r = Rng.fromState(state);
    this.s0 = r.s0;
    this.s1 = r.s1;
    this.s2 = r.s2;
    this.s3 = r.s3;
    this.spare = r.spare;
  }

  state(): RngState {
    return { s: [this.s0 >>> 0, this.s1 >>> 0, this.s2 >>> 0, this.s3 >>> 0], spare: this.spare };
  }

  /** Uniform 32-bit unsigned integer. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform double in [0, 1) with 53 random bits. */
  uniform(): number {
    const hi = this.nextU32() >>> 5; // 27 bits
    const lo = this.nextU32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) * TWO_POW_M53;
  }

  /** Uniform float in [lo, hi). */
  uniformRange(lo: number, hi: number): number {
    return lo + (hi - lo) * this.uniform();
  }

  /** Uniform integer in [0, n), without modulo bias. */
  int(n: number): number {
    if (!(n > 0) || n > 2 ** 32 || !Number.isInteger(n)) throw new Error(`Rng.int: n must be an integer in [1, 2^32], got ${n}`);
    const limit = Math.floor(2 ** 32 / n) * n;
    for (;;) {
      const x = this.nextU32();
      if (x < limit) return x % n;
    }
  }

  /** Standard normal (Box-Muller, both values used). */
  normal(): number {
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return v;
    }
    // u1 in (0, 1] so log(u1) is finite.
    const u1 = (this.nextU32() + 1) * TWO_POW_M32;
    const u2 = this.nextU32() * TWO_POW_M32;
    const r = Math.sqrt(-2 * Math.log(u1));
    const a = 2 * Math.PI * u2;
    this.spare = r * Math.sin(a);
    return r * Math.cos(a);
  }

  fillUniform<T extends Float32Array | Float64Array>(out: T, lo = 0, hi = 1): T {
    const span = hi - lo;
    for (let i = 0; i < out.length; i++) out[i] = lo + span * ((this.nextU32() >>> 8) * TWO_POW_M24);
    return out;
  }

  fillNormal<T extends Float32Array | Float64Array>(out: T, mean = 0, std = 1): T {
    for (let i = 0; i < out.length; i++) out[i] = mean + std * this.normal();
    return out;
  }

  /** A random permutation of 0..n-1 (Fisher-Yates). */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    return p;
  }

  /** An independent child generator; advances this one by four draws. */
  split(): Rng {
    const sm = splitmix32(this.nextU32() ^ 0x6a09e667);
    const a = this.nextU32();
    const b = this.nextU32();
    const c = this.nextU32();
    return new Rng([sm() ^ a, sm() ^ b, sm() ^ c, sm()]);
  }

  /** A child generator derived from this one's seed material and a name, without advancing this one. */
  derive(name: string): Rng {
    const sm = splitmix32(hashString(name) ^ this.s0 ^ Math.imul(this.s2, 0x9e3779b1));
    return new Rng([sm() ^ this.s1, sm() ^ this.s3, sm(), sm()]);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
