import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import h5wasm from 'h5wasm/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../src/core/rng.ts';
import { createD4rlDataset, d4rlFromRawArrays, episodeReturnStats, splitEpisodes, type D4rlDataset } from '../src/data/d4rl.ts';
import { loadIntoReplayBuffer } from '../src/data/offline-replay.ts';
import { datasetHash, readD4rl, writeD4rl } from '../src/data/hdf5.ts';
import { ReplayBuffer } from '../src/data/replay-buffer.ts';

const dir = mkdtempSync(join(tmpdir(), 'dsrl-d4rl-'));
beforeAll(async () => {
  await h5wasm.ready;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Episodes: [0,4) terminal, [4,7) timeout, [7,10) unfinished. Values are seeded noise. */
function makeDataset(seed = 0, obsDim = 3, actionDim = 2): D4rlDataset {
  const n = 10;
  const rng = Rng.fromSeed(seed);
  const observations = rng.fillNormal(new Float32Array(n * obsDim)) as Float32Array;
  const nextObservations = new Float32Array(n * obsDim);
  // Within an episode next_observations[i] is observations[i + 1], as in real rollouts.
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < obsDim; j++) {
      const continues = i + 1 < n && i !== 3 && i !== 6;
      nextObservations[i * obsDim + j] = continues ? observations[(i + 1) * obsDim + j] : rng.normal();
    }
  }
  const terminals = new Uint8Array(n);
  const timeouts = new Uint8Array(n);
  terminals[3] = 1;
  timeouts[6] = 1;
  return createD4rlDataset({
    obsDim,
    actionDim,
    observations,
    actions: rng.fillUniform(new Float32Array(n * actionDim), -1, 1) as Float32Array,
    rewards: Float32Array.from({ length: n }, (_, i) => i + 1),
    nextObservations,
    terminals,
    timeouts,
    metadata: { env_id: 'Hopper-v5', source_command: 'dsrl collect --episodes 3', policy: 'bc.safetensors', seed: 7, temperature: 0.25 },
  });
}

/** Write an HDF5 file the way h5py would lay out a D4RL dataset, with chosen overrides. */
function writeRawFile(path: string, ds: D4rlDataset, edit: (file: InstanceType<typeof h5wasm.File>) => void = () => {}, skip: string[] = []): void {
  const f = new h5wasm.File(path, 'w');
  const n = ds.size;
  const put = (name: string, data: Float64Array | Int8Array | Uint8Array, shape: number[], dtype: string) => {
    if (!skip.includes(name)) f.create_dataset({ name, data, shape, dtype });
  };
  put('observations', Float64Array.from(ds.observations), [n, ds.obsDim], '<d');
  put('actions', Float64Array.from(ds.actions), [n, ds.actionDim], '<d');
  put('rewards', Float64Array.from(ds.rewards), [n], '<d');
  put('next_observations', Float64Array.from(ds.nextObservations), [n, ds.obsDim], '<d');
  put('terminals', Int8Array.from(ds.terminals), [n], '<b');
  put('timeouts', Int8Array.from(ds.timeouts), [n], '<b');
  edit(f);
  f.close();
}

describe('HDF5 round trip', () => {
  it('writes and reads back every array and the metadata exactly, atomically', async () => {
    const ds = makeDataset(1);
    const path = join(dir, 'round.hdf5');
    await writeD4rl(path, ds);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    const back = await readD4rl(path, { expect: { obsDim: 3, actionDim: 2 } });
    expect(back.size).toBe(10);
    expect(back.obsDim).toBe(3);
    expect(back.actionDim).toBe(2);
    for (const key of ['observations', 'actions', 'rewards', 'nextObservations', 'terminals', 'timeouts'] as const) {
      expect(back[key].constructor).toBe(ds[key].constructor);
      expect(Array.from(back[key])).toEqual(Array.from(ds[key]));
    }
    expect(back.metadata).toEqual(ds.metadata);
    expect(datasetHash(back)).toBe(datasetHash(ds));

    // The file uses D4RL's key names and dtypes, for Python readers.
    const f = new h5wasm.File(path, 'r');
    expect(f.keys().sort()).toEqual(['actions', 'metadata', 'next_observations', 'observations', 'rewards', 'terminals', 'timeouts']);
    expect((f.get('observations') as InstanceType<typeof h5wasm.Dataset>).dtype).toBe('<f');
    expect((f.get('observations') as InstanceType<typeof h5wasm.Dataset>).shape).toEqual([10, 3]);
    expect((f.get('terminals') as InstanceType<typeof h5wasm.Dataset>).dtype).toBe('<B');
    f.close();
  });

  it('overwrites an existing file in place', async () => {
    const path = join(dir, 'overwrite.hdf5');
    await writeD4rl(path, makeDataset(1));
    await writeD4rl(path, makeDataset(2));
    expect(datasetHash(await readD4rl(path))).toBe(datasetHash(makeDataset(2)));
  });
});

