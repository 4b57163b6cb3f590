import { mkdtempSync, readdirSync, readFileSync, writeFileSync, cpSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Rng } from '../src/core/rng.ts';
import { encodeSafetensors, modelTensors } from '../src/nn/safetensors.ts';
import {
  loadDiffusionCheckpoint, loadDiffusionPolicy, readManifest, recordEvalResult, saveDiffusionCheckpoint,
} from '../src/policies/diffusion/checkpoint-io.ts';
import { parseManifest, validateManifest } from '../src/policies/diffusion/manifest.ts';
import { createDiffusionNetwork, DiffusionPolicy, type DiffusionPolicySpec } from '../src/policies/diffusion/policy.ts';

const root = mkdtempSync(join(tmpdir(), 'dsrl-ckpt-'));
const spec: DiffusionPolicySpec = { obsDim: 11, actDim: 3, chunk: 4, denoisingSteps: 20, ddimSteps: 5, timeDim: 16, width: 32, depth: 2 };
const hash = 'ab'.repeat(32);

function policyWithSeed(seed: number, s: DiffusionPolicySpec = spec): DiffusionPolicy {
  const rng = Rng.fromSeed(seed + 50);
  return new DiffusionPolicy({
    spec: s,
    obsStats: {
      min: Float32Array.from({ length: s.obsDim }, () => -1 - rng.uniform()),
      max: Float32Array.from({ length: s.obsDim }, () => 1 + rng.uniform()),
    },
    actionLow: new Array(s.actDim).fill(-1),
    actionHigh: new Array(s.actDim).fill(1),
    weights: createDiffusionNetwork(s, Rng.fromSeed(seed)).values,
  });
}

let counter = 0;
function saved(seed = 1, s: DiffusionPolicySpec = spec, raw = false): { dir: string; policy: DiffusionPolicy } {
  const dir = join(root, `ckpt-${counter++}`);
  const policy = policyWithSeed(seed, s);
  saveDiffusionCheckpoint(dir, policy, {
    envId: 'Hopper-v5',
    raw: raw ? createDiffusionNetwork(s, Rng.fromSeed(seed + 1)) : null,
    dataset: { path: 'data/hopper.h5', hash, steps: 1000, episodes: 3, chunks: 990, tail: 'skip', clippedActions: 0 },
    training: { steps: 10, lr: 3e-4 },
  });
  return { dir, policy };
}

/** Rewrite a checkpoint's manifest through `edit` (the raw JSON object). */
function editManifest(dir: string, edit: (m: Record<string, any>) => void): void {
  const path = join(dir, 'manifest.json');
  const m = JSON.parse(readFileSync(path, 'utf8'));
  edit(m);
  writeFileSync(path, JSON.stringify(m));
}

function inputs(batch: number): { obs: Float32Array; noise: Float32Array } {
  const rng = Rng.fromSeed(77);
  return {
    obs: rng.fillNormal(new Float32Array(batch * spec.obsDim)) as Float32Array,
    noise: rng.fillNormal(new Float32Array(batch * spec.chunk * spec.actDim)) as Float32Array,
  };
}

