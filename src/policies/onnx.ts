/**
 * ONNX policies on onnxruntime-node (Node only; CPU provider; inference only).
 *
 * Contract: inputs `obs` float32 [B, obsDim] and `noise` float32 [B, Ta, da], output `actions` float32
 * [B, Ta, da] in env units. Dims come from the graph (symbolic dims such as "B" are strings in
 * `session.inputMetadata`) and/or a manifest beside the model (`hopper.onnx` -> `hopper.json`, see
 * onnx-manifest.ts); both are checked against each other and against the env. Action bounds come from
 * the manifest, else from the env.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { Rng } from '../core/rng.ts';
import { writeFileAtomic } from '../node/fs.ts';
import type { ObsStats } from './diffusion/normalization.ts';
import type { DiffusionPolicy } from './diffusion/policy.ts';
import { diffusionPolicyOnnx } from './diffusion-onnx.ts';
import { checkBounds, checkPolicyMatches, type PolicyExpectation } from './expect.ts';
import { buildOnnxManifest, parseOnnxManifest, type OnnxPolicyManifest } from './onnx-manifest.ts';
import { POLICY_INPUT_NOISE, POLICY_INPUT_OBS, POLICY_OUTPUT_ACTIONS } from './onnx-writer.ts';
import { checkPolicyInputs, type NoisePolicy } from './policy.ts';

export interface LoadOnnxPolicyOptions {
  /** What the env needs: dims are checked, bounds fill in when the manifest has none. */
  expect?: PolicyExpectation;
  /** Manifest path; default: beside the model (`x.json`, then `x.onnx.json`); false: ignore any manifest. */
  manifest?: string | false;
  /** onnxruntime intra-op threads (default 1: small MLPs at small batches gain nothing from more). */
  threads?: number;
}

/** The manifest paths looked for beside a model, in order. */
export function manifestPathsFor(modelPath: string): string[] {
  const base = modelPath.replace(/\.onnx$/i, '');
  return base === modelPath ? [`${modelPath}.json`] : [`${base}.json`, `${modelPath}.json`];
}

type TensorMeta = { name: string; shape: readonly (number | string)[]; type: string };

function describeShape(shape: readonly (number | string)[]): string {
  return `[${shape.map((d) => (typeof d === 'string' ? JSON.stringify(d) : d)).join(', ')}]`;
}

export async function loadOnnxPolicy(path: string, options: LoadOnnxPolicyOptions = {}): Promise<OnnxPolicy> {
  if (!existsSync(path)) throw new Error(`${path}: no such ONNX model file`);
  let manifest: OnnxPolicyManifest | null = null;
  let manifestPath: string | null = null;
  if (options.manifest !== false) {
    const candidates = options.manifest ? [options.manifest] : manifestPathsFor(path);
    manifestPath = candidates.find((p) => existsSync(p)) ?? null;
    if (options.manifest && !manifestPath) throw new Error(`${options.manifest}: no such manifest file (given for ${path})`);
    if (manifestPath) manifest = parseOnnxManifest(readFileSync(manifestPath, 'utf8'), manifestPath);
  }

  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(path, {
      executionProviders: ['cpu'],
      intraOpNumThreads: options.threads ?? 1,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
    });
  } catch (err) {
    throw new Error(`${path}: onnxruntime cannot load the model (${(err as Error).message.trim()})`);
  }
  try {
    const contract = resolveContract(path, session, manifest, manifestPath, options.expect);
    return new OnnxPolicy(path, session, contract);
  } catch (err) {
    await session.release();
    throw err;
  }
}

interface Contract {
  obsDim: number;
  actDim: number;
  chunk: number;
  actionLow: Float32Array;
  actionHigh: Float32Array;
  obsStats: ObsStats | undefined;
  /** A batch size fixed in the graph (null when the batch dim is symbolic). */
  fixedBatch: number | null;
  manifest: OnnxPolicyManifest | null;
}

