/**
 * ONNX policies: export -> load round trips through onnxruntime-node agree with our own forward pass;
 * bad models (missing input, wrong dtype, wrong dims vs the env, unresolvable dynamic dims) are refused
 * with errors naming the file and the problem.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, describe, expect, it } from 'vitest';
import { loadPolicyForEnv } from '../src/cli/args.ts';
import { registerExport, runExport } from '../src/cli/export.ts';
import { Rng } from '../src/core/rng.ts';
import { saveDiffusionCheckpoint } from '../src/policies/diffusion/checkpoint-io.ts';
import { loadPolicy, policyKind } from '../src/policies/load.ts';
import { MlpNoisePolicy } from '../src/policies/mlp-noise-policy.ts';
import { createDiffusionNetwork, DiffusionPolicy, type DiffusionPolicySpec } from '../src/policies/diffusion/policy.ts';
import { exportDiffusionPolicyOnnx, loadOnnxPolicy, saveOnnxPolicy, verifyOnnxExport, type OnnxPolicy } from '../src/policies/onnx.ts';
import { buildOnnxManifest } from '../src/policies/onnx-manifest.ts';
import { GraphBuilder, OnnxDataType, type Dim } from '../src/policies/onnx-writer.ts';
import type { NoisePolicy } from '../src/policies/policy.ts';
import { SYSTEM_PYTHON, torchProblem, torchRequired } from './helpers/torch.ts';

const dir = mkdtempSync(join(tmpdir(), 'dsrl-onnx-policy-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const HOPPER = { envId: 'Hopper-v5', obsDim: 11, actDim: 3, chunk: 4, actionLow: [-1, -1, -1], actionHigh: [1, 1, 1] };

function standIn(seed: number, overrides: Partial<ConstructorParameters<typeof MlpNoisePolicy>[0]> = {}): MlpNoisePolicy {
  return new MlpNoisePolicy(
    {
      obsDim: 11,
      actDim: 3,
      chunk: 4,
      hidden: [64, 64],
      activation: 'mish',
      layerNorm: true,
      actionLow: [-1, -2, 0],
      actionHigh: [1, 2, 0.5],
      ...overrides,
    },
    Rng.fromSeed(seed),
  );
}

function randomInputs(p: { obsDim: number; chunk: number; actDim: number }, batch: number, rng: Rng): { obs: Float32Array; noise: Float32Array } {
  const obs = new Float32Array(batch * p.obsDim);
  const noise = new Float32Array(batch * p.chunk * p.actDim);
  rng.fillNormal(obs);
  rng.fillNormal(noise);
  return { obs, noise };
}

/**
 * Largest |a - b| over a batch of actions. The tolerances below (1e-5, and 2e-5 after several DDIM steps)
 * compare our float32 forward pass with onnxruntime's, which sums in its own order: measured at most
 * 9.5e-7 (1.8e-6 for verifyOnnxExport's far-out observations) with our native backend on OpenBLAS
 * (Haswell, Zen, SandyBridge, Cooperlake kernels), on the built-in SGEMMs (AVX-512, AVX2, generic) and
 * on js. A wrong weight layout, activation or normalization is off by 1e-2 or more.
 */
async function maxDiff(a: NoisePolicy, b: NoisePolicy, batch: number, rng: Rng): Promise<number> {
  const { obs, noise } = randomInputs(a, batch, rng);
  const x = (await a.act(obs, noise, batch)).slice();
  const y = await b.act(obs, noise, batch);
  expect(y.length).toBe(x.length);
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
  return m;
}

/** A hand-built graph with chosen input/output signatures, for the malformed-model cases. */
function writeGraph(name: string, spec: { obs?: Dim[] | null; noise?: Dim[] | null; noiseType?: number; actions?: Dim[]; outName?: string }): string {
  const g = new GraphBuilder();
  if (spec.obs !== null) g.input('obs', spec.obs ?? ['B', 11]);
  let noise = 'noise';
  if (spec.noise !== null) {
    g.input('noise', spec.noise ?? ['B', 4, 3], spec.noiseType ?? OnnxDataType.FLOAT);
    if (spec.noiseType === OnnxDataType.INT64) noise = g.op('Cast', ['noise'], { to: { i: OnnxDataType.FLOAT } });
  } else {
    noise = g.input('other', ['B', 4, 3]);
  }
  g.output(g.op('Tanh', [noise]), spec.outName ?? 'actions', spec.actions ?? ['B', 4, 3]);
  const path = join(dir, `${name}.onnx`);
  writeFileSync(path, g.toBytes());
  return path;
}