describe('diffusion-policy checkpoints', () => {
  it('round-trips: the loaded policy gives bitwise the same chunks, and the manifest keeps its provenance', () => {
    const { dir, policy } = saved(1, spec, true);
    expect(readdirSync(dir).sort()).toEqual(['manifest.json', 'model.safetensors']); // no temp files left
    const { obs, noise } = inputs(5);
    const want = policy.act(obs, noise, 5).slice();
    const { policy: loaded, manifest } = loadDiffusionCheckpoint(dir, { expect: { obsDim: 11, actDim: 3 } });
    expect(Array.from(loaded.act(obs, noise, 5))).toEqual(Array.from(want));
    expect(loaded.spec).toEqual(spec);
    expect(manifest).toMatchObject({
      formatVersion: 1, obsDim: 11, actDim: 3, chunk: 4, denoisingSteps: 20, ddimSteps: 5, envId: 'Hopper-v5',
      architecture: { width: 32, depth: 2, timeDim: 16 }, dataset: { hash }, training: { steps: 10 }, eval: [],
    });
    expect(manifest.weights.rawPrefix).toBe('raw.');
    // Loading via the manifest path works too; the raw weights load on request and differ from the EMA ones.
    const rawPolicy = loadDiffusionPolicy(join(dir, 'manifest.json'), { useRaw: true });
    expect(Array.from(rawPolicy.act(obs, noise, 5))).not.toEqual(Array.from(want));
  });

  it('appends eval results to the manifest without touching the weights', () => {
    const { dir, policy } = saved(2);
    const before = readFileSync(join(dir, 'model.safetensors'));
    const result = { envId: 'Hopper-v5', episodes: 3, seed: 0, returnMean: 1234.5, returnStd: 10, returnMin: 1220, returnMax: 1250, lengthMean: 400, at: '2025-01-01T00:00:00Z' };
    recordEvalResult(dir, result);
    recordEvalResult(dir, { ...result, seed: 1 });
    expect(readManifest(dir).eval.map((e) => e.seed)).toEqual([0, 1]);
    expect(readFileSync(join(dir, 'model.safetensors')).equals(before)).toBe(true);
    const { obs, noise } = inputs(2);
    expect(Array.from(loadDiffusionPolicy(dir).act(obs, noise, 2))).toEqual(Array.from(policy.act(obs, noise, 2)));
    expect(() => recordEvalResult(dir, { ...result, episodes: 0 })).toThrow(/eval\.2\.episodes/);
  });

  it('refuses a policy whose dims do not match the env, naming the manifest', () => {
    const { dir } = saved(3);
    expect(() => loadDiffusionPolicy(dir, { expect: { obsDim: 17 } })).toThrow(
      new RegExp(`${dir}/manifest.json: the policy takes observations of dim 11 but the env gives dim 17`),
    );
    expect(() => loadDiffusionPolicy(dir, { expect: { obsDim: 11, actDim: 6 } })).toThrow(/outputs actions of dim 3 but the env expects dim 6/);
  });

  it('rejects a wrong format or format version', () => {
    const { dir } = saved(4);
    editManifest(dir, (m) => (m.formatVersion = 2));
    expect(() => loadDiffusionPolicy(dir)).toThrow(/manifest\.json: format version 2 is not supported \(this dsrl reads version 1\)/);
    editManifest(dir, (m) => {
      m.formatVersion = 1;
      m.format = 'something-else';
    });
    expect(() => loadDiffusionPolicy(dir)).toThrow(/manifest\.json: not a dsrl diffusion-policy manifest \(format is "something-else"/);
  });

  it('rejects a manifest that does not match the weights (shapes, names), naming both files', () => {
    const { dir } = saved(5);
    editManifest(dir, (m) => {
      m.architecture.width = 48;
      m.weights.sha256 = null; // get past the hash check to the shape check
      m.weights.parameters = createDiffusionNetwork({ ...spec, width: 48 }, Rng.fromSeed(0)).size;
    });
    expect(() => loadDiffusionPolicy(dir)).toThrow(
      /model\.safetensors does not match .*manifest\.json \(obsDim 11, actDim 3, chunk 4, timeDim 16, width 48, depth 2\): parameter "ema\.mlp_mean\.layers\.0\.weight" has shape \[32,\d+\] but the model expects \[48,\d+\]/,
    );
    editManifest(dir, (m) => {
      m.architecture.width = 32;
      m.architecture.depth = 3;
      m.weights.parameters = createDiffusionNetwork({ ...spec, depth: 3 }, Rng.fromSeed(0)).size;
    });
    expect(() => loadDiffusionPolicy(dir)).toThrow(/does not match .*manifest\.json.*missing ema\.mlp_mean\.layers\.3\.l1\.weight/);
    editManifest(dir, (m) => {
      m.architecture.depth = 2;
      m.weights.parameters = 5;
    });
    expect(() => loadDiffusionPolicy(dir)).toThrow(/weights\.parameters is 5 but the architecture it describes has \d+ parameters/);
  });

  it('rejects weights from another checkpoint with the same shapes (SHA-256 recorded in the manifest)', () => {
    const a = saved(6);
    const b = saved(7);
    cpSync(join(b.dir, 'model.safetensors'), join(a.dir, 'model.safetensors'));
    expect(() => loadDiffusionPolicy(a.dir)).toThrow(/model\.safetensors does not match .*manifest\.json: its SHA-256 is [0-9a-f]{12}\.\.\., the manifest records/);
  });

  it('rejects truncated weights, stray tensors, and a missing weights file', () => {
    const { dir } = saved(8);
    const weights = join(dir, 'model.safetensors');
    const bytes = readFileSync(weights);
    editManifest(dir, (m) => (m.weights.sha256 = null));
    writeFileSync(weights, bytes.subarray(0, bytes.length - 100));
    expect(() => loadDiffusionPolicy(dir)).toThrow(/model\.safetensors: not a valid safetensors file: .*truncated/);
    const net = createDiffusionNetwork(spec, Rng.fromSeed(1));
    writeFileSync(weights, encodeSafetensors({ ...modelTensors(net, 'ema.'), 'extra.w': { shape: [1], data: new Float32Array(1) } }));
    expect(() => loadDiffusionPolicy(dir)).toThrow(/model\.safetensors does not match .*manifest\.json: unexpected tensors extra\.w/);
    rmSync(weights);
    expect(() => loadDiffusionPolicy(dir)).toThrow(/model\.safetensors: cannot read \(ENOENT\); .*manifest\.json refers to it/);
  });

  it('rejects malformed manifests with the file and field in the message', () => {
    const { dir } = saved(9);
    const path = join(dir, 'manifest.json');
    const good = readFileSync(path, 'utf8');
    writeFileSync(path, good.slice(0, 40));
    expect(() => loadDiffusionPolicy(dir)).toThrow(/manifest\.json: not valid JSON/);
    writeFileSync(path, good);
    editManifest(dir, (m) => m.normalization.obsMin.pop());
    expect(() => loadDiffusionPolicy(dir)).toThrow(/manifest\.json: invalid manifest: normalization\.obsMin: expected 11 values \(obsDim\), got 10/);
    writeFileSync(path, good);
    editManifest(dir, (m) => (m.actionHigh[1] = -5));
    expect(() => loadDiffusionPolicy(dir)).toThrow(/actionHigh\.1: must exceed actionLow/);
    writeFileSync(path, good);
    editManifest(dir, (m) => (m.chunk = 'four'));
    expect(() => loadDiffusionPolicy(dir)).toThrow(/invalid manifest: chunk: /);
    writeFileSync(path, good);
    editManifest(dir, (m) => (m.architecture.activaton = 'relu'));
    expect(() => loadDiffusionPolicy(dir)).toThrow(/architecture: Unrecognized key.*activaton/);
    writeFileSync(path, good);
    editManifest(dir, (m) => (m.ddimSteps = 40));
    expect(() => loadDiffusionPolicy(dir)).toThrow(/ddimSteps: must not exceed denoisingSteps \(40 > 20\)/);
    writeFileSync(path, good);
    editManifest(dir, (m) => delete m.normalization);
    expect(() => loadDiffusionPolicy(dir)).toThrow(/normalization: /);
    expect(() => parseManifest('[]', 'x.json')).toThrow(/x\.json: not a JSON object/);
    expect(() => validateManifest({ format: 'dsrl-diffusion-policy' }, 'y.json')).toThrow(/y\.json: format version undefined is not supported/);
  });

  it('names a missing folder or manifest', () => {
    expect(() => loadDiffusionPolicy(join(root, 'nope'))).toThrow(/nope: no such checkpoint folder/);
    const empty = join(root, 'empty');
    mkdirSync(empty);
    expect(() => loadDiffusionPolicy(empty)).toThrow(/empty\/manifest\.json: missing \(is .*empty a diffusion-policy checkpoint folder\?\)/);
  });
});