describe('files written by h5py', () => {
  it('h5py bools read as int8 arrays, the same path as an int8 dataset', () => {
    // array.h5 ships with h5wasm and was written by h5py; its "bool" dataset is h5py's FALSE/TRUE enum.
    const f = new h5wasm.File(join(process.cwd(), 'node_modules/h5wasm/test/array.h5'), 'r');
    const bools = f.get('bool') as InstanceType<typeof h5wasm.Dataset>;
    expect(bools.metadata.enum_type?.members).toEqual({ FALSE: 0, TRUE: 1 });
    const values = bools.value as Int8Array;
    f.close();
    expect(values).toBeInstanceOf(Int8Array);
    const n = values.length;
    const ds = d4rlFromRawArrays({
      observations: { data: new Float64Array(n), shape: [n, 1] },
      actions: { data: new Float64Array(n), shape: [n, 1] },
      rewards: { data: new Float64Array(n), shape: [n] },
      next_observations: { data: new Float64Array(n), shape: [n, 1] },
      terminals: { data: values, shape: [n] },
      timeouts: { data: [false, true, false, true], shape: [n] },
    });
    expect(Array.from(ds.terminals)).toEqual([0, 1, 1, 0]);
    expect(Array.from(ds.timeouts)).toEqual([0, 1, 0, 1]);
  });

  it('loads float64 arrays, int8 flags, [N, 1] rewards, float flags, extra keys and D4RL-style metadata', async () => {
    const ds = makeDataset(3);
    const path = join(dir, 'h5py-like.hdf5');
    const obs64 = Float64Array.from(ds.observations, (v, i) => v + (i % 2) * 1e-9); // not representable in float32
    writeRawFile(
      path,
      ds,
      (f) => {
        f.create_dataset({ name: 'observations', data: obs64, shape: [ds.size, ds.obsDim], dtype: '<d' });
        f.create_dataset({ name: 'rewards', data: Float64Array.from(ds.rewards), shape: [ds.size, 1], dtype: '<d' });
        f.create_dataset({ name: 'timeouts', data: Float64Array.from(ds.timeouts), shape: [ds.size], dtype: '<d' });
        f.create_group('infos');
        f.create_dataset({ name: 'infos/qpos', data: new Float64Array(ds.size * 4), shape: [ds.size, 4], dtype: '<d' });
        const meta = f.create_group('metadata');
        f.create_dataset({ name: 'metadata/algorithm', data: 'SAC' });
        f.create_dataset({ name: 'metadata/iteration', data: new Int32Array([1000]), shape: [], dtype: '<i' });
        meta.create_group('policy');
        f.create_dataset({ name: 'metadata/policy/fc0_weight', data: new Float32Array(64 * 11), shape: [64, 11], dtype: '<f' });
        f.create_dataset({ name: 'metadata/policy/nonlinearity', data: 'relu' });
        meta.create_attribute('env_id', 'hopper-medium-v2');
      },
      ['observations', 'rewards', 'timeouts'],
    );
    const back = await readD4rl(path);
    expect(back.observations).toBeInstanceOf(Float32Array);
    expect(Array.from(back.observations)).toEqual(Array.from(obs64, (v) => Math.fround(v)));
    expect(Array.from(back.actions)).toEqual(Array.from(ds.actions));
    expect(Array.from(back.rewards)).toEqual(Array.from(ds.rewards));
    expect(Array.from(back.terminals)).toEqual(Array.from(ds.terminals));
    expect(Array.from(back.timeouts)).toEqual(Array.from(ds.timeouts));
    expect(back.metadata).toEqual({ algorithm: 'SAC', iteration: 1000, 'policy/nonlinearity': 'relu', env_id: 'hopper-medium-v2' });
  });
});

