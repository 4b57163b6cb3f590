/**
 * The layers: Linear, Dense (Linear + optional LayerNorm + activation, fused), LayerNorm,
 * activations (ReLU, Tanh, Mish, SiLU), Sequential and Residual.
 *
 * Linear weights use PyTorch's layout, `weight` [out, in] and `bias` [out], and PyTorch's default
 * initialisation (U(-1/sqrt(in), 1/sqrt(in)) for both, torch.nn.Linear.reset_parameters), so
 * weights and behaviour line up with the Python tools users compare against.
 */
import { ACT_CODE, type Activation } from './backend.ts';
import { Layer, refuseRecording, Scratch, type BackwardOptions, type Init, type Param } from './module.ts';

export const uniformInit =
  (bound: number): Init =>
  (rng, out) =>
    rng.fillUniform(out, -bound, bound);
export const constantInit =
  (value: number): Init =>
  (_rng, out) =>
    out.fill(value);

/** Default LayerNorm epsilon (torch.nn.LayerNorm). */
export const LN_EPS = 1e-5;

/**
 * y = act(LN(x W^T + b)) with LN optional and act possibly identity: the building block of every MLP.
 * One gemm plus one fused kernel forward; one fused kernel plus up to two gemms backward.
 */
export class Dense extends Layer {
  readonly weight: Param;
  readonly bias: Param;
  readonly gamma: Param | null;
  readonly beta: Param | null;
  private readonly act: number;
  private x: Float32Array = new Float32Array(0);
  private readonly z = new Scratch();
  private readonly y = new Scratch();
  private readonly xhat = new Scratch();
  private readonly rstd = new Scratch();
  private readonly dz = new Scratch();
  private readonly dx = new Scratch();

  constructor(
    readonly inDim: number,
    readonly outDim: number,
    readonly options: { layerNorm?: boolean; activation?: Activation } = {},
  ) {
    super();
    if (!(inDim > 0 && outDim > 0)) throw new Error(`Dense: dims must be positive, got ${inDim} -> ${outDim}`);
    const bound = 1 / Math.sqrt(inDim);
    this.weight = this.param('weight', [outDim, inDim], uniformInit(bound));
    this.bias = this.param('bias', [outDim], uniformInit(bound));
    const ln = options.layerNorm ?? false;
    this.gamma = ln ? this.param('ln.weight', [outDim], constantInit(1)) : null;
    this.beta = ln ? this.param('ln.bias', [outDim], constantInit(0)) : null;
    this.act = ACT_CODE[options.activation ?? 'identity'];
    if (this.act === undefined) throw new Error(`Dense: unknown activation "${options.activation}"`);
  }

  forward(x: Float32Array, rows: number): Float32Array {
    const { inDim, outDim, be } = this;
    this.x = x;
    const z = this.z.get(rows * outDim);
    be.gemm(false, true, rows, outDim, inDim, 1, x, inDim, this.weight.value, inDim, 0, z, outDim);
    if (this.gamma && this.beta) {
      const y = this.y.get(rows * outDim);
      be.lnActForward(
        z,
        this.bias.value,
        this.gamma.value,
        this.beta.value,
        rows,
        outDim,
        LN_EPS,
        this.act,
        this.xhat.get(rows * outDim),
        this.rstd.get(rows),
        y,
      );
      return y;
    }
    const y = this.act === 0 ? z : this.y.get(rows * outDim);
    be.biasAct(z, this.bias.value, rows, outDim, this.act, y);
    return y;
  }

  backward(dy: Float32Array, rows: number, opts: BackwardOptions = {}): Float32Array | null {
    const { inDim, outDim, be } = this;
    const paramGrad = opts.paramGrad ?? true;
    const dz = this.dz.get(rows * outDim);
    if (this.gamma && this.beta) {
      be.lnActBackward(
        dy,
        this.xhat.get(rows * outDim),
        this.rstd.get(rows),
        this.gamma.value,
        this.beta.value,
        this.y.get(rows * outDim),
        rows,
        outDim,
        this.act,
        dz,
        paramGrad ? this.gamma.grad : null,
        paramGrad ? this.beta.grad : null,
        paramGrad ? this.bias.grad : null,
      );
    } else {
      const z = this.z.get(rows * outDim);
      const y = this.act === 0 ? z : this.y.get(rows * outDim);
      be.biasActBackward(dy, z, y, rows, outDim, this.act, dz, paramGrad ? this.bias.grad : null);
    }
    if (paramGrad) be.gemm(true, false, outDim, inDim, rows, 1, dz, outDim, this.x, inDim, 1, this.weight.grad, inDim);
    if (opts.inputGrad === false) return null;
    const dx = this.dx.get(rows * inDim);
    be.gemm(false, false, rows, inDim, outDim, 1, dz, outDim, this.weight.value, inDim, 0, dx, inDim);
    return dx;
  }
}

/** y = x W^T + b. */
export class Linear extends Dense {
  constructor(inDim: number, outDim: number) {
    super(inDim, outDim, {});
  }
}

/** Standalone LayerNorm over the last dimension, with affine parameters (torch.nn.LayerNorm). */
export class LayerNorm extends Layer {
  readonly gamma: Param;
  readonly beta: Param;
  private readonly z = new Scratch();
  private readonly y = new Scratch();
  private readonly xhat = new Scratch();
  private readonly rstd = new Scratch();
  private readonly dx = new Scratch();

  constructor(
    readonly inDim: number,
    readonly eps = LN_EPS,
  ) {
    super();
    this.gamma = this.param('weight', [inDim], constantInit(1));
    this.beta = this.param('bias', [inDim], constantInit(0));
  }
  get outDim(): number {
    return this.inDim;
  }

