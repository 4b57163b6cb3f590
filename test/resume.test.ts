import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SAC, sacDefaults } from '../src/algos/sac.ts';
import { Rng } from '../src/core/rng.ts';
import { ReplayBuffer } from '../src/data/replay-buffer.ts';
import { Reach1D } from '../src/envs/toy/reach.ts';
import { SyncVectorEnv, type VectorEnv } from '../src/envs/vector.ts';
import { WorkerVectorEnv } from '../src/envs/vector-worker.ts';
import { TimeLimit } from '../src/envs/wrappers.ts';
import { latestCheckpoint, listCheckpoints, MANIFEST_FILE, saveCheckpoint, TRAIN_STATE_DIR } from '../src/run/checkpoint.ts';
import { readCheckpoint, restoreCheckpoint } from '../src/run/checkpoint-restore.ts';
import { parseCsvLine, WALL_CLOCK_METRICS } from '../src/run/metrics-format.ts';
import type { LoopCheckpoint } from '../src/run/offpolicy.ts';
import { readMetrics } from '../src/run/metrics.ts';
import { decodeStateTree, encodeStateTree } from '../src/run/state-tree.ts';
import { trainSac } from '../src/run/train-sac.ts';

const EPISODE = 20;
const makeReach = async (n: number) => new SyncVectorEnv(Array.from({ length: n }, () => new TimeLimit(new Reach1D(), EPISODE)));
const tempRun = () => join(mkdtempSync(join(tmpdir(), 'dsrl-resume-')), 'run');

/** Checkpoint files that must match byte for byte (the manifest differs only in createdAt). */
const STATE_FILES = ['agent.safetensors', 'replay.safetensors', 'env.safetensors', 'loop.safetensors', 'run.safetensors'];

function finalCheckpoint(run: string): string {
  const dir = latestCheckpoint(join(run, TRAIN_STATE_DIR));
  expect(dir).not.toBeNull();
  return dir!;
}

/** metrics.jsonl rows without the wall-clock parts (wall_time, WALL_CLOCK_METRICS). */
function loggedMetrics(run: string): unknown[] {
  return readMetrics(run).map((row) => {
    const values = Object.fromEntries(Object.entries(row.values).filter(([name]) => !WALL_CLOCK_METRICS.includes(name)));
    for (const name of WALL_CLOCK_METRICS) expect(typeof row.values[name] === 'number' || row.values[name] === undefined).toBe(true);
    return { step: row.step, values };
  });
}

/** metrics.csv without the wall_time and WALL_CLOCK_METRICS columns. */
function loggedCsv(run: string): string[][] {
  const lines = readFileSync(join(run, 'metrics.csv'), 'utf8').trimEnd().split('\n').map(parseCsvLine);
  const drop = new Set(['wall_time', ...WALL_CLOCK_METRICS].map((name) => lines[0].indexOf(name)));
  return lines.map((cells) => cells.filter((_, i) => !drop.has(i)));
}

function expectSameRun(uninterrupted: string, resumed: string): void {
  const a = finalCheckpoint(uninterrupted);
  const b = finalCheckpoint(resumed);
  for (const file of STATE_FILES) expect(readFileSync(join(b, file)).equals(readFileSync(join(a, file))), file).toBe(true);
  expect(readFileSync(join(resumed, 'last/agent.safetensors')).equals(readFileSync(join(uninterrupted, 'last/agent.safetensors')))).toBe(true);
  expect(loggedMetrics(resumed)).toStrictEqual(loggedMetrics(uninterrupted));
  expect(loggedCsv(resumed)).toStrictEqual(loggedCsv(uninterrupted));
}