describe('clear errors', () => {
  const ds = makeDataset(4);

  it('names the file and the missing key', async () => {
    const path = join(dir, 'missing-key.hdf5');
    writeRawFile(path, ds, () => {}, ['timeouts']);
    await expect(readD4rl(path)).rejects.toThrow(new RegExp(`${path}: missing key "timeouts"`));
  });

  it('names the key whose length differs', async () => {
    const path = join(dir, 'short-actions.hdf5');
    writeRawFile(
      path,
      ds,
      (f) => {
        f.create_dataset({ name: 'actions', data: Float64Array.from(ds.actions.subarray(0, 9 * 2)), shape: [9, 2], dtype: '<d' });
      },
      ['actions'],
    );
    await expect(readD4rl(path)).rejects.toThrow(new RegExp(`${path}: key "actions" has 9 rows but "observations" has 10`));
  });

  it('refuses a dataset whose dims differ from the env', async () => {
    const path = join(dir, 'dims.hdf5');
    await writeD4rl(path, ds);
    await expect(readD4rl(path, { expect: { obsDim: 11 } })).rejects.toThrow(/key "observations" has dim 3 but the env expects 11/);
    await expect(readD4rl(path, { expect: { obsDim: 3, actionDim: 3 } })).rejects.toThrow(/key "actions" has dim 2 but the env expects 3/);
  });

  it('reports the key and first row of a NaN or Inf', async () => {
    const path = join(dir, 'nan.hdf5');
    const obs = Float64Array.from(ds.observations);
    obs[3 * 3 + 2] = Number.NaN;
    obs[7 * 3] = Number.NaN;
    writeRawFile(path, ds, (f) => f.create_dataset({ name: 'observations', data: obs, shape: [10, 3], dtype: '<d' }), ['observations']);
    await expect(readD4rl(path)).rejects.toThrow(new RegExp(`${path}: key "observations" has NaN at row 3, column 2`));

    const huge = join(dir, 'huge.hdf5');
    const rewards = Float64Array.from(ds.rewards);
    rewards[5] = 1e300; // finite in float64, Infinity in float32
    writeRawFile(huge, ds, (f) => f.create_dataset({ name: 'rewards', data: rewards, shape: [10], dtype: '<d' }), ['rewards']);
    await expect(readD4rl(huge)).rejects.toThrow(/key "rewards" has Infinity at row 5/);
  });

  it('refuses flags other than 0/1 and non-numeric keys', async () => {
    const path = join(dir, 'flags.hdf5');
    const terminals = Int8Array.from(ds.terminals);
    terminals[2] = 2;
    writeRawFile(path, ds, (f) => f.create_dataset({ name: 'terminals', data: terminals, shape: [10], dtype: '<b' }), ['terminals']);
    await expect(readD4rl(path)).rejects.toThrow(/key "terminals" has value 2 at row 2/);
    const strings = join(dir, 'strings.hdf5');
    writeRawFile(strings, ds, (f) => f.create_dataset({ name: 'rewards', data: ['a', 'b'] }), ['rewards']);
    await expect(readD4rl(strings)).rejects.toThrow(/key "rewards" has dtype/);
  });

  it('refuses missing, non-HDF5 and truncated files', async () => {
    await expect(readD4rl(join(dir, 'nope.hdf5'))).rejects.toThrow(/nope\.hdf5: no such file/);
    const text = join(dir, 'text.hdf5');
    writeFileSync(text, 'observations,actions\n1,2\n');
    await expect(readD4rl(text)).rejects.toThrow(/text\.hdf5: not an HDF5 file/);
    const good = join(dir, 'good.hdf5');
    await writeD4rl(good, ds);
    const truncated = join(dir, 'truncated.hdf5');
    const bytes = readFileSync(good);
    writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length / 3)));
    await expect(readD4rl(truncated)).rejects.toThrow(/truncated\.hdf5: .*(truncated or corrupt|missing key|has \d+ rows)/);
  });

  it('a truncated file gives one line with the HDF5 cause, and no HDF5-DIAG stack on stderr (issue 16, defect 8)', async () => {
    const good = join(dir, 'good-8.hdf5');
    await writeD4rl(good, ds);
    const truncated = join(dir, 'truncated-8.hdf5');
    writeFileSync(truncated, readFileSync(good).subarray(0, 1000));
    // In a child process: HDF5 writes its stack to the process's own stderr, which vitest would not show here.
    const script = `import { readD4rl } from ${JSON.stringify(new URL('../src/data/hdf5.ts', import.meta.url).href)};
      try { await readD4rl(${JSON.stringify(truncated)}); } catch (e) { process.stdout.write(e.message); }`;
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    expect(run.stderr).not.toMatch(/HDF5-DIAG/);
    expect(run.stdout).toMatch(
      /^\S*truncated-8\.hdf5: cannot open as HDF5 \(truncated or corrupt\?\): truncated file: eof = 1000, .*stored_eof = \d+$/,
    );
  });

  it('checks in-memory datasets too', () => {
    const base = makeDataset(5);
    expect(() => createD4rlDataset({ ...base, actions: base.actions.subarray(2) })).toThrow(/key "actions" has 9 rows but the dataset has 10/);
    expect(() => createD4rlDataset({ ...base, terminals: new Uint8Array(10).fill(3) })).toThrow(/terminals/);
    expect(() => createD4rlDataset({ ...base, rewards: new Float32Array(10), metadata: { bad: NaN } })).toThrow(/metadata "bad"/);
    expect(() => d4rlFromRawArrays({}, { source: 'x.h5' })).toThrow(/x\.h5: missing keys "observations", "actions"/);
  });
});