describe('ONNX policy round trip', () => {
  it('exported stand-in policy equals its own act() at several batch sizes', async () => {
    const policy = standIn(1);
    const path = join(dir, 'standin.onnx');
    saveOnnxPolicy(path, policy.toOnnx(), buildOnnxManifest(policy, { envId: 'Hopper-v5' }));
    const loaded = await loadOnnxPolicy(path, { expect: { envId: 'Hopper-v5', obsDim: 11, actDim: 3, chunk: 4 } });
    try {
      expect([loaded.obsDim, loaded.actDim, loaded.chunk]).toEqual([11, 3, 4]);
      expect(Array.from(loaded.actionLow)).toEqual([-1, -2, 0]); // from the manifest, not the env
      expect(Array.from(loaded.actionHigh)).toEqual([1, 2, 0.5]);
      expect(loaded.fixedBatch).toBeNull();
      const rng = Rng.fromSeed('round-trip');
      for (const batch of [1, 5, 64, 5]) expect(await maxDiff(policy, loaded, batch, rng)).toBeLessThan(1e-5);
    } finally {
      await loaded.close();
    }
  });

  it('serialises concurrent calls and keeps each result right', async () => {
    const policy = standIn(2);
    const path = join(dir, 'concurrent.onnx');
    saveOnnxPolicy(path, policy.toOnnx(), buildOnnxManifest(policy));
    const loaded = await loadOnnxPolicy(path);
    try {
      const rng = Rng.fromSeed('concurrent');
      const inputs = [1, 3, 1, 2].map((b) => ({ b, ...randomInputs(policy, b, rng) }));
      const results = await Promise.all(inputs.map(async ({ b, obs, noise }) => (await loaded.act(obs, noise, b)).slice()));
      inputs.forEach(({ b, obs, noise }, i) => {
        const want = policy.act(obs, noise, b);
        for (let k = 0; k < want.length; k++) expect(Math.abs(results[i][k] - want[k])).toBeLessThan(1e-5);
      });
      await expect(loaded.act(new Float32Array(3), new Float32Array(12), 1)).rejects.toThrow(/obs has 3 values, expected 1 x 11/);
    } finally {
      await loaded.close();
    }
    await expect(loaded.act(new Float32Array(11), new Float32Array(12), 1)).rejects.toThrow(/concurrent\.onnx: policy is closed/);
  });

  it('takes action bounds from the env when there is no manifest', async () => {
    const policy = standIn(3, { actionLow: [-1, -1, -1], actionHigh: [1, 1, 1] });
    const path = join(dir, 'no-manifest.onnx');
    writeFileSync(path, policy.toOnnx());
    await expect(loadOnnxPolicy(path)).rejects.toThrow(/no-manifest\.onnx: action bounds unknown: add actionLow\/actionHigh to its manifest/);
    const loaded = await loadOnnxPolicy(path, { expect: HOPPER });
    try {
      expect(Array.from(loaded.actionHigh)).toEqual([1, 1, 1]);
      expect(await maxDiff(policy, loaded, 3, Rng.fromSeed(3))).toBeLessThan(1e-5);
    } finally {
      await loaded.close();
    }
  });

  it('runs a graph with a fixed batch size over any batch', async () => {
    const path = writeGraph('fixed-batch', { obs: [2, 11], noise: [2, 4, 3], actions: [2, 4, 3] });
    const loaded = await loadOnnxPolicy(path, { expect: HOPPER });
    try {
      expect(loaded.fixedBatch).toBe(2);
      const { obs, noise } = randomInputs(loaded, 5, Rng.fromSeed(5));
      const out = await loaded.act(obs, noise, 5);
      expect(out.length).toBe(5 * 12);
      for (let i = 0; i < out.length; i++) expect(out[i]).toBeCloseTo(Math.tanh(noise[i]), 6);
    } finally {
      await loaded.close();
    }
  });

  it('resolves symbolic dims from the manifest', async () => {
    const path = writeGraph('symbolic', { noise: ['B', 'T', 3], actions: ['B', 'T', 3] });
    await expect(loadOnnxPolicy(path, { expect: { obsDim: 11, actDim: 3, actionLow: [-1, -1, -1], actionHigh: [1, 1, 1] } })).rejects.toThrow(
      /symbolic\.onnx: chunk cannot be resolved: noise has the dynamic dim "T" at axis 1, and there is no manifest/,
    );
    writeFileSync(
      join(dir, 'symbolic.json'),
      JSON.stringify({ format: 'dsrl-onnx-policy', chunk: 4, actionLow: [-1, -1, -1], actionHigh: [1, 1, 1] }),
    );
    const loaded = await loadOnnxPolicy(path);
    try {
      expect(loaded.chunk).toBe(4);
    } finally {
      await loaded.close();
    }
  });
});