describe('exact resume of a SAC run', () => {
  const config = {
    env: 'Reach1D',
    steps: 600,
    seed: 5,
    numEnvs: 2,
    learningStarts: 100,
    actorHidden: [32],
    criticHidden: [32],
    batchSize: 64,
    evalEvery: 200,
    evalEpisodes: 4,
    logEvery: 60,
    checkpointEvery: 250,
    quiet: true,
  };
  // The uninterrupted reference run, shared by the tests below (made once, whichever test runs first).
  let reference: Promise<{ run: string; result: Awaited<ReturnType<typeof trainSac>> }> | null = null;
  const uninterrupted = () => {
    reference ??= (async () => {
      const run = tempRun();
      return { run, result: await trainSac({ ...config, out: run }, makeReach) };
    })();
    return reference;
  };

  it('a run stopped mid-episode and resumed (twice) ends bit-identical to an uninterrupted one', async () => {
    const { run: uninterruptedRun, result: full } = await uninterrupted();
    expect(full.step).toBe(600);
    expect(listCheckpoints(join(uninterruptedRun, TRAIN_STATE_DIR)).map((c) => c.step)).toEqual([500, 600]); // keeps the newest 2

    const run = tempRun();
    const first = await trainSac({ ...config, out: run, stopAfter: 330 }, makeReach);
    expect(first.step).toBe(330);
    // Killed at 330: the metrics files run past the checkpoint at 250, which resume must cut back.
    expect(Math.max(...readMetrics(run).map((r) => r.step))).toBeGreaterThan(250);
    const at250 = readCheckpoint(finalCheckpoint(run));
    expect(at250.manifest.step).toBe(250);
    expect(at250.loop.state.runningLength.every((l) => l > 0 && l < EPISODE)).toBe(true); // mid-episode in every sub-env
    expect(at250.manifest.buffer.size).toBeGreaterThan(0);
    expect(at250.loop.metrics.count).toBeGreaterThan(0); // between log points: averages in progress are part of the state

    const second = await trainSac({ resume: true, out: run, stopAfter: 520 }, makeReach);
    expect([second.resumedFrom, second.step]).toEqual([250, 520]);
    const third = await trainSac({ resume: true, out: run }, makeReach);
    expect([third.resumedFrom, third.step]).toEqual([500, 600]);
    expect(third.evals).toStrictEqual(full.evals);
    expect(third.best).toStrictEqual(full.best);
    expectSameRun(uninterruptedRun, run);
  });

  it('refuses to resume without a checkpoint or with changed hyperparameters', async () => {
    const run = tempRun();
    await trainSac({ ...config, steps: 60, learningStarts: 20, batchSize: 16, evalEvery: 0, checkpointEvery: 0, out: run }, makeReach);
    await expect(trainSac({ resume: true, out: run }, makeReach)).rejects.toThrow(
      /no checkpoint in .*train-state \(a run is resumable when started with checkpointEvery/,
    );
    await expect(trainSac({ resume: true, out: (await uninterrupted()).run, lr: 0.01 }, makeReach)).rejects.toThrow(
      /with lr = 0.01: the run was started with 0.0003/,
    );
    await expect(trainSac({ resume: true, out: join(run, 'nope') }, makeReach)).rejects.toThrow(/no config\.json, so it is not a dsrl run folder/);
  });

  it('refuses a config.json edited after the checkpoint, and a checkpoint of an older format, saying what to do', async () => {
    const run = tempRun();
    const small = { ...config, steps: 60, learningStarts: 20, batchSize: 16, evalEvery: 0, checkpointEvery: 30, out: run };
    await trainSac(small, makeReach);
    const configPath = join(run, 'config.json');
    const original = readFileSync(configPath, 'utf8');
    writeFileSync(configPath, original.replace('"gamma": 0.99', '"gamma": 0.9'));
    await expect(trainSac({ resume: true, out: run, steps: 90 }, makeReach)).rejects.toThrow(
      /config\.json was changed after this checkpoint was saved/,
    );
    writeFileSync(configPath, original);
    const manifestPath = join(finalCheckpoint(run), MANIFEST_FILE);
    writeFileSync(manifestPath, JSON.stringify({ ...JSON.parse(readFileSync(manifestPath, 'utf8')), version: 1 }));
    await expect(trainSac({ resume: true, out: run, steps: 90 }, makeReach)).rejects.toThrow(
      /version 1, this build reads version 2 \(saved by an older dsrl.*dsrl eval --run/,
    );
  });

  it('refuses a schedule that would never update, before making anything', async () => {
    const run = tempRun();
    await expect(trainSac({ ...config, steps: 100, learningStarts: 100, out: run }, makeReach)).rejects.toThrow(
      /steps \(100\) <= learningStarts \(100\).*never update/,
    );
    await expect(trainSac({ ...config, steps: 200, batchSize: 500, out: run }, makeReach)).rejects.toThrow(
      /batchSize \(500\) exceeds the rows the run will ever hold \(200\)/,
    );
    expect(existsSync(run)).toBe(false);
  });

  it("a finished run continues with a raised step budget, its buffer grown to the longer run's capacity", async () => {
    const run = tempRun();
    const small = { ...config, steps: 60, learningStarts: 20, batchSize: 16, evalEvery: 0, checkpointEvery: 30 };
    await trainSac({ ...small, out: run }, makeReach);
    // Room for every step plus the last vector step's overshoot (one row per sub-env).
    expect(readCheckpoint(finalCheckpoint(run)).manifest.buffer.capacity).toBe(60 + config.numEnvs);
    const longer = await trainSac({ resume: true, out: run, steps: 90 }, makeReach);
    expect([longer.resumedFrom, longer.step]).toEqual([60, 90]);
    const { manifest, buffer } = readCheckpoint(finalCheckpoint(run));
    expect([manifest.buffer.capacity, buffer.size]).toEqual([90 + config.numEnvs, 90]);
  });

  it('a corrupt, incomplete or mismatched checkpoint gives a clear error', async () => {
    const source = finalCheckpoint((await uninterrupted()).run);
    const copy = (): string => {
      const dir = join(mkdtempSync(join(tmpdir(), 'dsrl-ckpt-')), 'step-000000000600');
      cpSync(source, dir, { recursive: true });
      return dir;
    };
    const reach = await makeReach(2);
    const sac = () => new SAC(sacDefaults(2, 1, { actorHidden: [32], criticHidden: [32] }), Rng.fromSeed(0), 64);
    const restore = (dir: string, env: VectorEnv = reach, kind = 'sac') => restoreCheckpoint(dir, { kind, agent: sac(), env });

    // A good copy restores.
    expect((await restore(copy())).step).toBe(600);

    const flipped = copy();
    const replay = readFileSync(join(flipped, 'replay.safetensors'));
    replay[replay.length - 3] ^= 0xff;
    writeFileSync(join(flipped, 'replay.safetensors'), replay);
    await expect(restore(flipped)).rejects.toThrow(/replay\.safetensors: corrupted \(SHA-256 does not match manifest\.json\)/);

    const truncated = copy();
    writeFileSync(join(truncated, 'agent.safetensors'), readFileSync(join(truncated, 'agent.safetensors')).subarray(0, 100));
    await expect(restore(truncated)).rejects.toThrow(/agent\.safetensors: 100 bytes, manifest\.json says \d+ \(truncated or corrupted\)/);

    const missing = copy();
    rmSync(join(missing, 'env.safetensors'));
    await expect(restore(missing)).rejects.toThrow(/checkpoint is missing env\.safetensors/);

    const newer = copy();
    const manifest = JSON.parse(readFileSync(join(newer, MANIFEST_FILE), 'utf8'));
    writeFileSync(join(newer, MANIFEST_FILE), JSON.stringify({ ...manifest, version: 99 }));
    await expect(restore(newer)).rejects.toThrow(/checkpoint format version 99, this build reads version 2 \(saved by a newer dsrl\)/);

    const garbled = copy();
    writeFileSync(join(garbled, MANIFEST_FILE), '{"format": "dsrl-train-st');
    await expect(restore(garbled)).rejects.toThrow(/manifest\.json: not valid JSON/);

    const half = join(mkdtempSync(join(tmpdir(), 'dsrl-ckpt-')), 'step-000000000001');
    mkdirSync(half);
    await expect(restore(half)).rejects.toThrow(/not a dsrl checkpoint \(no manifest\.json/);

    await expect(restore(copy(), await makeReach(3))).rejects.toThrow(
      /saved with obs dim 2, action dim 1, 2 envs, but this run has obs dim 2, action dim 1, 3 envs/,
    );
    const hopper = await SyncVectorEnv.create('Hopper-v5', 2);
    await expect(restore(copy(), hopper)).rejects.toThrow(
      /saved with obs dim 2, action dim 1, 2 envs, but this run has obs dim 11, action dim 3, 2 envs/,
    );
    await hopper.close();
    await expect(restore(copy(), reach, 'dsrl-na')).rejects.toThrow(/checkpoint of a 'sac' run, this is a 'dsrl-na' run/);
    const wrongAgent = new SAC(sacDefaults(2, 1, { actorHidden: [8], criticHidden: [32] }), Rng.fromSeed(0), 64);
    await expect(restoreCheckpoint(copy(), { kind: 'sac', agent: wrongAgent, env: reach })).rejects.toThrow(
      /agent\.safetensors: cannot load into this agent: SAC checkpoint: actor has/,
    );
    await reach.close();
  });
});

describe('exact resume on MuJoCo', () => {
  it('Hopper-v5 in worker threads: a checkpoint taken mid-episode resumes bit-identically', async () => {
    // Training env in 2 workers, evaluation in-thread: both paths of env state are exercised.
    const makeHopper = (n: number): Promise<VectorEnv> =>
      n === 3 ? WorkerVectorEnv.create('Hopper-v5', 3, { numWorkers: 2 }) : SyncVectorEnv.create('Hopper-v5', n);
    const config = {
      env: 'Hopper-v5',
      steps: 300,
      seed: 2,
      numEnvs: 3,
      learningStarts: 90,
      actorHidden: [16],
      criticHidden: [16],
      batchSize: 32,
      evalEvery: 0,
      evalEpisodes: 2,
      logEvery: 40,
      checkpointEvery: 150,
      quiet: true,
    };
    const uninterrupted = tempRun();
    const full = await trainSac({ ...config, out: uninterrupted }, makeHopper);
    const run = tempRun();
    await trainSac({ ...config, out: run, stopAfter: 200 }, makeHopper);
    const saved = readCheckpoint(finalCheckpoint(run));
    // The first vector step at or past 150 (3 sub-envs: up to 2 steps past it).
    expect(saved.manifest.step).toBeGreaterThanOrEqual(150);
    expect(saved.manifest.step).toBeLessThan(153);
    expect(saved.loop.state.runningLength.some((l) => l > 0)).toBe(true);
    expect(saved.loop.state.episodes).toBeGreaterThan(0); // autoresets happened before the checkpoint
    const resumed = await trainSac({ resume: true, out: run }, makeHopper);
    expect([resumed.resumedFrom, resumed.step]).toEqual([saved.manifest.step, full.step]); // 3 envs may overshoot 300 by a step or two
    expectSameRun(uninterrupted, run);
  });
});

describe('state tree files', () => {
  it('round-trip typed arrays, non-finite numbers, -0 and undefined exactly, and refuse class instances', () => {
    const tree = {
      a: new Float32Array([1.5, -0, NaN]),
      b: new Float64Array([Math.PI, -Infinity]),
      c: new Uint8Array([0, 255]),
      d: new Int32Array(0),
      nested: [{ x: NaN, y: -0, z: Infinity, u: undefined }, null, 'text', true, 0.1 + 0.2],
      rng: Rng.fromSeed(1).state(),
    };
    const back = decodeStateTree(encodeStateTree(tree)) as typeof tree;
    expect(back).toStrictEqual(tree);
    expect(Object.is(back.nested[0] && (back.nested[0] as { y: number }).y, -0)).toBe(true);
    expect(back.a).toBeInstanceOf(Float32Array);
    expect(Object.is(back.a[1], -0)).toBe(true);
    expect(() => encodeStateTree({ agent: { rng: Rng.fromSeed(0) } })).toThrow(/\(root\)\.agent\.rng is a Rng; store plain data/);
    expect(() => encodeStateTree({ $tensor: 1 })).toThrow(/reserved/);
    expect(() => decodeStateTree(encodeStateTree(tree).subarray(0, 40), 'x.safetensors')).toThrow(/x\.safetensors: not a valid dsrl-state-tree file/);
  });

  it('saves atomically: an interrupted save is ignored then cleaned up, old checkpoints are pruned, extra generators restore', async () => {
    const root = join(mkdtempSync(join(tmpdir(), 'dsrl-ckpt-')), TRAIN_STATE_DIR);
    const interrupted = join(root, '.tmp-step-000000000900-1-2');
    mkdirSync(interrupted, { recursive: true });
    mkdirSync(join(root, 'step-000000000800')); // no manifest: not a checkpoint
    expect(latestCheckpoint(root)).toBeNull();

    const env = await makeReach(1);
    await env.reset({ seed: 0 });
    const buffer = new ReplayBuffer({ capacity: 8, obsDim: 2, actionDim: 1, seed: 1 });
    const loopAt = (envSteps: number): LoopCheckpoint => ({
      version: 2,
      state: {
        envSteps,
        vectorSteps: envSteps,
        updates: 0,
        nextEvalAt: 1000,
        episodes: 0,
        runningReturn: [0],
        runningLength: [0],
        obs: new Float32Array(2),
        ended: [false],
        rng: Rng.fromSeed(0).state(),
      },
      metrics: { sums: {}, count: 0, lastLogAt: 0 },
    });
    const noise = Rng.fromSeed(3);
    noise.normal(); // leaves a spare normal in the state
    const agent = { state: () => ({ w: new Float32Array([1, 2]) }), load: () => {} };
    const save = (step: number) =>
      saveCheckpoint(root, { kind: 'test', agent, buffer, env, loop: { checkpoint: () => loopAt(step) }, rngs: { noise } }, { keep: 1 });
    await save(900);
    await save(900); // the same step again replaces it
    expect(existsSync(interrupted)).toBe(false);
    expect(listCheckpoints(root).map((c) => c.step)).toEqual([900]);
    const expected = [noise.normal(), noise.normal()];
    const restoredNoise = Rng.fromSeed(99);
    await restoreCheckpoint(latestCheckpoint(root)!, { kind: 'test', agent, env, rngs: { noise: restoredNoise } });
    expect([restoredNoise.normal(), restoredNoise.normal()]).toStrictEqual(expected);
    await expect(restoreCheckpoint(latestCheckpoint(root)!, { kind: 'test', agent, env, rngs: { other: noise } })).rejects.toThrow(
      /no generator "other" \(it has: noise\)/,
    );
    await save(950);
    expect(listCheckpoints(root).map((c) => c.step)).toEqual([950]);
    await env.close();
  });
});
