/**
 * Seeded, bounded fuzzing of the robomimic-layout reader (readRobomimic, and readDataset's layout detection):
 * damaged bytes of a valid file, and valid HDF5 files whose tree was edited (keys dropped, arrays replaced by
 * wrong shapes, dtypes or values, attributes retyped). Each case must load or fail with one clear line naming
 * the file (test/fuzz/fuzz.ts), and no HDF5-DIAG noise.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../../src/core/rng.ts';
import { readDataset, readRobomimic, writeRobomimic } from '../../src/data/hdf5.ts';
import { isArrayNode, robomimicTree, toyRobomimic, writeTree, type H5Array, type H5Node } from '../helpers/h5tree.ts';
import { fuzz, mutateBytes } from './fuzz.ts';

const dir = mkdtempSync(join(tmpdir(), 'dsrl-fuzz-robomimic-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Every key of the tree, groups and arrays, as [parent, name]. */
function entries(node: H5Node, out: [H5Node, string][] = []): [H5Node, string][] {
  for (const [name, child] of Object.entries(node.children)) {
    out.push([node, name]);
    if (!isArrayNode(child)) entries(child, out);
  }
  return out;
}

const WRONG_ARRAYS: (() => H5Array)[] = [
  () => ({ data: new Float32Array(0), shape: [0], dtype: '<f4' }),
  () => ({ data: new Float32Array(6), shape: [2, 3], dtype: '<f4' }),
  () => ({ data: new Float32Array(3).fill(NaN), shape: [3], dtype: '<f4' }),
  () => ({ data: new Float64Array(3).fill(1e300), shape: [3], dtype: '<d' }),
  () => ({ data: Int32Array.of(7, -1, 2), shape: [3], dtype: '<i' }),
  () => ({ data: Uint8Array.of(3, 4, 5), shape: [3], dtype: '<B' }),
  () => ({ data: ['demo_0', 'x'], shape: [2], dtype: 'A6' }),
  () => ({ data: new Float32Array(3 * 2 * 2), shape: [3, 2, 2], dtype: '<f4' }),
];
const WRONG_ATTRS: (string | number)[] = ['', '{', '[]', 'null', '{"obs_keys": ["nope"]}', '{"obs_keys": 3}', -1, 0, 1e12, 2.5, 'demo_0'];

function editTree(root: H5Node, rng: Rng): void {
  const edits = 1 + rng.int(3);
  for (let e = 0; e < edits; e++) {
    const all = entries(root);
    const [parent, name] = all[rng.int(all.length)];
    const child = parent.children[name];
    switch (rng.int(4)) {
      case 0:
        delete parent.children[name];
        break;
      case 1:
        parent.children[name] = WRONG_ARRAYS[rng.int(WRONG_ARRAYS.length)]();
        break;
      case 2: {
        const target = isArrayNode(child) ? parent : child;
        const keys = Object.keys(target.attrs);
        const key = keys.length > 0 && rng.uniform() < 0.8 ? keys[rng.int(keys.length)] : ['env_args', 'total', 'num_samples'][rng.int(3)];
        target.attrs[key] = WRONG_ATTRS[rng.int(WRONG_ATTRS.length)];
        break;
      }
      default:
        // An empty group in place of a key.
        parent.children[name] = { attrs: {}, children: {} };
    }
  }
}

describe('fuzz: robomimic HDF5', () => {
  it('readRobomimic: 40 byte-damaged files load or give one clear line naming the file', async () => {
    const good = join(dir, 'good.hdf5');
    await writeRobomimic(good, toyRobomimic(3));
    const base = new Uint8Array(readFileSync(good));
    const rng = Rng.fromSeed('fuzz-robomimic-bytes');
    const path = (i: number) => join(dir, `bytes-${i}.hdf5`);
    const r = await fuzz(40, path, async (i) => {
      writeFileSync(path(i), mutateBytes(base, rng));
      const ds = await readRobomimic(path(i));
      return ds;
    });
    expect(r.refused).toBeGreaterThan(5);
  });

  it('readRobomimic and readDataset: 80 edited trees load or give one clear line naming the file, without HDF5 noise', async () => {
    const rng = Rng.fromSeed('fuzz-robomimic-tree');
    const path = (i: number) => join(dir, `tree-${i}.hdf5`);
    const r = await fuzz(
      80,
      path,
      async (i) => {
        const tree = robomimicTree(toyRobomimic(3, i));
        editTree(tree, rng);
        await writeTree(path(i), tree);
        return i % 2 === 0 ? readRobomimic(path(i)) : readDataset(path(i));
      },
      (err) => expect((err as Error).message).not.toMatch(/HDF5-DIAG|#\d{3}:/),
    );
    expect(r.refused).toBeGreaterThan(40);
  });
});
