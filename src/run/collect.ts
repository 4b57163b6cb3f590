/**
 * `dsrl collect`: roll out a trained agent (its mean action, optionally with Gaussian action noise, or samples
 * of its stochastic policy) and write the episodes as a D4RL-layout HDF5 dataset, with the command and its
 * results in the file's metadata. With `--scripted <task>`, a scripted multi-human demonstrator's episodes in robomimic's
 * layout instead (collectScripted).
 */
import { Rng } from '../core/rng.ts';
import { createD4rlDataset, type D4rlDataset } from '../data/d4rl.ts';
import { datasetHash, writeD4rl, writeRobomimic } from '../data/hdf5.ts';
import { ENV_OBS_KEYS, robomimicEnvArgs, type RobomimicDataset, type RobomimicDemo } from '../data/robomimic.ts';
import type { Operator } from '../envs/mujoco/scripted/multi-human.ts';
import { makeEnv } from '../envs/registry.ts';
import { loadSacCheckpoint } from './sac-checkpoint.ts';

export interface CollectOptions {
  policy: string;
  env: string;
  episodes: number;
  /** Std of Gaussian noise added to the deterministic action (in units of the action range's half-width). */
  noise: number;
  /** Sample the actor's tanh-Gaussian instead of taking its mean (how D4RL's "medium" data was recorded). */
  stochastic?: boolean;
  seed: number;
  out: string;
  /** Recorded in the metadata so the file says how it was made. */
  command?: string;
}

export interface CollectResult {
  dataset: D4rlDataset;
  returns: number[];
  mean: number;
  std: number;
  hash: string;
}

export async function collect(opts: CollectOptions): Promise<CollectResult> {
  if (!(opts.episodes >= 1)) throw new Error(`--episodes must be >= 1, got ${opts.episodes}`);
  if (!(opts.noise >= 0)) throw new Error(`--noise must be >= 0, got ${opts.noise}`);
  const env = await makeEnv(opts.env);
  const obsDim = env.observationSpace.size;
  const actDim = env.actionSpace.size;
  const { sac } = loadSacCheckpoint(opts.policy, { obsDim, actDim });
  const rng = Rng.fromSeed(opts.seed);
  const low = env.actionSpace.low;
  const high = env.actionSpace.high;
  const obsRows: number[] = [];
  const nextRows: number[] = [];
  const actRows: number[] = [];
  const rewards: number[] = [];
  const terminals: number[] = [];
  const timeouts: number[] = [];
  const returns: number[] = [];
  for (let ep = 0; ep < opts.episodes; ep++) {
    let { obs } = env.reset({ seed: opts.seed * 100_003 + ep });
    let ret = 0;
    for (;;) {
      const agentAction = sac.act(obs, 1, !opts.stochastic, rng);
      const action = new Float32Array(actDim);
      for (let j = 0; j < actDim; j++) {
        const half = (high[j] - low[j]) / 2;
        action[j] = Math.min(high[j], Math.max(low[j], agentAction[j] + opts.noise * half * rng.normal()));
      }
      const r = env.step(action);
      obsRows.push(...obs);
      actRows.push(...action);
      nextRows.push(...r.obs);
      rewards.push(r.reward);
      terminals.push(r.terminated ? 1 : 0);
      timeouts.push(!r.terminated && r.truncated ? 1 : 0);
      ret += r.reward;
      obs = r.obs;
      if (r.terminated || r.truncated) break;
    }
    returns.push(ret);
  }
  env.close();
  const mean = returns.reduce((a, b) => a + b, 0) / returns.length;
  const std = Math.sqrt(returns.reduce((a, b) => a + (b - mean) ** 2, 0) / returns.length);
  const dataset = createD4rlDataset(
    {
      obsDim,
      actionDim: actDim,
      observations: Float32Array.from(obsRows),
      actions: Float32Array.from(actRows),
      rewards: Float32Array.from(rewards),
      nextObservations: Float32Array.from(nextRows),
      terminals: Uint8Array.from(terminals),
      timeouts: Uint8Array.from(timeouts),
      metadata: {
        env: opts.env,
        policy: opts.policy,
        noise: opts.noise,
        stochastic: opts.stochastic ? 1 : 0,
        seed: opts.seed,
        episodes: opts.episodes,
        return_mean: mean,
        return_std: std,
        command: opts.command ?? '',
      },
    },
    { source: opts.out },
  );
  await writeD4rl(opts.out, dataset);
  return { dataset, returns, mean, std, hash: datasetHash(dataset) };
}