describe('episodes', () => {
  it('splits on terminals and timeouts and keeps a trailing unfinished episode', () => {
    const episodes = splitEpisodes(makeDataset(6));
    expect(episodes).toEqual([
      { start: 0, end: 4, length: 4, return: 1 + 2 + 3 + 4, endReason: 'terminal' },
      { start: 4, end: 7, length: 3, return: 5 + 6 + 7, endReason: 'timeout' },
      { start: 7, end: 10, length: 3, return: 8 + 9 + 10, endReason: 'unfinished' },
    ]);
    const stats = episodeReturnStats(episodes);
    expect(stats.count).toBe(2);
    expect(stats.mean).toBe(14);
    expect(stats.std).toBe(4);
    expect(stats.min).toBe(10);
    expect(stats.max).toBe(18);
    expect(stats.meanLength).toBe(3.5);
    expect(episodeReturnStats(episodes, { includeUnfinished: true }).count).toBe(3);
    expect(episodeReturnStats([]).count).toBe(0);
    expect(episodeReturnStats([]).mean).toBeNaN();
  });

  it('can also split where observations jump (files without timeouts)', () => {
    const ds = makeDataset(6);
    ds.timeouts.fill(0);
    expect(splitEpisodes(ds).map((e) => e.end)).toEqual([4, 10]);
    const episodes = splitEpisodes(ds, { splitOnDiscontinuity: true });
    expect(episodes.map((e) => [e.end, e.endReason])).toEqual([
      [4, 'terminal'],
      [7, 'discontinuity'],
      [10, 'unfinished'],
    ]);
  });
});

describe('datasetHash', () => {
  it('is the SHA-256 of the canonical arrays, ignores metadata and sees a one-value change', () => {
    const ds = makeDataset(7);
    const manual = createHash('sha256');
    manual.update('dsrl-d4rl-v1 n=10 obs=3 act=2\n');
    for (const a of [ds.observations, ds.actions, ds.rewards, ds.nextObservations, ds.terminals, ds.timeouts]) manual.update(a);
    expect(datasetHash(ds)).toBe(manual.digest('hex'));
    expect(datasetHash({ ...ds, metadata: {} })).toBe(datasetHash(ds));
    const changed = { ...ds, rewards: ds.rewards.slice() };
    changed.rewards[9] += 1;
    expect(datasetHash(changed)).not.toBe(datasetHash(ds));
    const flag = { ...ds, timeouts: ds.timeouts.slice() };
    flag.timeouts[9] = 1;
    expect(datasetHash(flag)).not.toBe(datasetHash(ds));
  });
});

