/**
 * The noise-prediction network eps_theta(x_t, t, obs), DPPO's DiffusionMLP with residual_style:
 *   time_embedding = SinusoidalPosEmb(timeDim) -> Linear(timeDim, 2 timeDim) -> Mish -> Linear(2 timeDim, timeDim)
 *   mlp_mean       = Linear(in, width) -> depth x pre-activation residual block -> Linear(width, xDim)
 * on the input [x_t flattened, time_embedding(t), obs]. Parameter names follow DPPO's state_dict
 * (`time_embedding.1.weight`, `mlp_mean.layers.0.weight`, `mlp_mean.layers.1.l1.weight`, ...), so
 * weights map one-to-one onto the PyTorch module.
 *
 * As one Layer, the whole network lives in one Model (one flat parameter buffer: one Adam, one EMA,
 * one safetensors file). Its input row is [x_t (xDim), t (1, the integer timestep as a float), obs].
 */
import { Act, Dense, Linear, Sequential } from '../../nn/layers.ts';
import { Layer, Scratch, type BackwardOptions } from '../../nn/module.ts';

/** Every diffusion-policy activation is Mish (DPPO's DiffusionMLP default, activation_type="Mish"). */
export const DIFFUSION_ACTIVATION = 'mish' as const;

export interface DiffusionMlpSpec {
  /** Ta * actDim: one flattened action chunk. */
  xDim: number;
  obsDim: number;
  /** Sinusoidal embedding size (DPPO time_dim, 16 in its gym configs); even, >= 4. */
  timeDim: number;
  width: number;
  /** Number of residual blocks (two Linear layers each). */
  depth: number;
}

export function checkDiffusionMlpSpec(spec: DiffusionMlpSpec): void {
  const positive = (name: keyof DiffusionMlpSpec) => {
    if (!Number.isInteger(spec[name]) || spec[name] < 1) throw new Error(`diffusion network: ${name} must be a positive integer, got ${spec[name]}`);
  };
  positive('xDim');
  positive('obsDim');
  positive('width');
  if (!Number.isInteger(spec.depth) || spec.depth < 0) throw new Error(`diffusion network: depth must be a non-negative integer, got ${spec.depth}`);
  if (!Number.isInteger(spec.timeDim) || spec.timeDim < 4 || spec.timeDim % 2 !== 0) {
    throw new Error(`diffusion network: timeDim must be an even integer >= 4, got ${spec.timeDim}`);
  }
}

/**
 * Parameters of a DiffusionMlp with this spec, by arithmetic (nothing allocated), so a loader can
 * compare a manifest's architecture with its weights before building a network of that size:
 * time embedding Linear(T, 2T) + Linear(2T, T); Linear(cat, W); depth x (2 x Linear(W, W)); Linear(W, x).
 */
export function diffusionMlpParameterCount(spec: DiffusionMlpSpec): number {
  const { xDim, obsDim, timeDim: t, width: w, depth } = spec;
  const linear = (i: number, o: number) => i * o + o;
  return linear(t, 2 * t) + linear(2 * t, t) + linear(xDim + t + obsDim, w) + depth * 2 * linear(w, w) + linear(w, xDim);
}

/** SinusoidalPosEmb frequencies (DPPO, after the Transformer's): f_k = 10000^(-k / (half - 1)), k < half. */
export function sinusoidalFrequencies(timeDim: number): Float64Array {
  const half = timeDim / 2;
  const scale = Math.log(10000) / (half - 1);
  const f = new Float64Array(half);
  for (let k = 0; k < half; k++) f[k] = Math.exp(-k * scale);
  return f;
}

/** [sin(t f_0..), cos(t f_0..)] for each row's t, into out[rows, 2 * half]. */
export function sinusoidalEmbedding(t: ArrayLike<number>, rows: number, freqs: Float64Array, out: Float32Array): void {
  const half = freqs.length;
  for (let r = 0; r < rows; r++) {
    const o = r * 2 * half;
    for (let k = 0; k < half; k++) {
      const a = t[r] * freqs[k];
      out[o + k] = Math.sin(a);
      out[o + half + k] = Math.cos(a);
    }
  }
}

