/**
 * HDF5 files as plain trees for tests: build the tree of a robomimic dataset, edit it (h5wasm cannot delete a
 * key from a file), write it with h5wasm.
 */
import h5wasm from 'h5wasm/node';
import { Rng } from '../../src/core/rng.ts';
import { ENV_OBS_KEYS, robomimicEnvArgs, type RobomimicDataset, type RobomimicDemo } from '../../src/data/robomimic.ts';

const KEYS = ENV_OBS_KEYS['Lift-v0'];

export interface H5Array {
  data: Float32Array | Float64Array | Uint8Array | Int32Array | string[];
  shape: number[];
  dtype: string;
}
export interface H5Node {
  attrs: Record<string, string | number>;
  children: Record<string, H5Node | H5Array>;
}

export function isArrayNode(n: H5Node | H5Array): n is H5Array {
  return 'data' in n;
}

/** The tree writeRobomimic writes (same keys, dtypes and attributes). */
export function robomimicTree(ds: RobomimicDataset): H5Node {
  const data: H5Node = { attrs: { env_args: JSON.stringify(ds.envArgs), total: ds.demos.reduce((s, d) => s + d.length, 0) }, children: {} };
  for (const d of ds.demos) {
    const T = d.length;
    const obs: H5Node = { attrs: {}, children: {} };
    const next: H5Node = { attrs: {}, children: {} };
    for (const k of ds.obsKeys) {
      obs.children[k.name] = { data: d.obs[k.name], shape: [T, k.dim], dtype: '<f4' };
      next.children[k.name] = { data: d.nextObs[k.name], shape: [T, k.dim], dtype: '<f4' };
    }
    data.children[d.name] = {
      attrs: { num_samples: T, ...d.attrs },
      children: {
        actions: { data: d.actions, shape: [T, ds.actionDim], dtype: '<f4' },
        rewards: { data: d.rewards, shape: [T], dtype: '<f4' },
        dones: { data: d.dones, shape: [T], dtype: '<B' },
        states: { data: d.states, shape: [T, ds.stateDim], dtype: '<d' },
        obs,
        next_obs: next,
      },
    };
  }
  const mask: H5Node = { attrs: {}, children: {} };
  for (const [name, list] of Object.entries(ds.masks)) {
    if (list.length > 0) mask.children[name] = { data: list, shape: [list.length], dtype: `A${Math.max(...list.map((s) => s.length))}` };
  }
  return { attrs: {}, children: { data, mask } };
}

/** The node at a '/'-separated key, or undefined. */
export function nodeAt(root: H5Node, key: string): H5Node | H5Array | undefined {
  let node: H5Node | H5Array = root;
  for (const part of key.split('/')) {
    if (isArrayNode(node)) return undefined;
    const next: H5Node | H5Array | undefined = node.children[part];
    if (next === undefined) return undefined;
    node = next;
  }
  return node;
}

export function parentOf(root: H5Node, key: string): [H5Node, string] {
  const at = key.lastIndexOf('/');
  const parent = at < 0 ? root : nodeAt(root, key.slice(0, at));
  if (!parent || isArrayNode(parent)) throw new Error(`no group above ${key}`);
  return [parent, at < 0 ? key : key.slice(at + 1)];
}

export async function writeTree(path: string, root: H5Node): Promise<void> {
  await h5wasm.ready;
  const f = new h5wasm.File(path, 'w');
  const put = (group: InstanceType<typeof h5wasm.Group>, node: H5Node) => {
    for (const [name, value] of Object.entries(node.attrs)) {
      if (typeof value === 'number') group.create_attribute(name, value, null, Number.isInteger(value) ? '<i' : '<d');
      else group.create_attribute(name, value);
    }
    for (const [name, child] of Object.entries(node.children)) {
      if (isArrayNode(child)) group.create_dataset({ name, data: child.data, shape: child.shape, dtype: child.dtype });
      else put(group.create_group(name), child);
    }
  };
  try {
    put(f, root);
  } finally {
    f.close();
  }
}

/** A small Lift-shaped dataset; demo k has 3 + k steps, ends in success when k is even. */
export function toyRobomimic(demos = 3, seed = 1): RobomimicDataset {
  const rng = Rng.fromSeed(seed);
  const fill = (n: number) => Float32Array.from({ length: n }, () => rng.normal());
  const list: RobomimicDemo[] = [];
  for (let k = 0; k < demos; k++) {
    const T = 3 + k;
    const obs: Record<string, Float32Array> = {};
    const nextObs: Record<string, Float32Array> = {};
    for (const key of KEYS) {
      obs[key.name] = fill(T * key.dim);
      nextObs[key.name] = fill(T * key.dim);
    }
    const success = k % 2 === 0;
    list.push({
      name: `demo_${k}`,
      length: T,
      obs,
      nextObs,
      actions: fill(T * 7),
      rewards: Float32Array.from({ length: T }, (_, t) => (success && t === T - 1 ? 0 : -1)),
      dones: Uint8Array.from({ length: T }, (_, t) => (success && t === T - 1 ? 1 : 0)),
      states: Float64Array.from({ length: T * 5 }, () => rng.normal() * 1e-3 + 1 / 3),
      attrs: { operator: k % 2, skill: k % 2 ? 'worse' : 'better' },
    });
  }
  return {
    envArgs: robomimicEnvArgs('Lift-v0', KEYS, { seed }),
    obsKeys: KEYS.map((k) => ({ ...k })),
    actionDim: 7,
    stateDim: 5,
    demos: list,
    masks: { train: list.slice(1).map((d) => d.name), valid: [list[0].name] },
  };
}
