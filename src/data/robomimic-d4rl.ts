/**
 * A robomimic-layout dataset (robomimic.ts) flattened into D4RL's layout (d4rl.ts), what `dsrl pretrain` trains on
 * and DSRL-NA's offline data loads: the observation of a step is the concatenation of the chosen keys in
 * order. The order is, first found: the caller's `obsKeys`; the `obs_keys` list dsrl writes into env_args (the
 * env's own order, e.g. Lift-v0's 19 dims = eef position 3, eef quaternion 4, finger positions 2, object 10);
 * robomimic's low-dim set ROBOMIMIC_LOW_DIM_KEYS, which is robosuite's order and what robomimic's low-dim
 * policies concatenate. Demos follow each other in numeric order (demo_2 before demo_10); terminals = dones,
 * and a demo's last step without done is a timeout.
 *
 * Core module: no Node imports.
 */
import { createD4rlDataset, type D4rlDataset } from './d4rl.ts';
import { ROBOMIMIC_LOW_DIM_KEYS, type RobomimicDataset, robomimicEnvId } from './robomimic.ts';

export interface ToD4rlOptions {
  /** The observation keys to concatenate, in order (default: see the module comment). */
  obsKeys?: readonly string[];
  /** Only the demos of this mask (mask/<filterKey>). */
  filterKey?: string;
  source?: string;
}

/** The observation keys robomimicToD4rl concatenates, in order. */
export function defaultObsKeys(ds: RobomimicDataset, source = 'dataset'): string[] {
  const have = new Set(ds.obsKeys.map((k) => k.name));
  const listed = ds.envArgs.obs_keys;
  if (Array.isArray(listed) && listed.length > 0 && listed.every((k) => typeof k === 'string')) {
    const missing = (listed as string[]).find((k) => !have.has(k));
    if (missing !== undefined) throw new Error(`${source}: env_args.obs_keys names "${missing}", which the demos do not hold`);
    return listed as string[];
  }
  if (ROBOMIMIC_LOW_DIM_KEYS.every((k) => have.has(k))) return [...ROBOMIMIC_LOW_DIM_KEYS];
  throw new Error(
    `${source}: cannot tell which observation keys to use (no env_args.obs_keys, and not all of ${ROBOMIMIC_LOW_DIM_KEYS.join(', ')}); the demos hold ${[...have].join(', ')}`,
  );
}

/**
 * Flatten into the D4RL layout `dsrl pretrain` trains on (see the module comment for the observation order).
 * Metadata: env (the dsrl env id), layout, demos, obs_keys, env_args (JSON).
 */
export function robomimicToD4rl(ds: RobomimicDataset, options: ToD4rlOptions = {}): D4rlDataset {
  const source = options.source ?? 'dataset';
  const keyNames = options.obsKeys ? [...options.obsKeys] : defaultObsKeys(ds, source);
  const keys = keyNames.map((name) => {
    const k = ds.obsKeys.find((o) => o.name === name);
    if (!k) throw new Error(`${source}: no observation key "${name}" (the demos hold ${ds.obsKeys.map((o) => o.name).join(', ')})`);
    return k;
  });
  let demos = ds.demos;
  if (options.filterKey !== undefined) {
    const list = ds.masks[options.filterKey];
    if (!list) throw new Error(`${source}: no mask "mask/${options.filterKey}" (masks: ${Object.keys(ds.masks).join(', ') || 'none'})`);
    const wanted = new Set(list);
    demos = demos.filter((d) => wanted.has(d.name));
  }
  const obsDim = keys.reduce((s, k) => s + k.dim, 0);
  const n = demos.reduce((s, d) => s + d.length, 0);
  const observations = new Float32Array(n * obsDim);
  const nextObservations = new Float32Array(n * obsDim);
  const actions = new Float32Array(n * ds.actionDim);
  const rewards = new Float32Array(n);
  const terminals = new Uint8Array(n);
  const timeouts = new Uint8Array(n);
  let row = 0;
  for (const d of demos) {
    for (let t = 0; t < d.length; t++) {
      let col = (row + t) * obsDim;
      for (const k of keys) {
        observations.set(d.obs[k.name].subarray(t * k.dim, (t + 1) * k.dim), col);
        nextObservations.set(d.nextObs[k.name].subarray(t * k.dim, (t + 1) * k.dim), col);
        col += k.dim;
      }
      terminals[row + t] = d.dones[t];
    }
    actions.set(d.actions, row * ds.actionDim);
    rewards.set(d.rewards, row);
    if (!d.dones[d.length - 1]) timeouts[row + d.length - 1] = 1;
    row += d.length;
  }
  const envId = robomimicEnvId(ds.envArgs);
  return createD4rlDataset(
    {
      obsDim,
      actionDim: ds.actionDim,
      observations,
      actions,
      rewards,
      nextObservations,
      terminals,
      timeouts,
      metadata: {
        ...(envId ? { env: envId } : {}),
        layout: 'robomimic',
        demos: demos.length,
        obs_keys: keyNames.join(','),
        env_args: JSON.stringify(ds.envArgs),
        ...(options.filterKey !== undefined ? { filter_key: options.filterKey } : {}),
      },
    },
    { source },
  );
}

// ---------------------------------------------------------------------------------------------
// Raw-array checks