/** t [rows] -> timeDim: sinusoidal features, Linear, Mish, Linear (DPPO indices 1 and 3 name the Linears). */
export class TimeEmbedding extends Layer {
  readonly inDim = 1;
  readonly outDim: number;
  readonly freqs: Float64Array;
  /** Linear(timeDim, 2 timeDim) with the Mish that follows it, fused. */
  readonly l1: Dense;
  readonly l2: Linear;
  private t: Float32Array = new Float32Array(0);
  private readonly emb = new Scratch();
  private readonly dt = new Scratch();

  constructor(readonly timeDim: number) {
    super();
    this.outDim = timeDim;
    this.freqs = sinusoidalFrequencies(timeDim);
    this.l1 = new Dense(timeDim, 2 * timeDim, { activation: DIFFUSION_ACTIVATION });
    this.l2 = new Linear(2 * timeDim, timeDim);
  }

  override children(): [string, Layer][] {
    return [
      ['1', this.l1],
      ['3', this.l2],
    ];
  }

  forward(t: Float32Array, rows: number): Float32Array {
    this.t = t;
    const emb = this.emb.get(rows * this.timeDim);
    sinusoidalEmbedding(t, rows, this.freqs, emb);
    return this.l2.forward(this.l1.forward(emb, rows), rows);
  }

  backward(dy: Float32Array, rows: number, opts: BackwardOptions = {}): Float32Array | null {
    const wantInput = opts.inputGrad !== false;
    const g = this.l1.backward(this.l2.backward(dy, rows, { paramGrad: opts.paramGrad, inputGrad: true })!, rows, {
      paramGrad: opts.paramGrad,
      inputGrad: wantInput,
    });
    if (!wantInput) return null;
    // d/dt [sin(t f), cos(t f)] = [f cos(t f), -f sin(t f)]
    const half = this.freqs.length;
    const dt = this.dt.get(rows);
    for (let r = 0; r < rows; r++) {
      let s = 0;
      const o = r * 2 * half;
      for (let k = 0; k < half; k++) {
        const f = this.freqs[k];
        const a = this.t[r] * f;
        s += g![o + k] * f * Math.cos(a) - g![o + half + k] * f * Math.sin(a);
      }
      dt[r] = s;
    }
    return dt;
  }
}

/**
 * DPPO TwoLayerPreActivationResNetLinear without LayerNorm: y = x + l2(act(l1(act(x)))).
 * l1 carries the second activation (fused Dense), so names stay `l1.*` / `l2.*` as in PyTorch.
 */
export class PreActResidualBlock extends Layer {
  readonly inDim: number;
  readonly outDim: number;
  private readonly act: Act;
  readonly l1: Dense;
  readonly l2: Linear;
  private readonly y = new Scratch();
  private readonly dx = new Scratch();

  constructor(readonly dim: number) {
    super();
    this.inDim = dim;
    this.outDim = dim;
    this.act = new Act(dim, DIFFUSION_ACTIVATION);
    this.l1 = new Dense(dim, dim, { activation: DIFFUSION_ACTIVATION });
    this.l2 = new Linear(dim, dim);
  }

  override children(): [string, Layer][] {
    return [
      ['l1', this.l1],
      ['l2', this.l2],
    ];
  }

  forward(x: Float32Array, rows: number): Float32Array {
    const n = rows * this.dim;
    const z = this.l2.forward(this.l1.forward(this.act.forward(x, rows), rows), rows);
    const y = this.y.get(n);
    y.set(z.subarray(0, n));
    this.be.axpby(y, x.subarray(0, n), 1, 1);
    return y;
  }

  backward(dy: Float32Array, rows: number, opts: BackwardOptions = {}): Float32Array | null {
    const wantInput = opts.inputGrad !== false;
    const g2 = this.l2.backward(dy, rows, { paramGrad: opts.paramGrad, inputGrad: true })!;
    const g1 = this.l1.backward(g2, rows, { paramGrad: opts.paramGrad, inputGrad: wantInput });
    if (!wantInput) return null;
    const g0 = this.act.backward(g1!, rows, { inputGrad: true })!;
    const n = rows * this.dim;
    const dx = this.dx.get(n);
    dx.set(g0.subarray(0, n));
    this.be.axpby(dx, dy.subarray(0, n), 1, 1);
    return dx;
  }
}