/** Reads the obs/noise/actions signature off the graph and reconciles it with the manifest and the env. */
function resolveContract(
  path: string,
  session: ort.InferenceSession,
  manifest: OnnxPolicyManifest | null,
  manifestPath: string | null,
  expect: PolicyExpectation | undefined,
): Contract {
  const tensorMeta = (
    list: readonly ort.InferenceSession.ValueMetadata[],
    name: string,
    kind: 'input' | 'output',
    rank: number,
    layout: string,
  ): TensorMeta => {
    const names = list.map((m) => m.name);
    const meta = list.find((m) => m.name === name);
    if (!meta)
      throw new Error(
        `${path}: the model has no ${kind} "${name}" (its ${kind}s: ${names.map((n) => `"${n}"`).join(', ') || 'none'}); the policy contract is obs [B, obs_dim], noise [B, Ta, da] -> actions [B, Ta, da]`,
      );
    if (!meta.isTensor) throw new Error(`${path}: ${kind} "${name}" is not a tensor`);
    if (meta.type !== 'float32') throw new Error(`${path}: ${kind} "${name}" has dtype ${meta.type}, expected float32`);
    if (meta.shape.length !== rank)
      throw new Error(`${path}: ${kind} "${name}" has shape ${describeShape(meta.shape)}, expected rank ${rank} ${layout}`);
    return { name, shape: meta.shape, type: meta.type };
  };
  const extraInputs = session.inputMetadata.map((m) => m.name).filter((n) => n !== POLICY_INPUT_OBS && n !== POLICY_INPUT_NOISE);
  if (extraInputs.length > 0) {
    throw new Error(
      `${path}: unexpected model inputs ${extraInputs.map((n) => `"${n}"`).join(', ')}; the policy contract has exactly "obs" and "noise"`,
    );
  }
  const obs = tensorMeta(session.inputMetadata, POLICY_INPUT_OBS, 'input', 2, '[B, obs_dim]');
  const noise = tensorMeta(session.inputMetadata, POLICY_INPUT_NOISE, 'input', 3, '[B, Ta, da]');
  const actions = tensorMeta(session.outputMetadata, POLICY_OUTPUT_ACTIONS, 'output', 3, '[B, Ta, da]');

  // Each dim: the numeric graph dims must agree with each other and with the manifest, then with the env.
  const resolve = (what: 'obsDim' | 'chunk' | 'actDim', places: [TensorMeta, number][]): number => {
    let value: number | null = null;
    let from = '';
    for (const [t, axis] of places) {
      const d = t.shape[axis];
      if (typeof d !== 'number' || d < 0) continue;
      if (value !== null && d !== value)
        throw new Error(`${path}: ${t.name} has ${d} at axis ${axis} but ${from} (the graph disagrees with itself about ${what})`);
      value = d;
      from = `${t.name} has ${d} at axis ${axis}`;
    }
    const fromManifest = manifest?.[what];
    if (fromManifest !== undefined) {
      if (value !== null && value !== fromManifest) throw new Error(`${path}: ${from} but ${manifestPath} says ${what} ${fromManifest}`);
      value = fromManifest;
    }
    const fromEnv = expect?.[what];
    if (value === null && fromEnv !== undefined) value = fromEnv; // checked against the env below (trivially equal)
    if (value === null) {
      const [t, axis] = places[0];
      throw new Error(
        `${path}: ${what} cannot be resolved: ${t.name} has the dynamic dim ${JSON.stringify(t.shape[axis])} at axis ${axis}, ` +
          `and ${manifestPath ? `${manifestPath} has no ${what}` : `there is no manifest (${manifestPathsFor(path).join(' or ')})`} and no env to take it from`,
      );
    }
    return value;
  };
  const obsDim = resolve('obsDim', [[obs, 1]]);
  const chunk = resolve('chunk', [
    [noise, 1],
    [actions, 1],
  ]);
  const actDim = resolve('actDim', [
    [noise, 2],
    [actions, 2],
  ]);
  checkPolicyMatches({ obsDim, actDim, chunk }, expect, path);
  if (manifest?.envId && expect?.envId && manifest.envId !== expect.envId) {
    throw new Error(`${path}: the policy was exported for ${manifest.envId} (${manifestPath}) but the env is ${expect.envId}`);
  }
  // Bounds the manifest states must be the env's (a model without them takes the env's, below).
  if (manifest?.actionLow && manifest.actionHigh && manifest.actionLow.length === actDim) {
    checkPolicyMatches(
      { obsDim, actDim, chunk, actionLow: manifest.actionLow, actionHigh: manifest.actionHigh },
      expect,
      path,
      `${path} (bounds from ${manifestPath})`,
    );
  }

  let fixedBatch: number | null = null;
  for (const t of [obs, noise, actions]) {
    const d = t.shape[0];
    if (typeof d !== 'number' || d < 0) continue;
    if (fixedBatch !== null && d !== fixedBatch) throw new Error(`${path}: ${t.name} has batch ${d} but another tensor has ${fixedBatch}`);
    fixedBatch = d;
  }
  if (fixedBatch === 0) throw new Error(`${path}: the graph fixes the batch size to 0`);

  let low: ArrayLike<number>;
  let high: ArrayLike<number>;
  let boundsSource: string;
  if (manifest?.actionLow && manifest.actionHigh) {
    [low, high, boundsSource] = [manifest.actionLow, manifest.actionHigh, manifestPath!];
  } else if (expect?.actionLow && expect.actionHigh) {
    [low, high, boundsSource] = [expect.actionLow, expect.actionHigh, `${path} (bounds from the env${expect.envId ? ` ${expect.envId}` : ''})`];
  } else {
    throw new Error(
      `${path}: action bounds unknown: add actionLow/actionHigh to its manifest (${manifestPath ?? manifestPathsFor(path)[0]}) or load it for an env`,
    );
  }
  checkBounds(low, high, actDim, boundsSource);
  let obsStats: ObsStats | undefined;
  if (manifest?.obsMin && manifest.obsMax) {
    // The schema checked them against the manifest's obsDim; the graph or the env may be what set it.
    if (manifest.obsMin.length !== obsDim)
      throw new Error(`${manifestPath}: obsMin has ${manifest.obsMin.length} values but the policy's obsDim is ${obsDim}`);
    obsStats = { min: Float32Array.from(manifest.obsMin), max: Float32Array.from(manifest.obsMax) };
  }
  return { obsDim, actDim, chunk, actionLow: Float32Array.from(low), actionHigh: Float32Array.from(high), obsStats, fixedBatch, manifest };
}

