/**
 * `dsrl collect`: roll out a trained agent (its mean action, optionally with Gaussian action noise, or samples
 * of its stochastic policy) and write the episodes as a D4RL-layout HDF5 dataset, with the command and its
 * results in the file's metadata.
 */
import { Rng } from '../core/rng.ts';
import { createD4rlDataset, type D4rlDataset } from '../data/d4rl.ts';
import { datasetHash, writeD4rl } from '../data/hdf5.ts';
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
