import { mkdtempSync, readdirSync, readFileSync, writeFileSync, cpSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runEval } from '../src/cli/eval.ts';
import { runPretrain } from '../src/cli/pretrain.ts';
import { Rng } from '../src/core/rng.ts';
import { createD4rlDataset } from '../src/data/d4rl.ts';
import { datasetHash, readD4rl, writeD4rl } from '../src/data/hdf5.ts';
import { registerEnv } from '../src/envs/registry.ts';
import { Reach1D } from '../src/envs/toy/reach.ts';
import { decodeSafetensors, encodeSafetensors, modelTensors } from '../src/nn/safetensors.ts';
import {
  loadDiffusionCheckpoint,
  loadDiffusionPolicy,
  NUMBERS_KEY,
  readManifest,
  recordEvalResult,
  saveDiffusionCheckpoint,
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
      formatVersion: 1,
      obsDim: 11,
      actDim: 3,
      chunk: 4,
      denoisingSteps: 20,
      ddimSteps: 5,
      envId: 'Hopper-v5',
      architecture: { width: 32, depth: 2, timeDim: 16 },
      dataset: { hash },
      training: { steps: 10 },
      eval: [],
    });
    expect(manifest.weights.rawPrefix).toBe('raw.');
    // Loading via the manifest path works too; the raw weights load on request and differ from the EMA ones.
    const rawPolicy = loadDiffusionPolicy(join(dir, 'manifest.json'), { useRaw: true });
    expect(Array.from(rawPolicy.act(obs, noise, 5))).not.toEqual(Array.from(want));
  });

  it('appends eval results to the manifest without touching the weights', () => {
    const { dir, policy } = saved(2);
    const before = readFileSync(join(dir, 'model.safetensors'));
    const result = {
      envId: 'Hopper-v5',
      episodes: 3,
      seed: 0,
      returnMean: 1234.5,
      returnStd: 10,
      returnMin: 1220,
      returnMax: 1250,
      lengthMean: 400,
      at: '2025-01-01T00:00:00Z',
    };
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
      m.weights.sha256 = null; // get past the hash check
      m.weights.parameters = createDiffusionNetwork({ ...spec, width: 48 }, Rng.fromSeed(0)).size;
    });
    // The numbers saved with the weights name the edit first.
    expect(() => loadDiffusionPolicy(dir)).toThrow(
      /manifest\.json was edited after saving: architecture\.width is 48 but the weights were saved with 32/,
    );
    // Weights from before the numbers were saved with them: the shape checks still catch it.
    const weightsPath = join(dir, 'model.safetensors');
    const { tensors, metadata } = decodeSafetensors(readFileSync(weightsPath));
    delete metadata[NUMBERS_KEY];
    writeFileSync(weightsPath, encodeSafetensors(tensors, metadata));
    expect(() => loadDiffusionPolicy(dir)).toThrow(
      /model\.safetensors does not match .*manifest\.json: its "ema\." tensors hold \d+ values, the architecture the manifest describes has \d+ parameters/,
    );
    editManifest(dir, (m) => {
      m.architecture.width = 32;
      m.architecture.depth = 3;
      m.weights.parameters = createDiffusionNetwork({ ...spec, depth: 3 }, Rng.fromSeed(0)).size;
    });
    expect(() => loadDiffusionPolicy(dir)).toThrow(/does not match .*manifest\.json: its "ema\." tensors hold/);
    editManifest(dir, (m) => {
      m.architecture.depth = 2;
      m.weights.parameters = 5;
    });
    expect(() => loadDiffusionPolicy(dir)).toThrow(
      /weights\.parameters: is 5 but the architecture described \(timeDim 16, width 32, depth 2\) has \d+/,
    );
  });

  it('refuses huge sizes in a small manifest before allocating, and an edited denoisingSteps (issue 16, defect 4)', () => {
    const { dir, policy } = saved(8);
    const cases: [(m: Record<string, any>) => void, RegExp][] = [
      [(m) => (m.denoisingSteps = 2e9), /denoisingSteps: Too big: expected number to be <=100000/],
      [(m) => (m.architecture.width = 1e6), /architecture\.width: Too big: expected number to be <=16384/],
      [
        (m) => (m.architecture.width = 12000),
        /weights\.parameters: is \d+ but the architecture described \(timeDim 16, width 12000, depth 2\) has 5766\d+/,
      ],
      [(m) => (m.denoisingSteps = 40), /manifest\.json was edited after saving: denoisingSteps is 40 but the weights were saved with 20/],
      [(m) => (m.actionHigh = [100, 100, 100]), /edited after saving: actionHigh\.0 is 100 but the weights were saved with 1/],
    ];
    const original = readFileSync(join(dir, 'manifest.json'), 'utf8');
    for (const [edit, message] of cases) {
      writeFileSync(join(dir, 'manifest.json'), original);
      editManifest(dir, edit);
      const rss = process.memoryUsage().rss;
      const t0 = performance.now();
      expect(() => loadDiffusionPolicy(dir)).toThrow(message);
      expect(performance.now() - t0).toBeLessThan(500);
      expect(process.memoryUsage().rss - rss).toBeLessThan(64 * 1024 * 1024);
    }
    writeFileSync(join(dir, 'manifest.json'), original);
    expect(loadDiffusionPolicy(dir).network.size).toBe(policy.network.size);
  });

  it('rejects weights from another checkpoint with the same shapes (SHA-256 recorded in the manifest)', () => {
    const a = saved(6);
    const b = saved(7);
    cpSync(join(b.dir, 'model.safetensors'), join(a.dir, 'model.safetensors'));
    expect(() => loadDiffusionPolicy(a.dir)).toThrow(
      /model\.safetensors does not match .*manifest\.json: its SHA-256 is [0-9a-f]{12}\.\.\., the manifest records/,
    );
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

describe('dsrl pretrain and dsrl eval', () => {
  // A registered toy task (Reach1D, 12 steps) and an expert dataset from its optimal controller.
  const envId = 'DiffusionTestReach-v0';
  registerEnv({ id: envId, entryPoint: () => new Reach1D(), maxEpisodeSteps: 12 });

  async function expertDataset(path: string, episodes: number, meta: Record<string, string>): Promise<void> {
    const env = new Reach1D();
    const rows = { obs: [] as number[], act: [] as number[], next: [] as number[], rew: [] as number[], timeout: [] as number[] };
    for (let ep = 0; ep < episodes; ep++) {
      let { obs } = env.reset({ seed: 1000 + ep });
      for (let t = 0; t < 12; t++) {
        const a = env.optimalAction();
        const r = env.step([a]);
        rows.obs.push(...obs);
        rows.act.push(a);
        rows.next.push(...r.obs);
        rows.rew.push(r.reward);
        rows.timeout.push(t === 11 ? 1 : 0);
        obs = r.obs;
      }
    }
    await writeD4rl(
      path,
      createD4rlDataset({
        obsDim: 2,
        actionDim: 1,
        observations: Float32Array.from(rows.obs),
        actions: Float32Array.from(rows.act),
        nextObservations: Float32Array.from(rows.next),
        rewards: Float32Array.from(rows.rew),
        terminals: new Uint8Array(rows.rew.length),
        timeouts: Uint8Array.from(rows.timeout),
        metadata: meta,
      }),
    );
  }

  it('pretrain writes a checkpoint that eval runs and records; the cloned policy beats zero actions', { tags: ['learning'] }, async () => {
    const data = join(root, 'reach.h5');
    await expertDataset(data, 200, { env_id: envId });
    const out = join(root, 'reach-policy');
    const lines: string[] = [];
    const sink = { write: (s: string) => lines.push(s), isTTY: false };
    const small = { width: 64, depth: 2, chunk: 4, T: 20, ddimSteps: 5, batchSize: 128, lr: 1e-3, emaDecay: 0.99, emaEvery: 1, emaStart: 600 };
    const manifest = await runPretrain(
      { dataset: data, out, steps: 1000, seed: 1, ...small, saveRaw: true },
      { stream: sink, log: (l) => lines.push(l) },
    );
    expect(manifest).toMatchObject({ envId, obsDim: 2, actDim: 1, chunk: 4, weights: { rawPrefix: 'raw.' } });
    expect(manifest.dataset?.hash).toBe(datasetHash(await readD4rl(data)));
    expect(manifest.dataset).toMatchObject({ steps: 2400, episodes: 200, chunks: 200 * 9, tail: 'skip' });
    expect(manifest.training).toMatchObject({ steps: 1000, stepsDone: 1000, finished: true, batchSize: 128 });
    expect(lines.join('\n')).toMatch(/pretrain: 1000 steps in [\d.]+ s \([\d.]+ steps\/s\), loss [\d.]+/);
    expect(lines.join('\n')).toMatch(/\/s .*loss=/); // progress line: rate and loss

    const logs: string[] = [];
    const res = await runEval({ policy: out, episodes: 12, seed: 3, parallel: 5, record: true }, { log: (l) => logs.push(l) });
    expect(res.returns).toHaveLength(12);
    expect(res.lengths.every((l) => l === 12)).toBe(true);
    expect(readManifest(out).eval).toEqual([expect.objectContaining({ envId, episodes: 12, seed: 3, returnMean: res.returnMean })]);
    expect(logs.join('\n')).toMatch(new RegExp(`eval ${envId}: 12 episodes, return -?[\\d.]+ ± [\\d.]+`));
    // Results do not depend on how many episodes run side by side, up to float rounding: the policy runs
    // at batch 5 there and batch 1 here, and a SGEMM (OpenBLAS on some CPUs, the built-in kernels) need
    // not round a row the same way at every batch size. Measured over OpenBLAS's Haswell, Zen, SkylakeX,
    // Cooperlake and SandyBridge kernels and the built-in AVX-512, AVX2 and generic ones: at most 3.2e-7
    // per return (12 steps of reward -|x - g|, x moved by 0.2 a). 1e-4 leaves > 300x; running episodes in
    // the wrong env slot or with the wrong seed changes returns by their spread, checked to exceed 0.05.
    const serial = await runEval({ policy: out, episodes: 12, seed: 3, parallel: 1 }, { log: () => {} });
    expect(serial.returns).toHaveLength(12);
    const worst = Math.max(...serial.returns.map((r, i) => Math.abs(r - res.returns[i])));
    if (process.env.DSRL_TEST_VERBOSE) console.log(`eval: serial vs parallel returns differ by at most ${worst}`);
    expect(worst).toBeLessThan(1e-4);
    expect(Math.max(...res.returns) - Math.min(...res.returns)).toBeGreaterThan(0.05);
    // From the same starts: the cloned policy lands near the expert and far above zero actions.
    const meanReturn = (act: (env: Reach1D) => number) => {
      const env = new Reach1D();
      let total = 0;
      for (let ep = 0; ep < 12; ep++) {
        env.reset({ seed: 3 * 100_003 + ep });
        for (let t = 0; t < 12; t++) total += env.step([act(env)]).reward;
      }
      return total / 12;
    };
    const expert = meanReturn((env) => env.optimalAction());
    const zero = meanReturn(() => 0);
    expect(res.returnMean, `expert ${expert}, zero ${zero}`).toBeGreaterThan(expert - 1);
    expect(res.returnMean).toBeGreaterThan(zero + 4);

    await expect(runPretrain({ dataset: data, out, steps: 10, ...small })).rejects.toThrow(/already holds a checkpoint; pass --force/);
    await expect(runEval({ policy: out, env: 'Hopper-v5', episodes: 1 })).rejects.toThrow(/takes observations of dim 2 but the env gives dim 11/);
  });

  it('pretrain refuses a dataset without action bounds, and bad settings before reading the data', async () => {
    const data = join(root, 'reach-nometa.h5');
    await expertDataset(data, 3, { env_id: 'hopper-medium-v2' });
    await expect(runPretrain({ dataset: data, out: join(root, 'x'), steps: 5 })).rejects.toThrow(
      /reach-nometa\.h5: cannot tell the action bounds: the dataset names no registered env \(its metadata says "hopper-medium-v2"\); pass --env <id>/,
    );
    await expect(runPretrain({ dataset: data, out: join(root, 'x'), steps: 5, env: 'Hopper-v5' })).rejects.toThrow(
      /obs dim 2 and action dim 1, but Hopper-v5 has 11 and 3/,
    );
    await expect(runPretrain({ dataset: join(root, 'missing.h5'), out: join(root, 'x'), steps: 5, timeDim: 7 })).rejects.toThrow(
      /timeDim must be an even integer/,
    );
    const m = await runPretrain(
      { dataset: data, out: join(root, 'y'), steps: 3, width: 8, depth: 1, actionBounds: [-1, 1], tail: 'pad' },
      { stream: { write: () => true }, log: () => {} },
    );
    expect(m).toMatchObject({ envId: null, actionLow: [-1], actionHigh: [1], dataset: { tail: 'pad', chunks: 36 } });
  });
});
