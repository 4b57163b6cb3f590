/**
 * DSRL end to end on the bimodal toy (envs/toy/bimodal.ts), as the viewer's page runs it in a Web Worker:
 * behavior-clone a diffusion policy from demonstrations split between two ways of acting, only one of them
 * rewarded, then steer its noise with DSRL-NA until it picks the rewarded one. The same code as `dsrl demo
 * --toy` (DiffusionTrainer, DsrlNA, the off-policy loop, evaluate), smaller (TOY_PAGE_CONFIG), so that the
 * portable TypeScript backend finishes in seconds. Node-free; for a seed and a backend it computes the same
 * numbers in Node and in the browser (test/web-toy.test.ts compares them).
 *
 * `hooks.yield` is awaited after every clone step and every loop iteration: the worker pauses there and lets
 * its messages in; it never changes what is computed.
 */
import { NoiseActionVectorEnv } from '../algos/dsrl/noise-action-env.ts';
import { DsrlNA, dsrlNaDefaults } from '../algos/dsrl/dsrl-na.ts';
import { Rng } from '../core/rng.ts';
import { ReplayBuffer } from '../data/replay-buffer.ts';
import { BimodalChoice, bimodalDemonstrations } from '../envs/toy/bimodal.ts';
import { SyncVectorEnv } from '../envs/vector.ts';
import { ActionChunk } from '../envs/wrappers.ts';
import { getBackend } from '../nn/backend.ts';
import type { DiffusionPolicy } from '../policies/diffusion/policy.ts';
import { buildChunkData, DiffusionTrainer } from '../policies/diffusion/train.ts';
import { deterministicActor, evaluate, gaussianNoiseActor, TRAINING_EVAL_SEED, type EvalActor } from '../run/evaluate.ts';
import { createOffPolicyLoop } from '../run/offpolicy.ts';
import { checkToyConfig, type ToyConfig } from './toy-config.ts';

export { TOY_PAGE_CONFIG, TOY_RECIPES, type ToyConfig } from './toy-config.ts';

export interface ToyProgress {
  phase: 'clone' | 'steer' | 'done';
  /** Clone steps or env steps done in this phase, of `total`. */
  done: number;
  total: number;
  /** The diffusion loss of the latest clone step. */
  cloneLoss: number | null;
  /** Success rate of the cloned policy with N(0, I) noise, once cloned. */
  base: number | null;
  evals: { step: number; successRate: number }[];
  /** Actions of the same 100 contexts: the base policy with N(0, I) noise, and steered by the newest agent ([x0, y0, x1, ...]). */
  actions: { base: number[]; steered: number[] | null } | null;
  /** NN backend in use. */
  backend: string;
}

export interface ToyHooks {
  /** Awaited often with the progress so far: may pause, and must return for training to go on. */
  yield(progress: () => ToyProgress): Promise<void>;
}

export interface ToyResult {
  base: number;
  final: number;
  evals: { step: number; successRate: number }[];
  /** The steered actions of the 100 plotted contexts, for comparing runs exactly. */
  steeredActions: number[];
}

const PLOT_POINTS = 100;

