/**
 * The one evaluation protocol: training evaluations, the base-policy line of a steer run, `dsrl eval
 * --policy` and `dsrl eval --run` all call `evaluate()`, so equal seeds and episode counts give equal
 * numbers whatever the caller.
 *
 * Episode k (0-based) of an evaluation with seed S starts from `reset(seed = S * 100003 + k)` and, when
 * the actor draws noise (the base policy with N(0, I) noise), draws it from its own stream
 * `Rng.fromSeed(S).derive('eval-noise-k')`. Neither depends on how many sub-envs run side by side:
 * episodes run in waves of `env.numEnvs`, each wave resetting its sub-envs with the seeds of its episodes
 * (a sub-env whose episode ended waits for the wave; its autoreset steps are ignored). 100003 is prime
 * and larger than any episode count used, so two seeds never share a start.
 */
import { Rng } from '../core/rng.ts';
import type { VectorEnv } from '../envs/vector.ts';

/** The seed of training evaluations (every evaluation of a run sees the same starts). */
export const TRAINING_EVAL_SEED = 10_000;

export interface EvalResult {
  step: number;
  mean: number;
  std: number;
  returns: number[];
  lengths: number[];
  /** Envs whose `info` carries `success` (manipulation tasks): whether each episode succeeded, and the rate. */
  successes?: boolean[];
  successRate?: number;
}

export type EpisodeStats = Omit<EvalResult, 'step'>;

/** What acts during an evaluation: rows of observations -> rows of actions, with each row's episode stream. */
export interface EvalActor {
  act(obs: Float32Array, rows: number, episodeRngs: readonly Rng[]): Float32Array | Promise<Float32Array>;
}

/** A trained agent's deterministic actor. */
export function deterministicActor(agent: {
  act(obs: Float32Array, rows: number, deterministic: boolean): Float32Array | Promise<Float32Array>;
}): EvalActor {
  return { act: (obs, rows) => agent.act(obs, rows, true) };
}

/**
 * A trained agent's stochastic actor (stable-baselines3's `evaluate_policy(deterministic=False)`): actions sampled
 * from its distribution, row r's `dim` draws from episode r's stream, so results do not depend on how many
 * episodes run side by side. For DSRL this feeds the base policy fresh noise from the learned distribution.
 */
export function stochasticActor(
  agent: { act(obs: Float32Array, rows: number, deterministic: boolean, rng: Pick<Rng, 'normal'>): Float32Array | Promise<Float32Array> },
  dim: number,
): EvalActor {
  return {
    act(obs, rows, rngs) {
      // The agent draws rows x dim normals in row order (TanhGaussian.sample): hand each row its episode's stream.
      let drawn = 0;
      const perRow = { normal: () => rngs[Math.floor(drawn++ / dim)].normal() };
      return agent.act(obs, rows, false, perRow);
    },
  };
}

/** The initial noise a base policy is evaluated with: N(0, I) draws (how it was trained) or all zeros. */
export const BASE_NOISES = ['normal', 'zero'] as const;
export type BaseNoise = (typeof BASE_NOISES)[number];

/** The base policy's own sampling in a noise-action env: w ~ N(0, I) per row from its episode's stream. */
export function gaussianNoiseActor(noiseDim: number): EvalActor {
  let out = new Float32Array(0);
  return {
    act(_obs, rows, rngs) {
      if (out.length < rows * noiseDim) out = new Float32Array(rows * noiseDim);
      for (let r = 0; r < rows; r++) rngs[r].fillNormal(out.subarray(r * noiseDim, (r + 1) * noiseDim));
      return out.subarray(0, rows * noiseDim);
    },
  };
}

/** The sampler's most likely chunk: w = 0. */
export function zeroNoiseActor(noiseDim: number): EvalActor {
  return { act: (_obs, rows) => new Float32Array(rows * noiseDim) };
}

/**
 * Watches one episode of an evaluation as it runs (episode-record.ts records it for the viewer): `start` right
 * after the reset that begins it and `step` after each of its steps, each while the vector env's sub-env
 * `subEnv` still holds that state. It only reads: the evaluation's numbers are the same with or without it.
 */
export interface EpisodeObserver {
  /** The episode (0-based) to watch. */
  readonly episode: number;
  start(subEnv: number): void;
  step(subEnv: number, reward: number, info: Record<string, unknown>, done: boolean): void;
}