describe('loadIntoReplayBuffer', () => {
  it('copies every step, keeping terminals and timeouts apart', () => {
    const ds = makeDataset(8);
    const buffer = new ReplayBuffer({ capacity: 16, obsDim: 3, actionDim: 2, seed: 1 });
    expect(loadIntoReplayBuffer(ds, buffer)).toBe(10);
    const out = buffer.createBatch(10);
    buffer.gather(
      Array.from({ length: 10 }, (_, i) => i),
      out,
    );
    expect(Array.from(out.obs)).toEqual(Array.from(ds.observations));
    expect(Array.from(out.actions)).toEqual(Array.from(ds.actions));
    expect(Array.from(out.rewards)).toEqual(Array.from(ds.rewards));
    expect(Array.from(out.nextObs)).toEqual(Array.from(ds.nextObservations));
    expect(Array.from(out.terminated)).toEqual(Array.from(ds.terminals));
    expect(Array.from(out.truncated)).toEqual(Array.from(ds.timeouts));
  });

  it('refuses mismatched dims and data that does not fit, unless overwriting is allowed', () => {
    const ds = makeDataset(8);
    expect(() => loadIntoReplayBuffer(ds, new ReplayBuffer({ capacity: 16, obsDim: 4, actionDim: 2, seed: 1 }))).toThrow(
      /obsDim 3 but buffer obsDim 4/,
    );
    expect(() => loadIntoReplayBuffer(ds, new ReplayBuffer({ capacity: 16, obsDim: 3, actionDim: 3, seed: 1 }))).toThrow(/width 3/);
    const small = new ReplayBuffer({ capacity: 6, obsDim: 3, actionDim: 2, seed: 1 });
    expect(() => loadIntoReplayBuffer(ds, small)).toThrow(/10 transitions do not fit in the 6 free slots/);
    expect(small.size).toBe(0);
    expect(loadIntoReplayBuffer(ds, small, { allowOverwrite: true })).toBe(10);
    expect(small.size).toBe(6);
  });

  it('can route actions into an extra field and fill the others', () => {
    const ds = makeDataset(8);
    const buffer = new ReplayBuffer({ capacity: 16, obsDim: 3, actionDim: 4, fields: { realAction: 2 }, seed: 1 });
    expect(() => loadIntoReplayBuffer(ds, buffer, { actionsTo: 'realAction' })).toThrow(/no data for buffer "actions"/);
    expect(() => loadIntoReplayBuffer(ds, buffer, { actionsTo: 'nope' })).toThrow(/no field "nope"/);
    loadIntoReplayBuffer(ds, buffer, { actionsTo: 'realAction', fill: { actions: 0 } });
    const out = buffer.gather([5], buffer.createBatch(1));
    expect(Array.from(out.fields.realAction)).toEqual(Array.from(ds.actions.subarray(10, 12)));
    expect(Array.from(out.actions)).toEqual([0, 0, 0, 0]);
  });

  it('builds action chunks that stop at terminals, mark timeouts and drop chunks past the data', () => {
    const ds = makeDataset(9, 2, 1);
    const buffer = new ReplayBuffer({ capacity: 32, obsDim: 2, actionDim: 3, seed: 1 });
    // Episode [0,4) terminal: starts 0..3 all kept. [4,7) timeout: 4..6 kept. [7,10) unfinished: only 7 fits.
    expect(loadIntoReplayBuffer(ds, buffer, { actionChunk: 3 })).toBe(8);
    const out = buffer.gather([0, 1, 2, 3, 4, 5, 6, 7], buffer.createBatch(8));
    const a = (i: number) => ds.actions[i];
    const row = (k: number) => Array.from(out.actions.subarray(k * 3, k * 3 + 3));
    const next = (k: number) => Array.from(out.nextObs.subarray(k * 2, k * 2 + 2));
    const nextOf = (i: number) => Array.from(ds.nextObservations.subarray(i * 2, i * 2 + 2));
    // Full chunk from step 0.
    expect(row(0)).toEqual([a(0), a(1), a(2)]);
    expect(out.rewards[0]).toBe(1 + 2 + 3);
    expect(next(0)).toEqual(nextOf(2));
    expect(out.terminated[0]).toBe(0);
    // Chunk from step 2 hits the terminal at step 3: padded with a(3), terminated.
    expect(row(2)).toEqual([a(2), a(3), a(3)]);
    expect(out.rewards[2]).toBe(3 + 4);
    expect(next(2)).toEqual(nextOf(3));
    expect(out.terminated[2]).toBe(1);
    // Chunk from step 3 is the terminal step alone.
    expect(row(3)).toEqual([a(3), a(3), a(3)]);
    expect(out.rewards[3]).toBe(4);
    // Chunk from step 4 ends exactly at the timeout (step 6): truncated, not terminated.
    expect(row(4)).toEqual([a(4), a(5), a(6)]);
    expect([out.terminated[4], out.truncated[4]]).toEqual([0, 1]);
    // Chunk from step 5 is cut by the timeout: kept as truncated with the tail padded.
    expect(row(5)).toEqual([a(5), a(6), a(6)]);
    expect(out.rewards[5]).toBe(6 + 7);
    expect([out.terminated[5], out.truncated[5]]).toEqual([0, 1]);
    // The unfinished episode contributes only the chunk that fits (steps 7..9).
    expect(row(7)).toEqual([a(7), a(8), a(9)]);
    expect(out.rewards[7]).toBe(8 + 9 + 10);
    expect([out.terminated[7], out.truncated[7]]).toEqual([0, 0]);
    expect(Array.from(out.obs.subarray(14, 16))).toEqual(Array.from(ds.observations.subarray(14, 16)));
  });
});
