/**
 * Box spaces, as Gymnasium's `gymnasium.spaces.Box` with dtype float32: a flat vector (or a shape
 * whose product is the vector length) with element-wise bounds that may be infinite.
 */
import { Rng } from '../core/rng.ts';

export class Box {
  readonly low: Float32Array;
  readonly high: Float32Array;
  readonly shape: readonly number[];
  readonly dtype = 'float32' as const;
  /** Number of elements (product of the shape). */
  readonly size: number;
  private rng: Rng;

  /**
   * @param low  scalar (broadcast) or one bound per element
   * @param high scalar (broadcast) or one bound per element
   * @param shape defaults to [low.length] (or [high.length]) when a bound is an array
   */
  constructor(low: number | ArrayLike<number>, high: number | ArrayLike<number>, shape?: readonly number[]) {
    const inferred = shape ?? (typeof low !== 'number' ? [low.length] : typeof high !== 'number' ? [high.length] : undefined);
    if (!inferred) throw new Error('Box: give a shape when both bounds are scalars');
    if (inferred.some((d) => !Number.isInteger(d) || d < 0)) throw new Error(`Box: invalid shape [${inferred.join(', ')}]`);
    this.shape = Object.freeze([...inferred]);
    this.size = inferred.reduce((a, b) => a * b, 1);
    this.low = broadcast(low, this.size, 'low');
    this.high = broadcast(high, this.size, 'high');
    for (let i = 0; i < this.size; i++) {
      if (Number.isNaN(this.low[i]) || Number.isNaN(this.high[i]) || this.low[i] > this.high[i]) {
        throw new Error(`Box: bad bounds at ${i}: low=${this.low[i]} high=${this.high[i]}`);
      }
    }
    // Unseeded spaces are deterministic (seed 0) rather than drawing OS entropy as Gymnasium does.
    this.rng = Rng.fromSeed(0);
  }

  /** Reseed the space's own generator (Gymnasium `space.seed(seed)`). */
  seed(seed: number): void {
    this.rng = Rng.fromSeed(seed);
  }

  /** True when every element has finite low and high bounds. */
  isBounded(): boolean {
    for (let i = 0; i < this.size; i++) if (!Number.isFinite(this.low[i]) || !Number.isFinite(this.high[i])) return false;
    return true;
  }

  /**
   * A random element, as Gymnasium's Box.sample: uniform on bounded coordinates, standard normal on
   * unbounded ones, low + Exp(1) / high - Exp(1) on half-bounded ones.
   */
  sample(rng: Rng = this.rng, out: Float32Array = new Float32Array(this.size)): Float32Array {
    if (out.length !== this.size) throw new Error(`Box.sample: out has ${out.length} elements, space has ${this.size}`);
    for (let i = 0; i < this.size; i++) {
      const lo = this.low[i];
      const hi = this.high[i];
      const loFinite = Number.isFinite(lo);
      const hiFinite = Number.isFinite(hi);
      let v: number;
      if (loFinite && hiFinite) v = rng.uniformRange(lo, hi);
      else if (loFinite) v = lo - Math.log1p(-rng.uniform());
      else if (hiFinite) v = hi + Math.log1p(-rng.uniform());
      else v = rng.normal();
      out[i] = v;
      // Rounding to float32 can land exactly on or just past a bound; keep the sample inside.
      if (out[i] > hi) out[i] = hi;
      if (out[i] < lo) out[i] = lo;
    }
    return out;
  }

  /** Whether x has this space's size and every element lies within [low, high] (NaN never does). */
  contains(x: ArrayLike<number>): boolean {
    if (x.length !== this.size) return false;
    for (let i = 0; i < this.size; i++) {
      const v = x[i];
      if (!(v >= this.low[i] && v <= this.high[i])) return false;
    }
    return true;
  }

  equals(other: Box): boolean {
    if (other.size !== this.size || other.shape.length !== this.shape.length) return false;
    for (let i = 0; i < this.shape.length; i++) if (other.shape[i] !== this.shape[i]) return false;
    for (let i = 0; i < this.size; i++) {
      if (!Object.is(other.low[i], this.low[i]) || !Object.is(other.high[i], this.high[i])) return false;
    }
    return true;
  }

  toString(): string {
    const lo = uniformValue(this.low);
    const hi = uniformValue(this.high);
    const bound = (v: number | null, arr: Float32Array) => (v === null ? `[${Array.from(arr).join(', ')}]` : String(v));
    return `Box(${bound(lo, this.low)}, ${bound(hi, this.high)}, [${this.shape.join(', ')}], float32)`;
  }
}

function broadcast(bound: number | ArrayLike<number>, size: number, name: string): Float32Array {
  const out = new Float32Array(size);
  if (typeof bound === 'number') return out.fill(bound);
  if (bound.length !== size) throw new Error(`Box: ${name} has ${bound.length} elements, shape needs ${size}`);
  for (let i = 0; i < size; i++) out[i] = bound[i];
  return out;
}

function uniformValue(arr: Float32Array): number | null {
  for (let i = 1; i < arr.length; i++) if (!Object.is(arr[i], arr[0])) return null;
  return arr.length > 0 ? arr[0] : null;
}