describe('ONNX policy: bad models are refused with clear errors', () => {
  it('a missing file, or bytes that are not ONNX', async () => {
    await expect(loadOnnxPolicy(join(dir, 'nope.onnx'))).rejects.toThrow(/nope\.onnx: no such ONNX model file/);
    const junk = join(dir, 'junk.onnx');
    writeFileSync(junk, 'not a model');
    await expect(loadOnnxPolicy(junk, { expect: HOPPER })).rejects.toThrow(/junk\.onnx: onnxruntime cannot load the model/);
  });

  it('a missing input or output', async () => {
    await expect(loadOnnxPolicy(writeGraph('no-noise', { noise: null }), { expect: HOPPER })).rejects.toThrow(
      /no-noise\.onnx: unexpected model inputs "other"/,
    );
    await expect(loadOnnxPolicy(writeGraph('no-obs', { obs: null }), { expect: HOPPER })).rejects.toThrow(
      /no-obs\.onnx: the model has no input "obs"/,
    );
    await expect(loadOnnxPolicy(writeGraph('no-actions', { outName: 'y' }), { expect: HOPPER })).rejects.toThrow(
      /no-actions\.onnx: the model has no output "actions" \(its outputs: "y"\)/,
    );
  });

  it('a wrong dtype or rank', async () => {
    await expect(loadOnnxPolicy(writeGraph('int-noise', { noiseType: OnnxDataType.INT64 }), { expect: HOPPER })).rejects.toThrow(
      /int-noise\.onnx: input "noise" has dtype int64, expected float32/,
    );
    await expect(loadOnnxPolicy(writeGraph('flat-noise', { noise: ['B', 12], actions: ['B', 12] }), { expect: HOPPER })).rejects.toThrow(
      /flat-noise\.onnx: input "noise" has shape \["B", 12\], expected rank 3 \[B, Ta, da\]/,
    );
  });

  it('dims that do not match the env, or the manifest', async () => {
    const path = writeGraph('hopper-dims', {});
    await expect(loadOnnxPolicy(path, { expect: { ...HOPPER, envId: 'Walker2d-v5', obsDim: 17, actDim: 6 } })).rejects.toThrow(
      /hopper-dims\.onnx: the policy takes observations of dim 11 but the env Walker2d-v5 gives dim 17/,
    );
    await expect(loadOnnxPolicy(path, { expect: { ...HOPPER, actDim: 6 } })).rejects.toThrow(
      /outputs actions of dim 3 but the env Hopper-v5 expects dim 6/,
    );
    await expect(loadOnnxPolicy(path, { expect: { ...HOPPER, chunk: 8 } })).rejects.toThrow(/outputs chunks of 4 actions but 8 were asked for/);
    writeFileSync(join(dir, 'hopper-dims.json'), JSON.stringify({ format: 'dsrl-onnx-policy', obsDim: 17 }));
    await expect(loadOnnxPolicy(path, { expect: HOPPER })).rejects.toThrow(
      /hopper-dims\.onnx: obs has 11 at axis 1 but .*hopper-dims\.json says obsDim 17/,
    );
    writeFileSync(join(dir, 'hopper-dims.json'), JSON.stringify({ format: 'dsrl-onnx-policy', envId: 'HalfCheetah-v5' }));
    await expect(loadOnnxPolicy(path, { expect: HOPPER })).rejects.toThrow(/exported for HalfCheetah-v5 .* but the env is Hopper-v5/);
  });

  it('loaded for an env by the CLI (loadPolicyForEnv): env bounds fill in, other bounds or another env id are refused (issue 16, defect 3)', async () => {
    const policy = standIn(5, { actionLow: [-1, -1, -1], actionHigh: [1, 1, 1] });
    const path = join(dir, 'for-env.onnx');
    writeFileSync(path, policy.toOnnx());
    // No manifest: the env's bounds.
    const loaded = await loadPolicyForEnv(path, 'Hopper-v5');
    try {
      expect([Array.from(loaded.actionLow), Array.from(loaded.actionHigh)]).toEqual([
        [-1, -1, -1],
        [1, 1, 1],
      ]);
    } finally {
      await loaded.close?.();
    }
    // A manifest for another env.
    writeFileSync(join(dir, 'for-env.json'), JSON.stringify(buildOnnxManifest({ ...HOPPER }, { envId: 'Walker2d-v5' })));
    await expect(loadPolicyForEnv(path, 'Hopper-v5')).rejects.toThrow(
      /for-env\.onnx: the policy was exported for Walker2d-v5 .* but the env is Hopper-v5/,
    );
    // A manifest whose bounds are not the env's.
    writeFileSync(
      join(dir, 'for-env.json'),
      JSON.stringify(buildOnnxManifest({ ...HOPPER, actionLow: [-100, -100, -100], actionHigh: [100, 100, 100] }, { envId: 'Hopper-v5' })),
    );
    await expect(loadPolicyForEnv(path, 'Hopper-v5')).rejects.toThrow(
      /for-env\.onnx \(bounds from .*for-env\.json\): the policy's actions on dimension 0 span \[-100, 100\] but the env Hopper-v5's action space is \[-1, 1\]/,
    );
    // The env's own bounds in the manifest: accepted.
    writeFileSync(join(dir, 'for-env.json'), JSON.stringify(buildOnnxManifest({ ...HOPPER }, { envId: 'Hopper-v5' })));
    const ok = await loadPolicyForEnv(path, 'Hopper-v5');
    await ok.close?.();
  });

  it('a manifest that is not ours, or is invalid', async () => {
    const path = writeGraph('bad-manifest', {});
    const manifest = join(dir, 'bad-manifest.json');
    writeFileSync(manifest, JSON.stringify({ name: 'some other config' }));
    await expect(loadOnnxPolicy(path, { expect: HOPPER })).rejects.toThrow(/bad-manifest\.json: not a dsrl ONNX policy manifest/);
    writeFileSync(manifest, JSON.stringify({ format: 'dsrl-onnx-policy', actionLow: [0, 0, 0], actionHigh: [1, 1, 0] }));
    await expect(loadOnnxPolicy(path, { expect: HOPPER })).rejects.toThrow(
      /bad-manifest\.json: invalid manifest: actionHigh\.2: must exceed actionLow/,
    );
    writeFileSync(manifest, JSON.stringify({ format: 'dsrl-onnx-policy', obsMin: [0, 0] }));
    await expect(loadOnnxPolicy(path, { expect: HOPPER })).rejects.toThrow(
      /bad-manifest\.json: invalid manifest: obsMax: obsMin and obsMax go together/,
    );
    writeFileSync(manifest, JSON.stringify({ format: 'dsrl-onnx-policy', obsMin: [0, 0], obsMax: [1, -1] }));
    await expect(loadOnnxPolicy(path, { expect: HOPPER })).rejects.toThrow(
      /bad-manifest\.json: invalid manifest: obsMax\.1: must be at least obsMin/,
    );
    writeFileSync(manifest, JSON.stringify({ format: 'dsrl-onnx-policy', obsMin: [0, 0], obsMax: [1, 1] }));
    await expect(loadOnnxPolicy(path, { expect: HOPPER })).rejects.toThrow(/bad-manifest\.json: obsMin has 2 values but the policy's obsDim is 11/);
    writeFileSync(manifest, JSON.stringify({ format: 'dsrl-onnx-policy', chunks: 4 }));
    await expect(loadOnnxPolicy(path, { expect: HOPPER })).rejects.toThrow(/bad-manifest\.json: invalid manifest: .*chunks/);
    // An explicit opt-out reads the graph alone.
    const loaded = await loadOnnxPolicy(path, { expect: HOPPER, manifest: false });
    await loaded.close();
  });
});

describe('diffusion policy export (DDIM unrolled into one graph)', () => {
  function randomDiffusionPolicy(spec: DiffusionPolicySpec, seed: number, low: number[], high: number[]): DiffusionPolicy {
    const net = createDiffusionNetwork(spec, Rng.fromSeed(seed));
    const rng = Rng.fromSeed(seed + 1);
    const min = Float32Array.from({ length: spec.obsDim }, () => -1 - 3 * rng.uniform());
    const max = Float32Array.from({ length: spec.obsDim }, () => 1 + 3 * rng.uniform());
    return new DiffusionPolicy({ spec, obsStats: { min, max }, actionLow: low, actionHigh: high, weights: net.values });
  }

  const cases: [string, DiffusionPolicySpec, number[], number[]][] = [
    [
      'Hopper-like (T 20, S 5, width 128, 3 blocks)',
      { obsDim: 11, actDim: 3, chunk: 4, denoisingSteps: 20, ddimSteps: 5, timeDim: 16, width: 128, depth: 3 },
      [-1, -1, -1],
      [1, 1, 1],
    ],
    [
      'uneven bounds, T 100, S 8, one block',
      { obsDim: 5, actDim: 2, chunk: 3, denoisingSteps: 100, ddimSteps: 8, timeDim: 8, width: 32, depth: 1 },
      [-0.4, 0],
      [2, 3],
    ],
    ['single step, no blocks', { obsDim: 3, actDim: 1, chunk: 1, denoisingSteps: 10, ddimSteps: 1, timeDim: 4, width: 16, depth: 0 }, [-2], [2]],
  ];
  for (const [name, spec, low, high] of cases) {
    it(`matches DiffusionPolicy.act: ${name}`, async () => {
      const policy = randomDiffusionPolicy(spec, spec.width, low, high);
      const path = join(dir, `diffusion-${spec.width}.onnx`);
      const manifest = exportDiffusionPolicyOnnx(policy, path, { envId: 'Hopper-v5' });
      expect(manifest.source).toMatchObject({ kind: 'dsrl-diffusion-policy', ddimSteps: spec.ddimSteps });
      const loaded = await loadOnnxPolicy(path, { expect: { obsDim: spec.obsDim, actDim: spec.actDim, chunk: spec.chunk } });
      try {
        expect(Array.from(loaded.actionLow)).toEqual(Array.from(policy.actionLow));
        const rng = Rng.fromSeed(`diffusion-${name}`);
        for (const batch of [1, 9, 33]) expect(await maxDiff(policy, loaded, batch, rng)).toBeLessThan(2e-5);
        // Not a vacuous comparison: a fair share of actions lies strictly inside the bounds (not clamped).
        const { obs, noise } = randomInputs(policy, 64, rng);
        const actions = policy.act(obs, noise, 64);
        const inside = actions.filter((v, i) => v > low[i % spec.actDim] + 1e-3 && v < high[i % spec.actDim] - 1e-3).length;
        expect(inside / actions.length).toBeGreaterThan(0.1);
      } finally {
        await loaded.close();
      }
      // Observations far outside the normalization range and large noise still agree (clamps included).
      expect(await verifyOnnxExport(policy, path, { batch: 8, seed: 7, obsScale: 10 })).toBeLessThan(2e-5);
    });
  }
});

describe('loadPolicy and the export command', () => {
  const spec: DiffusionPolicySpec = { obsDim: 11, actDim: 3, chunk: 4, denoisingSteps: 20, ddimSteps: 5, timeDim: 16, width: 64, depth: 2 };
  const net = createDiffusionNetwork(spec, Rng.fromSeed(21));
  const policy = new DiffusionPolicy({
    spec,
    obsStats: { min: new Float32Array(11).fill(-3), max: new Float32Array(11).fill(3) },
    actionLow: [-1, -1, -1],
    actionHigh: [1, 1, 1],
    weights: net.values,
  });
  const checkpoint = join(dir, 'hopper-checkpoint');
  saveDiffusionCheckpoint(checkpoint, policy, { envId: 'Hopper-v5' });

  it('dsrl export writes an ONNX file + manifest that loadPolicy reads back like the checkpoint', async () => {
    const program = new Command().exitOverride();
    registerExport(program);
    const out = join(dir, 'exported', 'hopper.onnx');
    const log: string[] = [];
    const original = console.log;
    console.log = (line: string) => log.push(line);
    try {
      await program.parseAsync(['node', 'dsrl', 'export', '--policy', checkpoint, '--out', out]);
    } finally {
      console.log = original;
    }
    expect(log.join('\n')).toMatch(/wrote .*hopper\.onnx \(\d+ KiB\) and .*hopper\.json; onnxruntime matches the checkpoint to \d/);
    const fromOnnx = await loadPolicy(out, { expect: HOPPER });
    const fromCheckpoint = await loadPolicy(checkpoint, { expect: HOPPER });
    try {
      expect((fromOnnx as OnnxPolicy).manifest).toMatchObject({
        envId: 'Hopper-v5',
        chunk: 4,
        source: { kind: 'dsrl-diffusion-policy', checkpoint },
      });
      expect(await maxDiff(fromCheckpoint, fromOnnx, 17, Rng.fromSeed(17))).toBeLessThan(2e-5);
      // The statistics travel in the manifest, so --normalize-obs works on the export too.
      expect(Array.from(fromOnnx.obsStats!.min)).toEqual(Array.from(policy.obsStats.min));
      expect(Array.from(fromOnnx.obsStats!.max)).toEqual(Array.from(policy.obsStats.max));
    } finally {
      await fromOnnx.close?.();
    }
    await expect(loadPolicy(out, { expect: { ...HOPPER, envId: 'Walker2d-v5' } })).rejects.toThrow(
      /exported for Hopper-v5 .* but the env is Walker2d-v5/,
    );
    await expect(loadPolicy(checkpoint, { expect: { ...HOPPER, chunk: 8 } })).rejects.toThrow(/outputs chunks of 4 actions but 8 were asked for/);
    await expect(runExport({ policy: out, out: join(dir, 'again.onnx') })).rejects.toThrow(/dsrl export reads a diffusion checkpoint folder/);
    await expect(runExport({ policy: checkpoint, out: join(dir, 'x.bin') })).rejects.toThrow(/must end in \.onnx/);
  });

  it('loadPolicy tells which specs it cannot load', async () => {
    expect(policyKind('ws://127.0.0.1:1')).toBe('remote');
    expect(policyKind('models/x.onnx')).toBe('onnx');
    expect(policyKind(checkpoint)).toBe('checkpoint');
    expect(policyKind(join(checkpoint, 'manifest.json'))).toBe('checkpoint');
    await expect(loadPolicy(join(dir, 'missing-folder'))).rejects.toThrow(
      /no such file or folder \(expected a \.onnx file, a ws:\/\/ URL or a diffusion checkpoint folder\)/,
    );
    await expect(loadPolicy(dir)).rejects.toThrow(/not a policy dsrl can load: .*\(.* has none\)/);
    await expect(loadPolicy('http://example.com/policy')).rejects.toThrow(/unsupported URL scheme/);
    await expect(loadPolicy(join(dir, 'missing.onnx'))).rejects.toThrow(/missing\.onnx: no such ONNX model file/);
  });
});

describe('docs/onnx-export.md recipe: a PyTorch export loads with loadOnnxPolicy', () => {
  // CI installs Debian's python3-torch (.ci/run): there the recipe must run, never skip silently.
  if (torchRequired && torchProblem) {
    it('PyTorch is installed (CI=true)', () => {
      expect.fail(`${torchProblem}; CI must install Debian's python3-torch (apt-get install python3-torch), see .ci/run`);
    });
  }
  it.skipIf(torchProblem !== null)(
    `docs/examples/export_torch_policy.py output matches what PyTorch printed${torchProblem ? ` (skipped: ${torchProblem})` : ''}`,
    async () => {
      const out = join(dir, 'torch-hopper.onnx');
      const run = spawnSync(SYSTEM_PYTHON, ['docs/examples/export_torch_policy.py', '--out', out, '--seed', '3', '--batch', '5'], {
        encoding: 'utf8',
        timeout: 120_000,
      });
      expect(run.status, run.stderr).toBe(0);
      const printed = JSON.parse(run.stdout.trim().split('\n').pop()!) as { batch: number; obs: number[]; noise: number[]; actions: number[] };
      const policy = await loadOnnxPolicy(out, { expect: { envId: 'Hopper-v5', obsDim: 11, actDim: 3, chunk: 4 } });
      try {
        expect(policy.manifest).toMatchObject({ envId: 'Hopper-v5', producer: expect.stringMatching(/^torch\.onnx\.export/) });
        const got = await policy.act(Float32Array.from(printed.obs), Float32Array.from(printed.noise), printed.batch);
        expect(got.length).toBe(printed.actions.length);
        let worst = 0;
        printed.actions.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - got[i]))));
        // PyTorch's float32 forward vs onnxruntime's on the same graph (actions in [-1, 1]): measured 6e-8.
        expect(worst).toBeLessThan(1e-5);
        expect(printed.actions.some((v) => Math.abs(v) < 0.99)).toBe(true); // not all clamped at the bounds
      } finally {
        await policy.close();
      }
    },
  );
});
