/**
 * `dsrl demo` (DSRL-NA steering the shipped Hopper-v5 diffusion policy) as the page web/hopper.html runs it in a
 * Web Worker: the same pieces `dsrl steer` hands the run harness, put together without the harness's run folder
 * (Node's files): the algorithm table's DSRL-NA entry builds the agent and envs, a replay buffer and the
 * off-policy loop with the harness's named random streams (`replay`, `collect`), the base policy's reference
 * evaluation first, then an evaluation every `evalEvery` env steps on the same starts. For a seed and a backend it
 * computes the numbers `dsrl steer` does (test/web-hopper.test.ts compares this, `steer` and the page).
 *
 * The first episode of each evaluation is recorded (episode-recorder.ts) for the page's three.js view.
 * `hooks.yield` is awaited after every loop iteration and evaluation: the worker pauses there and lets its
 * messages in; it never changes what is computed. Node-free; MuJoCo comes from the env registry.
 */
import { STEER_ALGOS } from '../algos/registry.ts';
import { NoiseActionVectorEnv } from '../algos/dsrl/noise-action-env.ts';
import { Rng } from '../core/rng.ts';
import { ReplayBuffer } from '../data/replay-buffer.ts';
import { makeChunkedVectorEnv } from '../envs/registry.ts';
import type { VectorEnv } from '../envs/vector.ts';
import { getBackend } from '../nn/backend.ts';
import type { NoisePolicy } from '../policies/policy.ts';
import type { RecordedEpisode } from '../run/episode-format.ts';
import { EpisodeRecorder, mujocoSubEnvs } from '../run/episode-recorder.ts';
import { deterministicActor, evaluate, gaussianNoiseActor, TRAINING_EVAL_SEED, type EpisodeStats, type EvalActor } from '../run/evaluate.ts';
import { createOffPolicyLoop } from '../run/offpolicy.ts';
import type { HopperConfig } from './hopper-config.ts';

export { HOPPER_DEMO_CONFIG, type HopperConfig } from './hopper-config.ts';

const ENV = 'Hopper-v5';

export interface HopperEval extends EpisodeStats {
  step: number;
}

export interface HopperProgress {
  /** 'base': evaluating the base policy; 'warmup': the base policy with N(0, I) noise fills the buffer; 'learn': DSRL-NA updates. */
  phase: 'base' | 'warmup' | 'learn' | 'done';
  envSteps: number;
  total: number;
  updates: number;
  /** The base policy with N(0, I) noise on the evaluation starts, once evaluated. */
  base: EpisodeStats | null;
  evals: HopperEval[];
  /** The newest value of each training metric (charts/SPS, losses, alpha, the last episode's return, ...). */
  metrics: Record<string, number>;
  /** First episode of the base policy's evaluation and of the newest one of the steered agent. */
  episodes: { base: RecordedEpisode | null; steered: RecordedEpisode | null };
  backend: string;
}

export interface HopperHooks {
  /** Awaited often with the progress so far: may pause, and must return for training to go on. */
  yield(progress: () => HopperProgress): Promise<void>;
}

export interface HopperResult {
  base: EpisodeStats;
  evals: HopperEval[];
  envSteps: number;
  updates: number;
  episodes: { base: RecordedEpisode; steered: RecordedEpisode | null };
}

/** Trains DSRL-NA on `policy` (the caller's, obsDim 11 and actDim 3: models/hopper) with `config`. */
export async function trainHopper(policy: NoisePolicy, config: HopperConfig, hooks: HopperHooks): Promise<HopperResult> {
  const c = config;
  const spec = STEER_ALGOS.na;
  const progress: HopperProgress = {
    phase: 'base',
    envSteps: 0,
    total: c.steps,
    updates: 0,
    base: null,
    evals: [],
    metrics: {},
    episodes: { base: null, steered: null },
    backend: getBackend().name,
  };
  const view = () => progress;
  await hooks.yield(view);
  // As `dsrl steer`: training and evaluation envs (at most 5 of the latter), the entry's parts on the seed's root.
  const envs: VectorEnv[] = [];
  try {
    const trainInner = await makeChunkedVectorEnv(ENV, c.numEnvs, policy.chunk);
    envs.push(trainInner);
    const evalInner = await makeChunkedVectorEnv(ENV, Math.min(c.evalEpisodes, 5), policy.chunk);
    envs.push(evalInner);
    const maxRows = Math.max(c.batchSize, trainInner.numEnvs, evalInner.numEnvs);
    const parts = spec.build!({ hp: c, policy, trainInner, evalInner, rng: Rng.fromSeed(c.seed), maxRows });
    const chunkDim = policy.chunk * policy.actDim;
    // As the harness: the buffer holds the whole run (steps + one vector step), sampled from the `replay` stream of the seed.
    const root = Rng.fromSeed(c.seed);
    const buffer = new ReplayBuffer({
      capacity: c.steps + trainInner.numEnvs,
      obsDim: parts.obsDim,
      actionDim: chunkDim,
      fields: parts.fields,
      rng: root.derive('replay'),
    });
    const evalOpts = { episodes: c.evalEpisodes, seed: TRAINING_EVAL_SEED };
    const recorded = async (actor: EvalActor, env: VectorEnv, label: string, trainedSteps: number) => {
      const recorder = new EpisodeRecorder(mujocoSubEnvs(env)!, { env: ENV, label, seed: evalOpts.seed, trainedSteps });
      const stats = await evaluate(actor, env, { ...evalOpts, observer: recorder });
      return { stats, episode: recorder.result() };
    };

    // The line to beat: the base policy with N(0, I) noise, on the evaluation starts.
    const base = await recorded(gaussianNoiseActor(chunkDim), new NoiseActionVectorEnv(evalInner, policy, c.actionMagnitude), 'base policy', 0);
    progress.base = base.stats;
    progress.episodes.base = base.episode;
    progress.phase = c.learningStarts > 0 ? 'warmup' : 'learn';
    await hooks.yield(view);

    const agent = parts.agent;
    const loop = await createOffPolicyLoop({
      agent,
      env: parts.trainEnv!,
      buffer,
      rng: root.derive('collect'),
      seed: c.seed,
      config: {
        totalSteps: c.steps,
        learningStarts: c.learningStarts,
        updatesPerStep: c.utd,
        batchSize: c.batchSize,
        evalEvery: c.evalEvery,
        logEvery: c.logEvery,
      },
      callbacks: {
        warmupActions: parts.warmupActions,
        transitionFields: parts.transitionFields,
        log: (_step, values) => {
          Object.assign(progress.metrics, values);
        },
        evaluate: async (step) => {
          const res = await recorded(deterministicActor(agent), parts.evalEnv, spec.label, step);
          progress.evals.push({ step, ...res.stats });
          progress.episodes.steered = res.episode;
          progress.envSteps = Math.min(c.steps, step);
          await hooks.yield(view);
        },
        afterStep: async (state) => {
          progress.envSteps = Math.min(c.steps, state.envSteps);
          progress.updates = state.updates;
          if (state.updates > 0) progress.phase = 'learn';
          await hooks.yield(view);
        },
      },
    });
    await loop.run();
    Object.assign(progress, { phase: 'done', envSteps: loop.state.envSteps, updates: loop.state.updates });
    await hooks.yield(view);
    return {
      base: base.stats,
      evals: progress.evals,
      envSteps: loop.state.envSteps,
      updates: loop.state.updates,
      episodes: { base: base.episode, steered: progress.episodes.steered },
    };
  } finally {
    for (const env of envs) await env.close();
  }
}