/** Input and output tensors for one batch size, reused across calls (onnxruntime writes into `out`). */
interface Bindings {
  rows: number;
  obs: Float32Array;
  noise: Float32Array;
  out: Float32Array;
  feeds: Record<string, ort.Tensor>;
  fetches: Record<string, ort.Tensor>;
}

export class OnnxPolicy implements NoisePolicy {
  readonly obsDim: number;
  readonly actDim: number;
  readonly chunk: number;
  readonly actionLow: Float32Array;
  readonly actionHigh: Float32Array;
  readonly obsStats: ObsStats | undefined;
  readonly fixedBatch: number | null;
  readonly manifest: OnnxPolicyManifest | null;
  private readonly bindings = new Map<number, Bindings>();
  private result = new Float32Array(0);
  /** Calls run one at a time: they share the bindings. */
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(
    readonly path: string,
    private readonly session: ort.InferenceSession,
    contract: Contract,
  ) {
    this.obsDim = contract.obsDim;
    this.actDim = contract.actDim;
    this.chunk = contract.chunk;
    this.actionLow = contract.actionLow;
    this.actionHigh = contract.actionHigh;
    this.obsStats = contract.obsStats;
    this.fixedBatch = contract.fixedBatch;
    this.manifest = contract.manifest;
  }