  forward(x: Float32Array, rows: number): Float32Array {
    refuseRecording(this.be, 'LayerNorm');
    const n = rows * this.inDim;
    const z = this.z.get(n);
    z.set(x.subarray(0, n)); // the kernel works in place on z; the caller's x stays intact
    const y = this.y.get(n);
    this.be.lnActForward(z, null, this.gamma.value, this.beta.value, rows, this.inDim, this.eps, 0, this.xhat.get(n), this.rstd.get(rows), y);
    return y;
  }

  backward(dy: Float32Array, rows: number, opts: BackwardOptions = {}): Float32Array | null {
    const n = rows * this.inDim;
    const paramGrad = opts.paramGrad ?? true;
    const dx = this.dx.get(n);
    this.be.lnActBackward(
      dy,
      this.xhat.get(n),
      this.rstd.get(rows),
      this.gamma.value,
      this.beta.value,
      this.y.get(n),
      rows,
      this.inDim,
      0,
      dx,
      paramGrad ? this.gamma.grad : null,
      paramGrad ? this.beta.grad : null,
      null,
    );
    return opts.inputGrad === false ? null : dx;
  }
}

/** Element-wise activation as its own layer (ReLU, Tanh, Mish, SiLU). */
export class Act extends Layer {
  private readonly code: number;
  private x: Float32Array = new Float32Array(0);
  private readonly y = new Scratch();
  private readonly dx = new Scratch();

  constructor(
    readonly inDim: number,
    readonly activation: Activation,
  ) {
    super();
    this.code = ACT_CODE[activation];
    if (this.code === undefined) throw new Error(`unknown activation "${activation}"`);
  }
  get outDim(): number {
    return this.inDim;
  }

  forward(x: Float32Array, rows: number): Float32Array {
    this.x = x;
    const y = this.y.get(rows * this.inDim);
    this.be.biasAct(x, null, rows, this.inDim, this.code, y); // bias null: x is read, not modified
    return y;
  }

  backward(dy: Float32Array, rows: number, opts: BackwardOptions = {}): Float32Array | null {
    if (opts.inputGrad === false) return null;
    const n = rows * this.inDim;
    const dx = this.dx.get(n);
    this.be.biasActBackward(dy, this.x, this.y.get(n), rows, this.inDim, this.code, dx, null);
    return dx;
  }
}

export const ReLU = (dim: number) => new Act(dim, 'relu');
export const Tanh = (dim: number) => new Act(dim, 'tanh');
export const Mish = (dim: number) => new Act(dim, 'mish');
export const SiLU = (dim: number) => new Act(dim, 'silu');

export class Sequential extends Layer {
  readonly layers: Layer[];
  constructor(...layers: Layer[]) {
    super();
    if (layers.length === 0) throw new Error('Sequential needs at least one layer');
    for (let i = 1; i < layers.length; i++) {
      if (layers[i].inDim !== layers[i - 1].outDim) {
        throw new Error(`Sequential: layer ${i} expects ${layers[i].inDim} inputs but layer ${i - 1} gives ${layers[i - 1].outDim}`);
      }
    }
    this.layers = layers;
  }
  get inDim(): number {
    return this.layers[0].inDim;
  }
  get outDim(): number {
    return this.layers[this.layers.length - 1].outDim;
  }
  override children(): [string, Layer][] {
    return this.layers.map((l, i) => [String(i), l]);
  }

  forward(x: Float32Array, rows: number): Float32Array {
    let h = x;
    for (const layer of this.layers) h = layer.forward(h, rows);
    return h;
  }

  backward(dy: Float32Array, rows: number, opts: BackwardOptions = {}): Float32Array | null {
    let g: Float32Array | null = dy;
    for (let i = this.layers.length - 1; i >= 0; i--) {
      const wantInput = i > 0 || opts.inputGrad !== false;
      g = this.layers[i].backward(g!, rows, { paramGrad: opts.paramGrad, inputGrad: wantInput });
    }
    return g;
  }
}

/** y = x + body(x) (body maps dim -> dim). */
export class Residual extends Layer {
  private readonly y = new Scratch();
  private readonly dx = new Scratch();
  constructor(readonly body: Layer) {
    super();
    if (body.inDim !== body.outDim) throw new Error(`Residual: body must map a dim to itself, got ${body.inDim} -> ${body.outDim}`);
  }
  get inDim(): number {
    return this.body.inDim;
  }
  get outDim(): number {
    return this.body.outDim;
  }
  override children(): [string, Layer][] {
    return [['body', this.body]];
  }

  forward(x: Float32Array, rows: number): Float32Array {
    refuseRecording(this.be, 'Residual');
    const n = rows * this.inDim;
    const f = this.body.forward(x, rows);
    const y = this.y.get(n);
    y.set(f.subarray(0, n));
    this.be.axpby(y, x.subarray(0, n), 1, 1);
    return y;
  }

  backward(dy: Float32Array, rows: number, opts: BackwardOptions = {}): Float32Array | null {
    refuseRecording(this.be, 'Residual');
    const n = rows * this.inDim;
    const wantInput = opts.inputGrad !== false;
    const g = this.body.backward(dy, rows, { paramGrad: opts.paramGrad, inputGrad: wantInput });
    if (!wantInput) return null;
    const dx = this.dx.get(n);
    dx.set(g!.subarray(0, n));
    this.be.axpby(dx, dy.subarray(0, n), 1, 1);
    return dx;
  }
}
