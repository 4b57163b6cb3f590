/**
 * Layers with explicit forward/backward passes, and Model: a layer tree whose parameters live in
 * one flat Float32Array (and gradients in another), so that Adam, Polyak averaging, EMA, gradient
 * clipping and saving are each one pass over one buffer.
 *
 * Contract: `forward(x, rows)` caches what `backward` needs and returns a view owned by the layer,
 * valid until that layer's next forward. Call backward before the next forward of the same layer.
 */
import type { Rng } from '../core/rng.ts';
import { getBackend, type Backend } from './backend.ts';

export type Init = (rng: Rng, out: Float32Array) => void;

export class Param {
  /** Views into the owning Model's flat buffers; empty until the Model binds them. */
  value: Float32Array = new Float32Array(0);
  grad: Float32Array = new Float32Array(0);
  constructor(
    readonly name: string,
    readonly shape: readonly number[],
    readonly init: Init,
  ) {}
  get size(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }
}

export interface BackwardOptions {
  /** Compute and return the gradient w.r.t. the layer input (default true). */
  inputGrad?: boolean;
  /** Accumulate parameter gradients (default true). false: e.g. the SAC actor loss through a critic. */
  paramGrad?: boolean;
}

/** A growable scratch buffer: returns an exact-length view, reallocating only when it must grow. */
export class Scratch {
  private buf: Float32Array = new Float32Array(0);
  private view = this.buf;
  get(n: number): Float32Array {
    if (n !== this.view.length) {
      if (n > this.buf.length) this.buf = new Float32Array(Math.max(n, Math.ceil(this.buf.length * 1.5)));
      this.view = this.buf.subarray(0, n);
    }
    return this.view;
  }
}

/**
 * For code that reads or writes network buffers in JS: inside runConcurrently (concurrent.ts) it would run
 * before the recorded ops it should follow, so it refuses to.
 */
export function refuseRecording(be: Backend, what: string): void {
  if (be.recording) {
    throw new Error(`${what} reads or writes buffers in JS, so it cannot run inside runConcurrently (run it before or after)`);
  }
}

export abstract class Layer {
  abstract readonly inDim: number;
  abstract readonly outDim: number;
  protected readonly ownParams: Param[] = [];

  protected param(name: string, shape: number[], init: Init): Param {
    const p = new Param(name, shape, init);
    this.ownParams.push(p);
    return p;
  }

  /** Named sub-layers (their parameters get `name.` prefixes). */
  children(): [string, Layer][] {
    return [];
  }

  /** All parameters with dotted names, in a stable order. */
  namedParams(prefix = ''): [string, Param][] {
    const out: [string, Param][] = this.ownParams.map((p) => [prefix + p.name, p]);
    for (const [name, child] of this.children()) out.push(...child.namedParams(`${prefix}${name}.`));
    return out;
  }

  abstract forward(x: Float32Array, rows: number): Float32Array;
  abstract backward(dy: Float32Array, rows: number, opts?: BackwardOptions): Float32Array | null;

  protected get be(): Backend {
    return getBackend();
  }
}

/** A layer tree plus the flat parameter and gradient buffers it owns. */
export class Model {
  readonly params: [string, Param][];
  readonly values: Float32Array;
  readonly grads: Float32Array;

  constructor(
    readonly root: Layer,
    rng: Rng,
  ) {
    this.params = root.namedParams();
    const seen = new Set<string>();
    let total = 0;
    for (const [name, p] of this.params) {
      if (seen.has(name)) throw new Error(`duplicate parameter name "${name}"`);
      seen.add(name);
      total += p.size;
    }
    this.values = new Float32Array(total);
    this.grads = new Float32Array(total);
    let off = 0;
    for (const [, p] of this.params) {
      p.value = this.values.subarray(off, off + p.size);
      p.grad = this.grads.subarray(off, off + p.size);
      p.init(rng, p.value);
      off += p.size;
    }
  }

  get inDim(): number {
    return this.root.inDim;
  }
  get outDim(): number {
    return this.root.outDim;
  }
  get size(): number {
    return this.values.length;
  }

  forward(x: Float32Array, rows: number): Float32Array {
    if (x.length < rows * this.inDim) {
      throw new RangeError(`model input has ${x.length} values, expected ${rows} x ${this.inDim}`);
    }
    return this.root.forward(x, rows);
  }

  backward(dy: Float32Array, rows: number, opts: BackwardOptions = {}): Float32Array | null {
    return this.root.backward(dy, rows, { inputGrad: opts.inputGrad ?? false, paramGrad: opts.paramGrad ?? true });
  }

  zeroGrad(): void {
    refuseRecording(getBackend(), 'Model.zeroGrad');
    this.grads.fill(0);
  }

  /** Copy parameter values from a model of the same architecture (e.g. initialise a target network). */
  copyFrom(other: Model): void {
    if (other.values.length !== this.values.length) {
      throw new Error(`copyFrom: parameter counts differ (${other.values.length} vs ${this.values.length})`);
    }
    this.values.set(other.values);
  }

  /** Parameter shapes by name (for checkpoints and manifests). */
  shapes(): Record<string, number[]> {
    return Object.fromEntries(this.params.map(([n, p]) => [n, [...p.shape]]));
  }
}
