/**
 * Datasets in robomimic's HDF5 layout (the format manipulation demonstrations come in; facts in
 * shared/reference/manipulation.md):
 *
 *   data/                      attrs: env_args (JSON text: env_name, type, env_kwargs), total (samples)
 *   data/demo_N/               attrs: num_samples (T), plus any per-demo notes (dsrl writes `operator`)
 *   data/demo_N/obs/<key>      [T, ...] one dataset per observation key (robot0_eef_pos, object, ...)
 *   data/demo_N/next_obs/<key> [T, ...] the observation after each step
 *   data/demo_N/actions        [T, actDim]
 *   data/demo_N/rewards        [T]
 *   data/demo_N/dones          [T]
 *   data/demo_N/states         [T, stateDim] simulator state before each step, for exact replay
 *   mask/<filter>              demo names (bytes), e.g. mask/train, mask/valid, mask/better
 *
 * In memory observations are float32 per key (flattened past the first axis), states float64, dones uint8.
 *
 * Flattened into the D4RL layout (what `dsrl pretrain` trains on) by robomimic-d4rl.ts.
 *
 * Core module: no Node imports. Reading and writing files live in hdf5.ts (readRobomimic / writeRobomimic).
 */
import { firstNonFinite, toFlags, type NumericArray, type RawArray } from './d4rl.ts';

/** robomimic's low-dim observation keys in robosuite's order (its low-dim configs list them so). */
export const ROBOMIMIC_LOW_DIM_KEYS = ['robot0_eef_pos', 'robot0_eef_quat', 'robot0_gripper_qpos', 'object'] as const;

/** The keys a dsrl manipulation env's flat observation splits into, in its order (manipulation.md). */
export const ENV_OBS_KEYS: Readonly<Record<string, readonly ObsKey[]>> = {
  'Lift-v0': [
    { name: 'robot0_eef_pos', dim: 3 },
    { name: 'robot0_eef_quat', dim: 4 },
    { name: 'robot0_gripper_qpos', dim: 2 },
    { name: 'object', dim: 10 },
  ],
  'PickPlaceCan-v0': [
    { name: 'robot0_eef_pos', dim: 3 },
    { name: 'robot0_eef_quat', dim: 4 },
    { name: 'robot0_gripper_qpos', dim: 2 },
    { name: 'object', dim: 14 },
  ],
  'NutAssemblySquare-v0': [
    { name: 'robot0_eef_pos', dim: 3 },
    { name: 'robot0_eef_quat', dim: 4 },
    { name: 'robot0_gripper_qpos', dim: 2 },
    { name: 'object', dim: 14 },
  ],
};

/** robosuite's env names for dsrl's env ids (env_args.env_name). */
const ROBOSUITE_NAMES: Readonly<Record<string, string>> = {
  'Lift-v0': 'Lift',
  'PickPlaceCan-v0': 'PickPlaceCan',
  'NutAssemblySquare-v0': 'NutAssemblySquare',
};

export interface ObsKey {
  name: string;
  /** Values per step (the product of the dims past the first axis). */
  dim: number;
}

export interface RobomimicDemo {
  /** Group name under data/, e.g. "demo_0". */
  name: string;
  /** T, the number of steps (robomimic's num_samples). */
  length: number;
  /** Per observation key: [T, dim] row-major. */
  obs: Record<string, Float32Array>;
  nextObs: Record<string, Float32Array>;
  actions: Float32Array;
  rewards: Float32Array;
  dones: Uint8Array;
  /** [T, stateDim] simulator state before each step. */
  states: Float64Array;
  /** Per-demo attributes other than num_samples (e.g. operator). */
  attrs: Record<string, string | number>;
}

export interface RobomimicDataset {
  /** data.attrs.env_args, parsed. */
  envArgs: Record<string, unknown>;
  /** Every observation key the demos hold, in file order (the same for every demo). */
  obsKeys: ObsKey[];
  actionDim: number;
  stateDim: number;
  demos: RobomimicDemo[];
  /** mask/<filter> -> demo names. */
  masks: Record<string, string[]>;
}