export async function trainToy(config: ToyConfig, hooks: ToyHooks): Promise<ToyResult> {
  const c = checkToyConfig(config);
  const root = Rng.fromSeed(c.seed);
  const progress: ToyProgress = {
    phase: 'clone',
    done: 0,
    total: c.cloneSteps,
    cloneLoss: null,
    base: null,
    evals: [],
    actions: null,
    backend: getBackend().name,
  };
  const view = () => progress;

  // 1. Behavior cloning (the recipe of `dsrl demo --toy`, smaller).
  const demos = bimodalDemonstrations(c.demonstrations, root.derive('demonstrations'));
  const data = buildChunkData(demos, { chunk: 1, tail: 'skip', actionLow: [-1, -1], actionHigh: [1, 1] });
  const spec = { obsDim: 1, actDim: 2, chunk: 1, denoisingSteps: 20, ddimSteps: 5, timeDim: 16, width: c.cloneWidth, depth: 2 };
  const emaStart = Math.floor(0.6 * c.cloneSteps);
  const trainer = new DiffusionTrainer(spec, data, {
    steps: c.cloneSteps,
    batchSize: c.cloneBatch,
    lr: 1e-3,
    seed: c.seed,
    emaDecay: 0.99,
    emaEvery: 1,
    emaStart,
  });
  for (let i = 0; i < c.cloneSteps; i++) {
    progress.cloneLoss = trainer.trainStep();
    progress.done = i + 1;
    await hooks.yield(view);
  }
  const base: DiffusionPolicy = trainer.policy();

  // 2. DSRL-NA on the noise-action env.
  const M = c.actionMagnitude;
  const noiseEnv = (n: number) =>
    new NoiseActionVectorEnv(new SyncVectorEnv(Array.from({ length: n }, () => new ActionChunk(new BimodalChoice(), 1))), base, M);
  const evalEnv = noiseEnv(10);
  const successOf = async (actor: EvalActor) => (await evaluate(actor, evalEnv, { episodes: c.evalEpisodes, seed: TRAINING_EVAL_SEED })).mean;
  const agent = new DsrlNA(
    dsrlNaDefaults(1, 2, { actionMagnitude: M, actorHidden: c.hidden, criticHidden: c.hidden, lr: c.lr, utd: c.utd, distillSteps: c.distillSteps }),
    base,
    root.derive('agent'),
    // Rows it may be asked for at once: a batch, the plotted contexts, the evaluation's 10 envs.
    Math.max(c.batchSize, PLOT_POINTS, c.numEnvs, 10),
  );
  const plot = root.derive('plot');
  const contexts = plot.fillUniform(new Float32Array(PLOT_POINTS), -1, 1);
  const plotNoise = plot.fillNormal(new Float32Array(2 * PLOT_POINTS));
  const baseActions = [...(await base.act(contexts, plotNoise, PLOT_POINTS))];
  const steeredActions = async () => [...(await base.act(contexts, await agent.act(contexts, PLOT_POINTS, true), PLOT_POINTS))];
  progress.base = await successOf(gaussianNoiseActor(2));
  progress.actions = { base: baseActions, steered: null };
  Object.assign(progress, { phase: 'steer', done: 0, total: c.steps });
  await hooks.yield(view);

  const env = noiseEnv(c.numEnvs);
  const buffer = new ReplayBuffer({ capacity: c.steps, obsDim: 1, actionDim: 2, fields: { realActions: 2 }, rng: root.derive('replay') });
  const loop = await createOffPolicyLoop({
    agent,
    env,
    buffer,
    rng: root.derive('collect'),
    seed: c.seed,
    config: {
      totalSteps: c.steps,
      learningStarts: c.learningStarts,
      updatesPerStep: c.utd,
      batchSize: c.batchSize,
      evalEvery: c.evalEvery,
      logEvery: c.steps,
    },
    callbacks: {
      warmupActions: (rng, out) => {
        for (let i = 0; i < out.length; i++) out[i] = Math.max(-M, Math.min(M, rng.normal()));
      },
      transitionFields: () => ({ realActions: env.lastActions }),
      evaluate: async (step) => {
        progress.evals.push({ step, successRate: await successOf(deterministicActor(agent)) });
        progress.actions = { base: baseActions, steered: await steeredActions() };
      },
      afterStep: async (state) => {
        progress.done = Math.min(c.steps, state.envSteps);
        await hooks.yield(view);
      },
    },
  });
  await loop.run();
  progress.phase = 'done';
  progress.done = progress.total;
  await hooks.yield(view);
  const steered = progress.actions.steered ?? (await steeredActions());
  return { base: progress.base, final: progress.evals.at(-1)?.successRate ?? 0, evals: progress.evals, steeredActions: steered };
}
