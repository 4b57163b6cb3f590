/**
 * robomimic layout: write and read back exactly (arrays, attributes, env_args, masks), the flattening that
 * `dsrl pretrain` trains on, layout detection beside D4RL, and one-line errors naming the file and the key.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import h5wasm from 'h5wasm/node';
import { afterAll, describe, expect, it } from 'vitest';
import { createD4rlDataset } from '../src/data/d4rl.ts';
import { detectHdf5Layout, readDataset, readRobomimic, writeD4rl, writeRobomimic } from '../src/data/hdf5.ts';
import { nodeAt, parentOf, robomimicTree, toyRobomimic, writeTree, type H5Array, type H5Node } from './helpers/h5tree.ts';
import { ENV_OBS_KEYS } from '../src/data/robomimic.ts';
import { robomimicToD4rl } from '../src/data/robomimic-d4rl.ts';

const dir = mkdtempSync(join(tmpdir(), 'dsrl-robomimic-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const KEYS = ENV_OBS_KEYS['Lift-v0'];

describe('robomimic layout', () => {
  it('writes and reads back every array, attribute, env_args and mask exactly', async () => {
    const ds = toyRobomimic(12); // demo_10 and demo_11 must sort after demo_2
    ds.masks.failed = []; // an empty mask (no failed demos) reads back empty
    const path = join(dir, 'round.hdf5');
    await writeRobomimic(path, ds);
    const back = await readRobomimic(path);
    expect(back.envArgs).toEqual(ds.envArgs);
    expect(back.actionDim).toBe(7);
    expect(back.stateDim).toBe(5);
    expect(back.demos.map((d) => d.name)).toEqual(ds.demos.map((d) => d.name));
    expect(new Set(back.obsKeys.map((k) => `${k.name}:${k.dim}`))).toEqual(new Set(KEYS.map((k) => `${k.name}:${k.dim}`)));
    for (let i = 0; i < ds.demos.length; i++) {
      const a = ds.demos[i];
      const b = back.demos[i];
      expect(b.length).toBe(a.length);
      expect(b.actions).toEqual(a.actions);
      expect(b.rewards).toEqual(a.rewards);
      expect(b.dones).toEqual(a.dones);
      expect(b.states).toEqual(a.states); // float64 kept bit for bit
      for (const k of KEYS) {
        expect(b.obs[k.name]).toEqual(a.obs[k.name]);
        expect(b.nextObs[k.name]).toEqual(a.nextObs[k.name]);
      }
      expect(b.attrs).toEqual(a.attrs);
    }
    expect(back.masks).toEqual(ds.masks);
    // The layout's own attributes, as robomimic reads them.
    await h5wasm.ready;
    const f = new h5wasm.File(path, 'r');
    try {
      expect((f.get('data') as InstanceType<typeof h5wasm.Group>).attrs.total.value).toBe(ds.demos.reduce((s, d) => s + d.length, 0));
      expect((f.get('data/demo_4') as InstanceType<typeof h5wasm.Group>).attrs.num_samples.value).toBe(7);
      expect((f.get('data/demo_4/obs/object') as InstanceType<typeof h5wasm.Dataset>).shape).toEqual([7, 10]);
      expect((f.get('data/demo_4/rewards') as InstanceType<typeof h5wasm.Dataset>).shape).toEqual([7]);
    } finally {
      f.close();
    }
  });

  it("flattens into D4RL layout: the env's keys concatenated in its order, dones as terminals, other demo ends as timeouts", async () => {
    const ds = toyRobomimic(3);
    const flat = robomimicToD4rl(ds, { source: 'toy' });
    expect(flat.obsDim).toBe(19);
    expect(flat.size).toBe(3 + 4 + 5);
    expect(flat.metadata.env).toBe('Lift-v0');
    // Row 4 is demo_1, step 1: eef pos, eef quat, gripper, object.
    const d1 = ds.demos[1];
    const row = Array.from(flat.observations.subarray(4 * 19, 5 * 19));
    const want = [
      ...d1.obs.robot0_eef_pos.subarray(3, 6),
      ...d1.obs.robot0_eef_quat.subarray(4, 8),
      ...d1.obs.robot0_gripper_qpos.subarray(2, 4),
      ...d1.obs.object.subarray(10, 20),
    ];
    expect(row).toEqual(want);
    expect(Array.from(flat.nextObservations.subarray(4 * 19, 4 * 19 + 3))).toEqual(Array.from(d1.nextObs.robot0_eef_pos.subarray(3, 6)));
    expect(Array.from(flat.terminals)).toEqual([0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    expect(Array.from(flat.timeouts)).toEqual([0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0]);
    expect(robomimicToD4rl(ds, { filterKey: 'valid' }).size).toBe(3);
    expect(() => robomimicToD4rl(ds, { filterKey: 'better', source: 'toy' })).toThrow('toy: no mask "mask/better" (masks: train, valid)');
    // Without env_args.obs_keys: robomimic's low-dim keys in robosuite's order.
    const plain = robomimicToD4rl({ ...ds, envArgs: { env_name: 'Lift' } });
    expect(plain.observations).toEqual(flat.observations);
    expect(plain.metadata.env).toBe('Lift-v0');
  });

  it('readDataset tells the layouts apart by their groups; D4RL files still load', async () => {
    const rob = join(dir, 'layout.hdf5');
    await writeRobomimic(rob, toyRobomimic(2));
    const d4 = join(dir, 'layout.h5');
    const n = 4;
    await writeD4rl(
      d4,
      createD4rlDataset({
        obsDim: 2,
        actionDim: 1,
        observations: new Float32Array(n * 2),
        actions: new Float32Array(n),
        rewards: new Float32Array(n),
        nextObservations: new Float32Array(n * 2),
        terminals: new Uint8Array(n),
        timeouts: Uint8Array.of(0, 0, 0, 1),
      }),
    );
    expect(await detectHdf5Layout(rob)).toBe('robomimic');
    expect(await detectHdf5Layout(d4)).toBe('d4rl');
    expect((await readDataset(rob)).obsDim).toBe(19);
    expect((await readDataset(d4)).obsDim).toBe(2);
    await expect(readDataset(rob, { expect: { obsDim: 17 } })).rejects.toThrow(`${rob}: key "observations" has dim 19 but the env expects 17`);
  });

  it('derives next_obs when a file has none (the next step, the last repeated)', async () => {
    const path = join(dir, 'no-next.hdf5');
    const tree = robomimicTree(toyRobomimic(1));
    delete (nodeAt(tree, 'data/demo_0') as H5Node).children.next_obs;
    await writeTree(path, tree);
    const back = await readRobomimic(path);
    const o = back.demos[0].obs.object;
    expect(back.demos[0].nextObs.object).toEqual(Float32Array.from([...o.subarray(10), ...o.subarray(20)]));
  });

  it('refuses damaged files with one line naming the file and the key', async () => {
    const del = (key: string) => (t: H5Node) => {
      const [parent, name] = parentOf(t, key);
      delete parent.children[name];
    };
    const put = (key: string, value: H5Array) => (t: H5Node) => {
      const [parent, name] = parentOf(t, key);
      parent.children[name] = value;
    };
    const attr = (key: string, name: string, value: string | number) => (t: H5Node) => {
      (nodeAt(t, key) as H5Node).attrs[name] = value;
    };
    const cases: [string, (t: H5Node) => void, string][] = [
      ['no-actions', del('data/demo_1/actions'), 'missing key "data/demo_1/actions"'],
      ['no-obs', del('data/demo_2/obs'), 'missing key "data/demo_2/obs"'],
      [
        'short-rewards',
        put('data/demo_0/rewards', { data: new Float32Array(2), shape: [2], dtype: '<f4' }),
        'key "data/demo_0/rewards" has 2 rows, but "actions" has 3',
      ],
      ['bad-samples', attr('data/demo_2', 'num_samples', 9), 'attribute "data/demo_2.num_samples" is 9, but the demo has 5 steps'],
      ['bad-total', attr('data', 'total', 13), 'attribute "data.total" is 13, but the demos hold 12 steps'],
      [
        'bad-mask',
        put('mask/valid', { data: ['demo_9'], shape: [1], dtype: 'A6' }),
        'key "mask/valid" names "demo_9", which is not a demo under data/',
      ],
      ['bad-env-args', attr('data', 'env_args', '{oops'), 'attribute "data.env_args" is not JSON text'],
      ['obs-dim', put('data/demo_1/obs/object', { data: new Float32Array(4 * 9), shape: [4, 9], dtype: '<f4' }), 'key "data/demo_1/obs" holds'],
      [
        'nan',
        put('data/demo_0/actions', { data: new Float32Array(21).fill(NaN), shape: [3, 7], dtype: '<f4' }),
        'key "data/demo_0/actions" has NaN at value 0',
      ],
      ['flags', put('data/demo_0/dones', { data: Uint8Array.of(0, 2, 1), shape: [3], dtype: '<B' }), 'key "data/demo_0/dones" has value 2 at row 1'],
      ['not-group', put('data/demo_1', { data: new Float32Array(1), shape: [1], dtype: '<f4' }), 'key "data/demo_1" is not a group'],
      ['no-data', del('data'), 'missing key "data"'],
    ];
    for (const [name, edit, message] of cases) {
      const path = join(dir, `${name}.hdf5`);
      const tree = robomimicTree(toyRobomimic(3));
      edit(tree);
      await writeTree(path, tree);
      const err = await readRobomimic(path).then(
        () => null,
        (e: Error) => e,
      );
      expect(err, name).toBeInstanceOf(Error);
      expect(err!.message, name).toContain(`${path}: ${message}`);
      expect(err!.message, name).not.toMatch(/\n|HDF5-DIAG/);
    }
    await expect(readRobomimic(join(dir, 'absent.hdf5'))).rejects.toThrow(`${join(dir, 'absent.hdf5')}: no such file`);
  });
});