/** env_args as dsrl writes it: robomimic's fields plus the dsrl env id and observation order. */
export function robomimicEnvArgs(envId: string, obsKeys: readonly ObsKey[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    env_name: ROBOSUITE_NAMES[envId] ?? envId,
    type: 1, // robomimic's EnvType.ROBOSUITE_TYPE
    env_kwargs: {},
    env_id: envId,
    obs_keys: obsKeys.map((k) => k.name),
    ...extra,
  };
}

/** The dsrl env id a file names: env_args.env_id, else the id whose robosuite name is env_args.env_name. */
export function robomimicEnvId(envArgs: Record<string, unknown>): string | undefined {
  if (typeof envArgs.env_id === 'string' && envArgs.env_id.length > 0) return envArgs.env_id;
  const name = envArgs.env_name;
  if (typeof name !== 'string') return undefined;
  return Object.keys(ROBOSUITE_NAMES).find((id) => ROBOSUITE_NAMES[id] === name) ?? name;
}

/** demo_2 before demo_10; other names after, by name. */
export function compareDemoNames(a: string, b: string): number {
  const na = /^demo_(\d+)$/.exec(a);
  const nb = /^demo_(\d+)$/.exec(b);
  if (na && nb) return Number(na[1]) - Number(nb[1]);
  if (na) return -1;
  if (nb) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Arrays of one demo as read from a file (any numeric dtype), before checks. */
export interface RawDemo {
  name: string;
  obs: Record<string, RawArray>;
  nextObs?: Record<string, RawArray>;
  actions?: RawArray;
  rewards?: RawArray;
  dones?: RawArray;
  states?: RawArray;
  attrs: Record<string, string | number>;
}

/**
 * Build a dataset from raw arrays, checking every shape, length, dtype and value. `source` (the file) starts
 * every error, and each names its key as a path (data/demo_3/obs/object).
 */
export function robomimicFromRaw(
  raw: { envArgs: Record<string, unknown>; total?: number; demos: RawDemo[]; masks: Record<string, string[]> },
  source: string,
): RobomimicDataset {
  const demos = [...raw.demos].sort((a, b) => compareDemoNames(a.name, b.name));
  if (demos.length === 0) throw new Error(`${source}: key "data" holds no demos`);
  let obsKeys: ObsKey[] | null = null;
  let actionDim = 0;
  let stateDim = 0;
  const out: RobomimicDemo[] = [];
  for (const d of demos) {
    const at = (key: string) => `data/${d.name}/${key}`;
    const need = (key: 'actions' | 'rewards' | 'dones' | 'states'): RawArray => {
      const a = d[key];
      if (!a) throw new Error(`${source}: missing key "${at(key)}"`);
      return a;
    };
    const actions = need('actions');
    const T = rowsOf(actions, at('actions'), source);
    if (T === 0) throw new Error(`${source}: key "${at('actions')}" has no rows (an empty demo)`);
    const a = matrix(actions, T, at('actions'), source);
    const r = vector(need('rewards'), T, at('rewards'), source);
    const dn = vector(need('dones'), T, at('dones'), source);
    const s = matrix(need('states'), T, at('states'), source);
    const names = Object.keys(d.obs);
    if (names.length === 0) throw new Error(`${source}: key "${at('obs')}" holds no observation keys`);
    const keys = names.map((name) => ({ name, dim: matrix(d.obs[name], T, at(`obs/${name}`), source).dim }));
    if (obsKeys === null) {
      obsKeys = keys;
      actionDim = a.dim;
      stateDim = s.dim;
    } else {
      const want = obsKeys.map((k) => `${k.name}[${k.dim}]`).join(', ');
      const got = keys.map((k) => `${k.name}[${k.dim}]`).join(', ');
      if (want !== got) throw new Error(`${source}: key "${at('obs')}" holds ${got}, but ${demos[0].name} holds ${want}`);
      if (a.dim !== actionDim) throw new Error(`${source}: key "${at('actions')}" has dim ${a.dim}, but ${demos[0].name} has ${actionDim}`);
      if (s.dim !== stateDim) throw new Error(`${source}: key "${at('states')}" has dim ${s.dim}, but ${demos[0].name} has ${stateDim}`);
    }
    const obs: Record<string, Float32Array> = {};
    const nextObs: Record<string, Float32Array> = {};
    for (const k of keys) obs[k.name] = toFloat32(d.obs[k.name].data, k.dim, at(`obs/${k.name}`), source);
    if (d.nextObs) {
      const nextNames = Object.keys(d.nextObs).sort().join(', ');
      if (nextNames !== [...names].sort().join(', ')) {
        throw new Error(`${source}: key "${at('next_obs')}" holds ${nextNames || 'nothing'}, but "${at('obs')}" holds ${[...names].sort().join(', ')}`);
      }
      for (const k of keys) {
        const m = matrix(d.nextObs[k.name], T, at(`next_obs/${k.name}`), source);
        if (m.dim !== k.dim) throw new Error(`${source}: key "${at(`next_obs/${k.name}`)}" has dim ${m.dim}, but "${at(`obs/${k.name}`)}" has ${k.dim}`);
        nextObs[k.name] = toFloat32(d.nextObs[k.name].data, k.dim, at(`next_obs/${k.name}`), source);
      }
    } else {
      // Files without next_obs: the next step's observation, the last one repeated at the end.
      for (const k of keys) {
        const o = obs[k.name];
        const n = new Float32Array(o.length);
        n.set(o.subarray(k.dim));
        n.set(o.subarray((T - 1) * k.dim), (T - 1) * k.dim);
        nextObs[k.name] = n;
      }
    }
    const numSamples = d.attrs.num_samples;
    if (numSamples !== undefined && Number(numSamples) !== T) {
      throw new Error(`${source}: attribute "data/${d.name}.num_samples" is ${numSamples}, but the demo has ${T} steps`);
    }
    const attrs = { ...d.attrs };
    delete attrs.num_samples;
    const states = new Float64Array(s.data.length);
    copyNumbers(s.data, states, at('states'), source);
    out.push({
      name: d.name,
      length: T,
      obs,
      nextObs,
      actions: toFloat32(actions.data, a.dim, at('actions'), source),
      rewards: toFloat32(r.data, 1, at('rewards'), source),
      dones: toFlags(dn.data, at('dones'), source),
      states,
      attrs,
    });
  }
  const total = out.reduce((sum, d) => sum + d.length, 0);
  if (raw.total !== undefined && raw.total !== total) throw new Error(`${source}: attribute "data.total" is ${raw.total}, but the demos hold ${total} steps`);
  const names = new Set(out.map((d) => d.name));
  for (const [filter, list] of Object.entries(raw.masks)) {
    const unknown = list.find((n) => !names.has(n));
    if (unknown !== undefined) throw new Error(`${source}: key "mask/${filter}" names "${unknown.slice(0, 40)}", which is not a demo under data/`);
  }
  return { envArgs: raw.envArgs, obsKeys: obsKeys!, actionDim, stateDim, demos: out, masks: raw.masks };
}

/** Check an in-memory dataset before writing it (the writer's side of robomimicFromRaw). */
export function validateRobomimic(ds: RobomimicDataset, source: string): void {
  if (ds.demos.length === 0) throw new Error(`${source}: no demos to write`);
  const seen = new Set<string>();
  for (const d of ds.demos) {
    if (!/^[A-Za-z0-9_.-]+$/.test(d.name)) throw new Error(`${source}: demo name "${d.name}" must be letters, digits, _ . -`);
    if (seen.has(d.name)) throw new Error(`${source}: demo name "${d.name}" appears twice`);
    seen.add(d.name);
    const T = d.length;
    if (!Number.isSafeInteger(T) || T < 1) throw new Error(`${source}: data/${d.name} has length ${T}, expected a positive integer`);
    const check = (key: string, values: ArrayLike<number>, dim: number) => {
      if (values.length !== T * dim) throw new Error(`${source}: key "data/${d.name}/${key}" has ${values.length} values, expected ${T} x ${dim}`);
      const bad = firstNonFinite(values, dim);
      if (bad) throw new Error(`${source}: key "data/${d.name}/${key}" has ${bad.value} at row ${bad.row}, column ${bad.column}`);
    };
    for (const k of ds.obsKeys) {
      if (!d.obs[k.name] || !d.nextObs[k.name]) throw new Error(`${source}: data/${d.name} lacks observation key "${k.name}"`);
      check(`obs/${k.name}`, d.obs[k.name], k.dim);
      check(`next_obs/${k.name}`, d.nextObs[k.name], k.dim);
    }
    check('actions', d.actions, ds.actionDim);
    check('rewards', d.rewards, 1);
    check('states', d.states, ds.stateDim);
    if (d.dones.length !== T || d.dones.some((v) => v > 1)) throw new Error(`${source}: key "data/${d.name}/dones" must hold ${T} values of 0/1`);
    for (const [name, value] of Object.entries(d.attrs)) {
      if (name === 'num_samples' || name.length === 0) throw new Error(`${source}: data/${d.name} attribute name "${name}" is reserved or empty`);
      if (typeof value !== 'string' && !(typeof value === 'number' && Number.isFinite(value))) {
        throw new Error(`${source}: data/${d.name} attribute "${name}" must be a string or a finite number`);
      }
    }
  }
  for (const [filter, list] of Object.entries(ds.masks)) {
    if (!/^[A-Za-z0-9_.-]+$/.test(filter)) throw new Error(`${source}: mask name "${filter}" must be letters, digits, _ . -`);
    const unknown = list.find((n) => !seen.has(n));
    if (unknown !== undefined) throw new Error(`${source}: mask "${filter}" names "${unknown}", which is not a demo`);
  }
}

function rowsOf(a: RawArray, key: string, source: string): number {
  if (a.shape.length === 0) throw new Error(`${source}: key "${key}" is a scalar, expected an array with one row per step`);
  return a.shape[0];
}

/** [T, ...] flattened to [T, dim]; dim is 1 for [T]. */
function matrix(a: RawArray, T: number, key: string, source: string): { data: RawArray['data']; dim: number } {
  const count = a.shape.reduce((x, y) => x * y, 1);
  if (a.data.length !== count) throw new Error(`${source}: key "${key}" holds ${a.data.length} values but its shape [${a.shape}] needs ${count}`);
  if (rowsOf(a, key, source) !== T) throw new Error(`${source}: key "${key}" has ${a.shape[0]} rows, but "actions" has ${T}`);
  const dim = a.shape.slice(1).reduce((x, y) => x * y, 1);
  if (dim < 1) throw new Error(`${source}: key "${key}" has shape [${a.shape}], expected at least one value per row`);
  return { data: a.data, dim };
}

/** [T] or [T, 1]. */
function vector(a: RawArray, T: number, key: string, source: string): { data: RawArray['data'] } {
  const m = matrix(a, T, key, source);
  if (m.dim !== 1 || a.shape.length > 2) throw new Error(`${source}: key "${key}" has shape [${a.shape}], expected [${T}] or [${T}, 1]`);
  return m;
}

function copyNumbers(data: RawArray['data'], out: Float32Array | Float64Array, key: string, source: string): void {
  if (data.length > 0 && typeof (data as ArrayLike<unknown>)[0] === 'boolean') throw new Error(`${source}: key "${key}" holds booleans, expected numbers`);
  if (data.length > 0 && typeof (data as ArrayLike<unknown>)[0] !== 'number' && typeof (data as ArrayLike<unknown>)[0] !== 'bigint') {
    throw new Error(`${source}: key "${key}" holds ${typeof (data as ArrayLike<unknown>)[0]} values, expected numbers`);
  }
  const src = data as NumericArray;
  for (let i = 0; i < src.length; i++) {
    const v = Number(src[i]);
    out[i] = v;
    if (!Number.isFinite(out[i])) throw new Error(`${source}: key "${key}" has ${out[i]} at value ${i} (first non-finite value)`);
  }
}

function toFloat32(data: RawArray['data'], _dim: number, key: string, source: string): Float32Array {
  const out = new Float32Array(data.length);
  copyNumbers(data, out, key, source);
  return out;
}