  /** actions[B, Ta, da] (env units); returns a view reused by the next call. */
  act(obs: Float32Array, noise: Float32Array, batch: number): Promise<Float32Array> {
    try {
      checkPolicyInputs(this, obs, noise, batch);
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.closed) return Promise.reject(new Error(`${this.path}: policy is closed`));
    const run = this.queue.then(() => this.runBatch(obs, noise, batch));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async runBatch(obs: Float32Array, noise: Float32Array, batch: number): Promise<Float32Array> {
    const { obsDim } = this;
    const xDim = this.chunk * this.actDim;
    if (this.fixedBatch === null) {
      const b = this.bind(batch);
      b.obs.set(obs.subarray(0, batch * obsDim));
      b.noise.set(noise.subarray(0, batch * xDim));
      await this.runBound(b);
      return b.out;
    }
    // A graph with a fixed batch size: run it over slices of that many rows, zero-padding the last.
    const rows = this.fixedBatch;
    const b = this.bind(rows);
    if (this.result.length !== batch * xDim) this.result = new Float32Array(batch * xDim);
    for (let start = 0; start < batch; start += rows) {
      const n = Math.min(rows, batch - start);
      b.obs.fill(0).set(obs.subarray(start * obsDim, (start + n) * obsDim));
      b.noise.fill(0).set(noise.subarray(start * xDim, (start + n) * xDim));
      await this.runBound(b);
      this.result.set(b.out.subarray(0, n * xDim), start * xDim);
    }
    return this.result;
  }

  private bind(rows: number): Bindings {
    let b = this.bindings.get(rows);
    if (!b) {
      const xDim = this.chunk * this.actDim;
      const obs = new Float32Array(rows * this.obsDim);
      const noise = new Float32Array(rows * xDim);
      const out = new Float32Array(rows * xDim);
      b = {
        rows,
        obs,
        noise,
        out,
        feeds: {
          [POLICY_INPUT_OBS]: new ort.Tensor('float32', obs, [rows, this.obsDim]),
          [POLICY_INPUT_NOISE]: new ort.Tensor('float32', noise, [rows, this.chunk, this.actDim]),
        },
        fetches: { [POLICY_OUTPUT_ACTIONS]: new ort.Tensor('float32', out, [rows, this.chunk, this.actDim]) },
      };
      // A few batch sizes recur (1, the vector-env width, an eval batch); keep a bounded set.
      if (this.bindings.size >= 8) this.bindings.delete(this.bindings.keys().next().value!);
      this.bindings.set(rows, b);
    }
    return b;
  }

  private async runBound(b: Bindings): Promise<void> {
    let out: ort.InferenceSession.ReturnType;
    try {
      out = await this.session.run(b.feeds, b.fetches);
    } catch (err) {
      throw new Error(`${this.path}: onnxruntime failed on a batch of ${b.rows} (${(err as Error).message.trim()})`);
    }
    const actions = out[POLICY_OUTPUT_ACTIONS];
    const want = [b.rows, this.chunk, this.actDim];
    if (!actions || actions.dims.length !== 3 || actions.dims.some((d, i) => d !== want[i])) {
      throw new Error(`${this.path}: the model returned actions of shape [${actions?.dims.join(', ')}], expected [${want.join(', ')}]`);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue;
    await this.session.release();
  }
}

/** Write an ONNX model and its manifest (`x.onnx` + `x.json`), each atomically. */
export function saveOnnxPolicy(path: string, model: Uint8Array, manifest: OnnxPolicyManifest): void {
  if (!/\.onnx$/i.test(path)) throw new Error(`${path}: an ONNX policy file name must end in .onnx`);
  writeFileAtomic(path, model);
  writeFileAtomic(manifestPathsFor(path)[0], `${JSON.stringify(manifest, null, 2)}\n`);
}

export interface ExportOnnxOptions {
  /** The env the policy was trained for (recorded in the manifest, checked when loaded for an env). */
  envId?: string | null;
  /** Provenance recorded in the manifest (e.g. the checkpoint folder it came from). */
  source?: Record<string, unknown>;
}

/**
 * Export a native diffusion policy to `path` (+ its manifest beside it): one graph with the DDIM loop
 * unrolled, normalization and action de-normalization included (see diffusion-onnx.ts).
 */
export function exportDiffusionPolicyOnnx(policy: DiffusionPolicy, path: string, options: ExportOnnxOptions = {}): OnnxPolicyManifest {
  const s = policy.spec;
  const manifest = buildOnnxManifest(policy, {
    envId: options.envId ?? null,
    source: {
      kind: 'dsrl-diffusion-policy',
      denoisingSteps: s.denoisingSteps,
      ddimSteps: s.ddimSteps,
      timeDim: s.timeDim,
      width: s.width,
      depth: s.depth,
      ...options.source,
    },
  });
  saveOnnxPolicy(path, diffusionPolicyOnnx(policy, { metadata: options.envId ? { envId: options.envId } : {} }), manifest);
  return manifest;
}

/**
 * Load an exported file back through onnxruntime and compare it with the policy it came from on random
 * observations and noise (seeded); returns the largest absolute difference in env units.
 */
export async function verifyOnnxExport(
  policy: NoisePolicy,
  path: string,
  options: { batch?: number; seed?: number; obsScale?: number } = {},
): Promise<number> {
  const batch = options.batch ?? 16;
  const rng = Rng.fromSeed(options.seed ?? 0);
  const obs = new Float32Array(batch * policy.obsDim);
  const noise = new Float32Array(batch * policy.chunk * policy.actDim);
  rng.fillNormal(obs);
  rng.fillNormal(noise);
  if (options.obsScale !== undefined) for (let i = 0; i < obs.length; i++) obs[i] *= options.obsScale;
  const want = (await policy.act(obs, noise, batch)).slice();
  const loaded = await loadOnnxPolicy(path, { expect: { obsDim: policy.obsDim, actDim: policy.actDim, chunk: policy.chunk } });
  try {
    const got = await loaded.act(obs, noise, batch);
    let worst = 0;
    for (let i = 0; i < want.length; i++) {
      const d = Math.abs(want[i] - got[i]);
      worst = Number.isNaN(d) ? Infinity : Math.max(worst, d);
    }
    return worst;
  } finally {
    await loaded.close();
  }
}