// ---------------------------------------------------------------------------------------------
// Scripted demonstrations (`dsrl collect --scripted lift|can|square`): robomimic layout

/** Tasks with a multi-human demonstrator, and the env each runs in. */
export const SCRIPTED_TASKS = { lift: 'Lift-v0', can: 'PickPlaceCan-v0', square: 'NutAssemblySquare-v0' } as const;
export type ScriptedTask = keyof typeof SCRIPTED_TASKS;

interface Demonstrators {
  operators: readonly Operator[];
  create(operator: Operator): { reset(obs: ArrayLike<number>, rng: Rng): void; act(obs: ArrayLike<number>): Float32Array };
}

/** Each task's operators and demonstrator (loaded on use: the scripted experts are not needed otherwise). */
const DEMONSTRATORS: Record<ScriptedTask, () => Promise<Demonstrators>> = {
  lift: async () => {
    const m = await import('../envs/mujoco/scripted/lift-mh.ts');
    return { operators: m.LIFT_OPERATORS, create: (o) => new m.LiftMultiHuman(o) };
  },
  can: async () => {
    const m = await import('../envs/mujoco/scripted/pick-place-can-mh.ts');
    return { operators: m.CAN_OPERATORS, create: (o) => new m.PickPlaceCanMultiHuman(o) };
  },
  square: async () => {
    const m = await import('../envs/mujoco/scripted/nut-assembly-square-mh.ts');
    return { operators: m.SQUARE_OPERATORS, create: (o) => new m.NutAssemblySquareMultiHuman(o) };
  },
};

export interface ScriptedCollectOptions {
  scripted: string;
  /** Demos to write. */
  episodes: number;
  seed: number;
  out: string;
  /**
   * Share of the written demos that are failures (episodes that hit the time limit), 0 by default: robomimic's
   * MH datasets hold successful demos only. Failed episodes beyond this share are dropped, as are successes
   * beyond the rest.
   */
  failureShare?: number;
  /** Share of demos in mask/valid (the rest in mask/train), drawn with the seed. Default 0.1, as robomimic's split. */
  validShare?: number;
  command?: string;
}

export interface ScriptedCollectResult {
  dataset: RobomimicDataset;
  /** Episodes run (kept or dropped). */
  attempts: number;
  successes: number;
  failures: number;
  meanLength: number;
}

/**
 * Run the multi-human demonstrator and write robomimic layout: demo k is attempt a's episode, reset with seed
 * `seed * 100003 + a` (collect's convention), operator `a mod 6`, its random draws from the stream derived
 * from the seed and `a`. Per demo the attributes `operator` and `success`; masks train/valid, the operators'
 * skills (better/okay/worse, as robomimic's MH) and successful/failed.
 */