/** DPPO ResidualMLP: Linear(in, width), residual blocks, Linear(width, out) (identity output); a Sequential with DPPO's names. */
export class ResidualMlp extends Sequential {
  constructor(
    inDim: number,
    readonly width: number,
    readonly depth: number,
    outDim: number,
  ) {
    super(new Linear(inDim, width), ...Array.from({ length: depth }, () => new PreActResidualBlock(width)), new Linear(width, outDim));
  }

  override children(): [string, Layer][] {
    return this.layers.map((l, i) => [`layers.${i}`, l]);
  }
}

/** eps_theta on rows [x_t, t, obs] -> predicted noise [xDim]. */
export class DiffusionMlp extends Layer {
  readonly inDim: number;
  readonly outDim: number;
  readonly timeEmbedding: TimeEmbedding;
  readonly body: ResidualMlp;
  /** Width of the body's input: [x_t, time embedding, obs]. */
  readonly catDim: number;
  private readonly t = new Scratch();
  private readonly cat = new Scratch();
  private readonly dTemb = new Scratch();
  private readonly dx = new Scratch();

  constructor(readonly spec: DiffusionMlpSpec) {
    super();
    checkDiffusionMlpSpec(spec);
    const { xDim, obsDim, timeDim, width, depth } = spec;
    this.inDim = xDim + 1 + obsDim;
    this.outDim = xDim;
    this.catDim = xDim + timeDim + obsDim;
    this.timeEmbedding = new TimeEmbedding(timeDim);
    this.body = new ResidualMlp(this.catDim, width, depth, xDim);
  }

  override children(): [string, Layer][] {
    return [
      ['time_embedding', this.timeEmbedding],
      ['mlp_mean', this.body],
    ];
  }

  forward(x: Float32Array, rows: number): Float32Array {
    const { xDim, obsDim, timeDim } = this.spec;
    const inDim = this.inDim;
    const catDim = this.catDim;
    const t = this.t.get(rows);
    for (let r = 0; r < rows; r++) t[r] = x[r * inDim + xDim];
    const temb = this.timeEmbedding.forward(t, rows);
    const cat = this.cat.get(rows * catDim);
    for (let r = 0; r < rows; r++) {
      const i = r * inDim;
      const o = r * catDim;
      cat.set(x.subarray(i, i + xDim), o);
      cat.set(temb.subarray(r * timeDim, (r + 1) * timeDim), o + xDim);
      cat.set(x.subarray(i + xDim + 1, i + xDim + 1 + obsDim), o + xDim + timeDim);
    }
    return this.body.forward(cat, rows);
  }

  backward(dy: Float32Array, rows: number, opts: BackwardOptions = {}): Float32Array | null {
    const { xDim, obsDim, timeDim } = this.spec;
    const wantInput = opts.inputGrad !== false;
    const wantParams = opts.paramGrad !== false;
    if (!wantInput && !wantParams) return null;
    const catDim = this.catDim;
    const dcat = this.body.backward(dy, rows, { paramGrad: opts.paramGrad, inputGrad: true })!;
    const dTemb = this.dTemb.get(rows * timeDim);
    for (let r = 0; r < rows; r++) dTemb.set(dcat.subarray(r * catDim + xDim, r * catDim + xDim + timeDim), r * timeDim);
    const dt = this.timeEmbedding.backward(dTemb, rows, { paramGrad: opts.paramGrad, inputGrad: wantInput });
    if (!wantInput) return null;
    const inDim = this.inDim;
    const dx = this.dx.get(rows * inDim);
    for (let r = 0; r < rows; r++) {
      const i = r * inDim;
      const o = r * catDim;
      dx.set(dcat.subarray(o, o + xDim), i);
      dx[i + xDim] = dt![r];
      dx.set(dcat.subarray(o + xDim + timeDim, o + catDim), i + xDim + 1);
    }
    return dx;
  }
}
