/**
 * The normalizations that travel with a diffusion policy (DPPO / DSRL reference):
 * observations -> [-1, 1] from the dataset's per-dimension min/max, `2*((o - min)/(max - min + 1e-6) - 0.5)`;
 * actions <-> [-1, 1] from the env's action bounds.
 */

/** Added to (max - min) so constant observation dimensions do not divide by zero (DPPO's 1e-6). */
export const OBS_RANGE_EPS = 1e-6;

export interface ObsStats {
  min: Float32Array;
  max: Float32Array;
}

/** Per-dimension min/max over rows of a row-major [rows, dim] array. */
export function minMaxStats(values: Float32Array, rows: number, dim: number): ObsStats {
  if (rows < 1) throw new Error('minMaxStats: no rows');
  const min = new Float32Array(dim).fill(Infinity);
  const max = new Float32Array(dim).fill(-Infinity);
  for (let r = 0; r < rows; r++) {
    const o = r * dim;
    for (let j = 0; j < dim; j++) {
      const v = values[o + j];
      if (v < min[j]) min[j] = v;
      if (v > max[j]) max[j] = v;
    }
  }
  return { min, max };
}

/**
 * Precomputed affine map o -> o * scale + shift equal to 2*((o - min)/(max - min + 1e-6) - 0.5),
 * so the hot path is one multiply-add per value.
 */
export class ObsNormalizer {
  readonly scale: Float32Array;
  readonly shift: Float32Array;
  constructor(readonly stats: ObsStats) {
    const dim = stats.min.length;
    if (stats.max.length !== dim) throw new Error(`ObsNormalizer: min has ${dim} values but max has ${stats.max.length}`);
    this.scale = new Float32Array(dim);
    this.shift = new Float32Array(dim);
    for (let j = 0; j < dim; j++) {
      const range = stats.max[j] - stats.min[j];
      if (!(range >= 0)) throw new Error(`ObsNormalizer: dimension ${j} has max ${stats.max[j]} < min ${stats.min[j]}`);
      const s = 2 / (range + OBS_RANGE_EPS);
      this.scale[j] = s;
      this.shift[j] = -stats.min[j] * s - 1;
    }
  }

  get dim(): number {
    return this.scale.length;
  }

  /** out[r, j] = normalized obs[r, j]; out may be a strided destination (row stride `outStride`, offset `outOffset`). */
  apply(obs: Float32Array, rows: number, out: Float32Array, outStride = this.dim, outOffset = 0): void {
    const dim = this.dim;
    const { scale, shift } = this;
    for (let r = 0; r < rows; r++) {
      const i = r * dim;
      const o = r * outStride + outOffset;
      for (let j = 0; j < dim; j++) out[o + j] = obs[i + j] * scale[j] + shift[j];
    }
  }

  /** out[r, j] = the observation whose normalization is normalized[r, j] (apply's inverse, to float rounding). */
  invert(normalized: Float32Array, rows: number, out: Float32Array): void {
    const { scale, shift } = this;
    const dim = this.dim;
    for (let i = 0; i < rows * dim; i++) {
      const j = i % dim;
      out[i] = (normalized[i] - shift[j]) / scale[j];
    }
  }
}

/** Checks action bounds are finite with low < high, as the [-1, 1] mapping needs. */
export function checkActionBounds(low: ArrayLike<number>, high: ArrayLike<number>, actDim: number, source = 'action bounds'): void {
  if (low.length !== actDim || high.length !== actDim) {
    throw new Error(`${source}: expected ${actDim} values for low and high, got ${low.length} and ${high.length}`);
  }
  for (let j = 0; j < actDim; j++) {
    if (!Number.isFinite(low[j]) || !Number.isFinite(high[j]) || !(low[j] < high[j])) {
      throw new Error(`${source}: dimension ${j} has low=${low[j]} high=${high[j]}; need finite bounds with low < high`);
    }
  }
}

/** Tolerance before an action counts as outside its bounds (float32 rounding of values at the bounds). */
const BOUND_TOLERANCE = 1e-5;

/** Env units -> [-1, 1]; values outside the bounds are clipped. Returns how many lay beyond them (past rounding). */
export function normalizeActions(actions: Float32Array, low: Float32Array, high: Float32Array, out: Float32Array): number {
  const da = low.length;
  let clipped = 0;
  for (let i = 0; i < actions.length; i++) {
    const j = i % da;
    let v = (2 * (actions[i] - low[j])) / (high[j] - low[j]) - 1;
    if (Math.abs(v) > 1 + BOUND_TOLERANCE) clipped++;
    v = v > 1 ? 1 : v < -1 ? -1 : v;
    out[i] = v;
  }
  return clipped;
}