export function episodeResetSeed(seed: number, episode: number): number {
  return seed * 100_003 + episode;
}

/** Env steps one vector step ran in a sub-env: a chunk reports `info.steps`, a plain step counts 1. */
export function stepsOf(info: Record<string, unknown>): number {
  const s = info.steps;
  return typeof s === 'number' && s > 0 ? s : 1;
}

/** Runs `episodes` full episodes of `actor` on `env` under the protocol above. */
export async function evaluate(
  actor: EvalActor,
  env: VectorEnv,
  opts: { episodes: number; seed: number; observer?: EpisodeObserver },
): Promise<EpisodeStats> {
  const { episodes, seed, observer: record } = opts;
  if (!Number.isSafeInteger(episodes) || episodes < 1) throw new Error(`evaluation: episodes must be a positive integer, got ${episodes}`);
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`evaluation: seed must be a non-negative integer, got ${seed}`);
  if (record && !(Number.isSafeInteger(record.episode) && record.episode >= 0 && record.episode < episodes)) {
    throw new Error(`evaluation: the episode to record (${record.episode}) is not one of the ${episodes} episodes`);
  }
  const n = env.numEnvs;
  const returns = new Array<number>(episodes).fill(0);
  const lengths = new Array<number>(episodes).fill(0);
  const successes = new Array<boolean>(episodes).fill(false);
  let reportsSuccess = false;
  const root = Rng.fromSeed(seed);
  for (let first = 0; first < episodes; first += n) {
    // Sub-env i runs episode first + i; those past the last episode run a spare start whose result is dropped.
    const episodeOf = Array.from({ length: n }, (_, i) => first + i);
    const rngs = episodeOf.map((k) => root.derive(`eval-noise-${k}`));
    const running = episodeOf.map((k) => k < episodes);
    let { obs } = await env.reset({ seed: episodeOf.map((k) => episodeResetSeed(seed, k)) });
    const watched = record && record.episode >= first && record.episode < first + n ? record.episode - first : -1;
    if (watched >= 0) record!.start(watched);
    while (running.some(Boolean)) {
      const actions = await actor.act(obs, n, rngs);
      const r = await env.step(actions);
      obs = r.obs;
      for (let i = 0; i < n; i++) {
        if (!running[i]) continue;
        const k = episodeOf[i];
        returns[k] += r.rewards[i];
        lengths[k] += stepsOf(r.infos[i]);
        const success = r.infos[i].success;
        if (typeof success === 'boolean') {
          reportsSuccess = true;
          if (success) successes[k] = true;
        }
        if (r.terminated[i] || r.truncated[i]) running[i] = false;
        if (i === watched) record!.step(i, r.rewards[i], r.infos[i], !running[i]);
      }
    }
  }
  return summarize(returns, lengths, reportsSuccess ? successes : undefined);
}

export function summarize(returns: number[], lengths: number[], successes?: boolean[]): EpisodeStats {
  const mean = returns.reduce((a, b) => a + b, 0) / returns.length;
  const std = Math.sqrt(returns.reduce((a, b) => a + (b - mean) ** 2, 0) / returns.length);
  if (!successes) return { mean, std, returns, lengths };
  return { mean, std, returns, lengths, successes, successRate: successes.filter(Boolean).length / successes.length };
}

/**
 * The Wilson score interval of a success rate over n episodes (95% by default): unlike rate ± 1.96 se it stays
 * inside [0, 1] and is not zero-width at 0 or n successes, where manipulation evaluations often sit.
 */
export function successInterval(rate: number, n: number, z = 1.96): [number, number] {
  if (!(n > 0) || !(rate >= 0 && rate <= 1)) throw new Error(`successInterval: need 0 <= rate <= 1 and n > 0, got ${rate}, ${n}`);
  const z2n = (z * z) / n;
  const center = (rate + z2n / 2) / (1 + z2n);
  const half = (z / (1 + z2n)) * Math.sqrt((rate * (1 - rate)) / n + z2n / (4 * n));
  // At 0 or n successes an end of the interval is exactly 0 or 1 (the formula gives it up to rounding).
  return [rate === 0 ? 0 : Math.max(0, center - half), rate === 1 ? 1 : Math.min(1, center + half)];
}

export function meanLength(res: EpisodeStats): number {
  return res.lengths.reduce((a, b) => a + b, 0) / res.lengths.length;
}