export async function collectScripted(opts: ScriptedCollectOptions): Promise<ScriptedCollectResult> {
  if (!(opts.scripted in SCRIPTED_TASKS))
    throw new Error(`--scripted must be one of ${Object.keys(SCRIPTED_TASKS).join(', ')}, got "${opts.scripted}"`);
  if (!Number.isSafeInteger(opts.episodes) || opts.episodes < 1) throw new Error(`--episodes must be >= 1, got ${opts.episodes}`);
  const failureShare = opts.failureShare ?? 0;
  if (!(failureShare >= 0 && failureShare <= 1)) throw new Error(`--failure-share must be in [0, 1], got ${failureShare}`);
  const validShare = opts.validShare ?? 0.1;
  if (!(validShare >= 0 && validShare < 1)) throw new Error(`--valid-share must be in [0, 1), got ${validShare}`);
  const envId = SCRIPTED_TASKS[opts.scripted as ScriptedTask];
  const { operators, create } = await DEMONSTRATORS[opts.scripted as ScriptedTask]();
  const keys = ENV_OBS_KEYS[envId];
  const env = await makeEnv(envId);
  // The simulator's own state (MuJoCo's integration state) for data/demo_N/states, not the wrappers'.
  const sim = env.unwrapped;
  const simState = (): Float64Array => Float64Array.from(sim.getState!().integration as Float64Array);
  const wantFailures = Math.round(failureShare * opts.episodes);
  const wantSuccesses = opts.episodes - wantFailures;
  const master = Rng.fromSeed(opts.seed);
  const demos: RobomimicDemo[] = [];
  const skills: Record<string, string[]> = { better: [], okay: [], worse: [] };
  let successes = 0;
  let failures = 0;
  let attempts = 0;
  // Failures are rarer than successes; give up rather than loop forever when the operators cannot fail enough.
  const maxAttempts = 50 * opts.episodes;
  try {
    while (successes < wantSuccesses || failures < wantFailures) {
      if (attempts >= maxAttempts) {
        throw new Error(
          `${opts.out}: ${attempts} episodes gave ${successes} successes and ${failures} failures, short of ${wantSuccesses} and ${wantFailures}`,
        );
      }
      const attempt = attempts++;
      const operator = operators[attempt % operators.length];
      const demonstrator = create(operator);
      let { obs } = env.reset({ seed: opts.seed * 100_003 + attempt });
      demonstrator.reset(obs, master.derive(`demo ${attempt}`));
      const steps: { obs: Float32Array; next: Float32Array; action: Float32Array; reward: number; done: boolean; state: Float64Array }[] = [];
      let success = false;
      for (;;) {
        const state = simState();
        const action = demonstrator.act(obs);
        const r = env.step(action);
        steps.push({ obs: Float32Array.from(obs), next: Float32Array.from(r.obs), action, reward: r.reward, done: r.terminated, state });
        obs = r.obs;
        if (r.info.success === true) success = true;
        if (r.terminated || r.truncated) break;
      }
      if (success ? successes >= wantSuccesses : failures >= wantFailures) continue;
      if (success) successes++;
      else failures++;
      const T = steps.length;
      const name = `demo_${demos.length}`;
      const stateDim = steps[0].state.length;
      const demo: RobomimicDemo = {
        name,
        length: T,
        obs: {},
        nextObs: {},
        actions: new Float32Array(T * 7),
        rewards: Float32Array.from(steps, (s) => s.reward),
        dones: Uint8Array.from(steps, (s) => (s.done ? 1 : 0)),
        states: new Float64Array(T * stateDim),
        attrs: { operator: operator.id, skill: operator.skill, success: success ? 1 : 0, seed: opts.seed * 100_003 + attempt },
      };
      let offset = 0;
      for (const k of keys) {
        const o = new Float32Array(T * k.dim);
        const n = new Float32Array(T * k.dim);
        steps.forEach((s, t) => {
          o.set(s.obs.subarray(offset, offset + k.dim), t * k.dim);
          n.set(s.next.subarray(offset, offset + k.dim), t * k.dim);
        });
        demo.obs[k.name] = o;
        demo.nextObs[k.name] = n;
        offset += k.dim;
      }
      steps.forEach((s, t) => {
        demo.actions.set(s.action, t * 7);
        demo.states.set(s.state, t * stateDim);
      });
      demos.push(demo);
      skills[operator.skill].push(name);
    }
  } finally {
    env.close();
  }
  const names = demos.map((d) => d.name);
  const order = master.derive('valid split').permutation(names.length);
  const validCount = Math.round(validShare * names.length);
  const valid = new Set(Array.from(order.subarray(0, validCount), (i) => names[i]));
  const dataset: RobomimicDataset = {
    envArgs: robomimicEnvArgs(envId, keys, {
      generator: `dsrl collect --scripted ${opts.scripted}`,
      seed: opts.seed,
      failure_share: failureShare,
      attempts,
      command: opts.command ?? '',
    }),
    obsKeys: keys.map((k) => ({ ...k })),
    actionDim: 7,
    stateDim: demos[0].states.length / demos[0].length,
    demos,
    masks: {
      train: names.filter((n) => !valid.has(n)),
      valid: names.filter((n) => valid.has(n)),
      ...skills,
      successful: demos.filter((d) => d.attrs.success === 1).map((d) => d.name),
      failed: demos.filter((d) => d.attrs.success === 0).map((d) => d.name),
    },
  };
  await writeRobomimic(opts.out, dataset);
  const meanLength = demos.reduce((s, d) => s + d.length, 0) / demos.length;
  return { dataset, attempts, successes, failures, meanLength };
}
