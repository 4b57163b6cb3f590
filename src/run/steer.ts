/**
 * `dsrl steer`: improve a base policy (any NoisePolicy) with an algorithm of the table in
 * algos/registry.ts (DSRL-NA, DSRL-SAC, residual SAC), or evaluate it alone ('base'), through the run
 * harness. This file holds the options (their schema is the one source of names, defaults and help text;
 * the CLI's flags come from it) and builds the harness's Trainer from the table's entry.
 *
 * Offline data (algorithms that learn from real actions, i.e. DSRL-NA): `offline` loads an HDF5 dataset (D4RL
 * layout, or robomimic's demonstrations flattened as src/data/robomimic-d4rl.ts does) into the replay buffer before
 * online training, chunked with the policy's Ta (`realActions` = the Ta executed actions, reward = their sum). The noise column of those rows holds 0, the mean of
 * N(0, I): DSRL-NA never reads it. `offlineOnly: N` runs N updates on the data with no env interaction.
 */
import { resolve } from 'node:path';
import { z } from 'zod';
import { STEER_ALGO_NAMES, STEER_ALGOS } from '../algos/registry.ts';
import { DEFAULT_RESIDUAL_SCALE } from '../algos/residual-sac.ts';
import type { SteerHyper, SteerParts } from '../algos/spec.ts';
import { NoiseActionVectorEnv } from '../algos/dsrl/noise-action-env.ts';
import { Rng } from '../core/rng.ts';
import { makeChunkedVectorEnv } from '../envs/registry.ts';
import '../node/remote-env-link.ts'; // installs the transport for ws:// env ids (remote envs)
import type { OperatorSession } from '../node/operator-session.ts';
import type { ViewStreamServer } from '../node/view-stream.ts';
import type { VectorEnv } from '../envs/vector.ts';
import { saveSafetensors } from '../node/safetensors-io.ts';
import { modelTensors } from '../nn/safetensors.ts';
import { checkPolicyFitsEnv } from '../policies/fits-env.ts';
import type { NoisePolicy, Precision } from '../policies/policy.ts';
import { BASE_NOISES, gaussianNoiseActor, zeroNoiseActor, type EpisodeStats } from './evaluate.ts';
import { readOffline } from './steer-offline.ts';
import { checkSchedule, runTraining, type RunResult, type Schedule, type Trainer } from './harness.ts';
import { agentRecipe, needsPolicy, policySource } from './learner-agent.ts';
import { checkRunFolderPath } from './run-dir.ts';
import { parseConfig, readConfigFile, RESUME_OVERRIDABLE, resumedConfig, runControlShape, storedConfig } from './run-config.ts';
import { isWebSocketUrl } from '../core/url.ts';

/** Defaults: the DSRL reference's Gym settings (shared/reference/dsrl.md) unless noted. */
export const steerSchema = z
  .object({
    env: z.string().describe('env id, e.g. Hopper-v5, or ws://host:port: a remote env (a robot; docs/remote-env.md)'),
    algo: z
      .enum(STEER_ALGO_NAMES as [string, ...string[]])
      .default('na')
      .describe('na (DSRL-NA), sac (DSRL-SAC), residual (residual SAC on the base chunks) or base (evaluate the base policy alone)'),
    steps: z
      .number()
      .int()
      .positive()
      .max(1e9)
      .optional()
      .describe('env steps to train for, chunk steps counted (required unless algo base or offlineOnly; on resume it may raise the total)'),
    baseNoise: z
      .enum(BASE_NOISES)
      .default('normal')
      .describe("algo base: the base policy's initial noise, normal (N(0, I), as it was trained) or zero (its most likely chunk)"),
    policy: z
      .string()
      .optional()
      .describe("base policy: a diffusion checkpoint folder, a model.onnx, or ws://host:port (on resume: default the run's own)"),
    seed: z.number().int().nonnegative().default(1).describe('random seed'),
    numEnvs: z.number().int().positive().max(256).default(4).describe('parallel training envs'),
    actionMagnitude: z.number().positive().default(1.5).describe('noise bound M (reference: Hopper 1.5, Walker2d 2.5, HalfCheetah 1.5)'),
    targetEntropy: z
      .number()
      .default(0)
      .describe(
        "DSRL temperature target: entropy of the noise policy on w / M in [-1, 1] (the reference's convention; the agents get target + C ln M on w)",
      ),
    initTemperature: z
      .number()
      .positive()
      .default(1)
      .describe('initial entropy temperature alpha (reference: 1.0); lower it where the entropy bonus swamps a small reward early on'),
    actorInit: z
      .enum(['random', 'zero-mean'])
      .default('random')
      .describe(
        "how the actor starts: random (the reference's initialization) or zero-mean (its mean is the middle of its bounds whatever the observation: DSRL's w = 0, the base policy's most likely chunk; residual SAC's zero correction)",
      ),
    residualScale: z
      .number()
      .positive()
      .default(DEFAULT_RESIDUAL_SCALE)
      .describe("residual SAC: correction bound as a fraction of each action dimension's range"),
    utd: z.number().int().positive().default(20).describe('gradient updates per vector step (reference: 20)'),
    distillSteps: z.number().int().nonnegative().default(10).describe('DSRL-NA: Q_W distillation steps after every utd updates'),
    learningStarts: z.number().int().nonnegative().default(4000).describe('env steps of the base policy with N(0, I) noise before learning'),
    batchSize: z.number().int().positive().default(256).describe('batch size'),
    actorHidden: z.array(z.number().int().positive()).default([128, 128, 128]).describe('actor widths, comma-separated'),
    criticHidden: z
      .array(z.number().int().positive())
      .default([128, 128, 128])
      .describe('critic widths, comma-separated (the reference uses 2048 on Walker2d and manipulation)'),
    actorLayerNorm: z.boolean().default(false).describe('LayerNorm in the actor too, as in the DSRL reference configs (the critics always have it)'),
    normalizeObs: z
      .boolean()
      .optional()
      .describe(
        "DSRL: the agent sees observations normalized with the base policy's statistics, as in the reference (default: on when the policy declares them)",
      ),
    basePrecision: z
      .enum(['fp32', 'bf16'])
      .default('fp32')
      .describe(
        "the base policy's matrix products: bf16 (bf16 weights and activations, fp32 sums) on CPUs with AVX512-BF16, fp32 elsewhere; fp32: full precision",
      ),
    lr: z.number().positive().default(3e-4).describe('learning rate (actor, critics, temperature)'),
    gamma: z.number().min(0).max(1).default(0.99).describe('discount per chunk'),
    evalEvery: z.number().int().nonnegative().default(5000).describe('evaluate every n env steps (updates with offlineOnly); 0: only at the end'),
    evalEpisodes: z.number().int().positive().default(10).describe('episodes per evaluation'),
    logEvery: z.number().int().positive().default(1000).describe('log training metrics every n env steps'),
    offline: z
      .string()
      .optional()
      .describe("DSRL-NA: HDF5 dataset (D4RL or robomimic layout) loaded into the replay buffer before training (chunked with the policy's Ta)"),
    offlineOnly: z
      .number()
      .int()
      .positive()
      .optional()
      .describe('DSRL-NA: train this many updates on the offline data alone, no env steps, then evaluate'),
    operator: z
      .boolean()
      .default(false)
      .describe(
        'a person in the loop (docs/operator.md): scene resets, success / failure labels as the reward, pause, emergency stop, from the terminal and a web page; needs a ws:// env and numEnvs 1',
      ),
    operatorHost: z.string().default('127.0.0.1').describe('operator page address (any other than loopback needs DSRL_OPERATOR_TOKEN)'),
    operatorPort: z.number().int().min(0).max(65535).default(8771).describe('operator page port (0: any free port)'),
    viewPort: z
      .number()
      .int()
      .min(0)
      .max(65535)
      .optional()
      .describe(
        'stream the run to dsrl view ws://host:port on this port (0: any free port; the address is printed); off by default (docs/viewer.md)',
      ),
    viewHost: z.string().default('127.0.0.1').describe('view stream address (any other than loopback needs DSRL_VIEW_TOKEN)'),
    async: z
      .boolean()
      .optional()
      .describe(
        'asynchronous acting and learning (docs/remote-env.md): the learner updates in a worker thread while the env steps, utd becomes a cap; no checkpoints (default: on with operator)',
      ),
    actorSync: z
      .number()
      .positive()
      .default(4)
      .describe("async: seconds between refreshes of the acting policy's weights from the learner's (LeRobot HIL-SERL pushes every 4 s)"),
    ...runControlShape,
  })
  .strict();

export type SteerConfig = z.infer<typeof steerSchema>;

/** A fresh run's options, or a resume: the run folder plus any options that may change. */
export type SteerInput = z.input<typeof steerSchema> | (Partial<z.input<typeof steerSchema>> & { resume: true; out: string });

export interface SteerResult extends RunResult {
  algo: string;
  /** The base policy alone with N(0, I) noise (for 'base', the run's result, with its baseNoise). */
  base: EpisodeStats;
}

/** Parse and cross-check a steer config; every error names the option. */
export function parseSteerConfig(input: unknown, what = 'steer config'): SteerConfig {
  const cfg = parseConfig(steerSchema, input, what);
  const spec = STEER_ALGOS[cfg.algo as keyof typeof STEER_ALGOS];
  const fail = (why: string): never => {
    throw new Error(`${what}: ${why}`);
  };
  if (cfg.offlineOnly !== undefined) {
    if (cfg.offline === undefined) fail('offlineOnly needs offline data (option "offline": an HDF5 dataset in D4RL or robomimic layout)');
    if (cfg.checkpointEvery > 0 || cfg.resume || cfg.stopAfter !== undefined)
      fail('offlineOnly runs are not checkpointed: checkpointEvery, resume and stopAfter do not apply');
    if (cfg.steps !== undefined) fail('offlineOnly runs take no env steps: give either steps (online) or offlineOnly (updates), not both');
  } else if (spec.build && cfg.steps === undefined) {
    fail(`steps is required for algo "${cfg.algo}" (env steps to train for)`);
  }
  if (cfg.normalizeObs && !spec.normalizeObs) fail(`normalizeObs is for the DSRL agents (algo "na" or "sac"), not algo "${cfg.algo}"`);
  if (cfg.offline !== undefined && spec.offline !== true) fail(`offline data cannot be used with algo "${cfg.algo}": ${spec.offline}`);
  if (cfg.operator && !isWebSocketUrl(cfg.env)) fail(`operator needs a robot: a remote env (env ws://host:port), got "${cfg.env}"`);
  if (cfg.operator && cfg.numEnvs !== 1) fail(`operator: one person runs one robot, so numEnvs must be 1, got ${cfg.numEnvs}`);
  if (asyncLearning(cfg) && spec.build) {
    const why = 'the buffer and the training agent live in the learner thread';
    if (cfg.checkpointEvery > 0 || cfg.resume)
      fail(`async: asynchronous learning has no checkpoints (${why}); set checkpointEvery 0, or async false`);
    if (cfg.offlineOnly !== undefined) fail('async: offlineOnly takes no env steps, so there is nothing to act asynchronously with');
  }
  if (cfg.baseNoise !== 'normal' && cfg.algo !== 'base')
    fail(`baseNoise "${cfg.baseNoise}" is for algo "base" (the base policy alone); the other algos' reference line is the base policy with N(0, I)`);
  if (!spec.build && (cfg.checkpointEvery > 0 || cfg.resume))
    fail(`algo "${cfg.algo}" is a single evaluation: there is nothing to checkpoint or resume`);
  checkSchedule(scheduleOf(cfg), what);
  return cfg;
}

/** Whether the run acts and learns asynchronously: the option, or by default with an operator (a person and a robot). */
export function asyncLearning(cfg: Pick<SteerConfig, 'async' | 'operator'>): boolean {
  return cfg.async ?? cfg.operator;
}

function scheduleOf(cfg: SteerConfig): Schedule {
  return {
    steps: cfg.offlineOnly !== undefined ? 0 : (cfg.steps ?? 0),
    learningStarts: cfg.learningStarts,
    utd: cfg.utd,
    batchSize: cfg.batchSize,
    evalEvery: cfg.evalEvery,
    evalEpisodes: cfg.evalEpisodes,
    logEvery: cfg.logEvery,
    checkpointEvery: cfg.checkpointEvery,
    stopAfter: cfg.stopAfter,
    offlineUpdates: cfg.offlineOnly,
    offlineData: cfg.offline !== undefined,
    quiet: cfg.quiet,
  };
}

/**
 * A saved config in today's terms: runs saved before `targetEntropy` existed aimed at entropy 0 on w; runs
 * saved before `normalizeObs` existed showed the agent raw observations.
 */
export function legacySteerConfig(stored: Record<string, unknown>, policy: Pick<NoisePolicy, 'chunk' | 'actDim'>): Record<string, unknown> {
  const config = { ...stored };
  const M = config.actionMagnitude;
  if (!('targetEntropy' in config) && typeof M === 'number' && M > 0) config.targetEntropy = -policy.chunk * policy.actDim * Math.log(M);
  if (!('normalizeObs' in config)) config.normalizeObs = false;
  return config;
}

/** The algorithm options of a parsed config, normalizeObs resolved: on when the algorithm and policy allow it. */
export function steerHyper(cfg: SteerConfig, policy: NoisePolicy): SteerHyper {
  const spec = STEER_ALGOS[cfg.algo as keyof typeof STEER_ALGOS];
  return { ...cfg, normalizeObs: cfg.normalizeObs ?? (spec.normalizeObs && policy.obsStats !== undefined) };
}

/** The parts an algorithm builds on a base policy; `trainInner` null when only evaluating. */
export function buildSteerParts(
  cfg: SteerConfig,
  policy: NoisePolicy,
  trainInner: VectorEnv | null,
  evalInner: VectorEnv,
  seed: number,
): SteerParts | null {
  const build = STEER_ALGOS[cfg.algo as keyof typeof STEER_ALGOS].build;
  checkPolicyFitsEnv(policy, evalInner, cfg.env);
  if (trainInner) checkPolicyFitsEnv(policy, trainInner, cfg.env);
  const maxRows = Math.max(cfg.batchSize, trainInner?.numEnvs ?? 0, evalInner.numEnvs);
  return build ? build({ hp: steerHyper(cfg, policy), policy, trainInner, evalInner, rng: Rng.fromSeed(seed), maxRows }) : null;
}

/** Runs `steer` on a base policy. The caller owns the policy (and closes it); `makeInner` builds chunked task envs. */
export async function steer(
  input: SteerInput,
  policy: NoisePolicy,
  makeInner?: (n: number, chunk: number) => Promise<VectorEnv>,
): Promise<SteerResult> {
  let cfg: SteerConfig;
  if (input.resume) {
    const out = input.out;
    if (out === undefined) throw new Error('steer: resuming needs the run folder (option "out")');
    const stored = legacySteerConfig(readConfigFile(out), policy);
    // The policy may be given again from another path; it is provenance, not an option of the run.
    cfg = resumedConfig(
      input as Record<string, unknown>,
      stored,
      out,
      new Set([...RESUME_OVERRIDABLE, 'policy', ...VIEW_OPTIONS]),
      parseSteerConfig,
      'steer config',
      ['policy'],
    );
  } else {
    const parsed = parseSteerConfig(input);
    cfg = { ...parsed, normalizeObs: steerHyper(parsed, policy).normalizeObs };
  }
  if (!cfg.resume && cfg.out !== undefined) checkRunFolderPath(cfg.out);
  const spec = STEER_ALGOS[cfg.algo as keyof typeof STEER_ALGOS];
  // The caller's policy: its precision is the run's choice (fp32 for policies that cannot change it).
  const basePrecision = policy.usePrecision?.(cfg.basePrecision as Precision) ?? 'fp32';
  const trains = spec.build !== null && cfg.offlineOnly === undefined;
  // With an operator, both envs (one sub-env each: one robot) run through it; an agent that learns from
  // real actions (the one that takes offline data, DSRL-NA) keeps the chunks the operator took over.
  let operator: OperatorSession | null = null;
  if (cfg.operator) {
    // The operator's HTTP page and terminal keys load only for a run with a person in the loop.
    const { startOperatorSession } = await import('../node/operator-session.ts');
    operator = await startOperatorSession({
      host: cfg.operatorHost,
      port: cfg.operatorPort,
      chunk: policy.chunk,
      storesRealActions: spec.offline === true,
      firstIsTraining: trains,
    });
  }
  const baseMake = makeInner ?? ((n: number, chunk: number) => makeChunkedVectorEnv(cfg.env, n, chunk));
  const make = operator ? operator.maker(baseMake) : baseMake;
  const trainInner = trains ? await make(cfg.numEnvs, policy.chunk) : null;
  const evalInner = await make(Math.min(cfg.evalEpisodes, 5), policy.chunk);
  let view: ViewStreamServer | null = null;
  try {
    if (cfg.viewPort !== undefined) view = await (await import('../node/view-stream.ts')).startRunViewStream(cfg.viewHost, cfg.viewPort);
    const parts = buildSteerParts(cfg, policy, trainInner, evalInner, cfg.seed);
    const offline = cfg.offline !== undefined && !cfg.resume ? await readOffline(cfg.offline, policy, cfg.normalizeObs === true) : undefined;
    const chunkDim = policy.chunk * policy.actDim;
    const trainer: Trainer = {
      kind: spec.kind,
      label: spec.label,
      agent: parts?.agent ?? null,
      trainEnv: parts?.trainEnv ?? null,
      evalEnv: parts?.evalEnv ?? evalInner,
      replay: { obsDim: parts?.obsDim ?? policy.obsDim, actionDim: chunkDim, fields: parts?.fields ?? {} },
      warmupActions: parts?.warmupActions ?? (() => {}),
      transitionFields: parts?.transitionFields,
      gate: operator?.gate,
      metrics: operator?.metrics,
      asyncLearner:
        parts && asyncLearning(cfg)
          ? async (buffer, batchSize) => {
              const { startWorkerLearner } = await import('../node/learner-worker.ts');
              const recipe = agentRecipe(parts.agent, cfg.normalizeObs === true);
              const link = await startWorkerLearner({
                recipe,
                state: parts.agent.state(),
                policy: needsPolicy(recipe) ? policySource(policy, cfg.policy, basePrecision) : null,
                buffer: buffer.toState(),
                batchSize,
                actingWeights: parts.agent.actor.values,
                publishSeconds: cfg.actorSync,
              });
              // The operator's pause and emergency stop hold the learner too.
              const held = (st: { paused: boolean; estopped: boolean }) => link.hold(st.paused || st.estopped);
              if (operator) {
                held(operator.operator.status());
                operator.operator.onChange(held);
              }
              return { link, actorWeights: parts.agent.actor.values };
            }
          : undefined,
      saveAgent: parts
        ? (folder, res) =>
            saveSafetensors(`${folder}/actor.safetensors`, modelTensors(parts.agent.actor), {
              algo: spec.kind,
              env: cfg.env,
              step: String(res.step),
              eval_return: String(res.mean),
              ...parts.actorMetadata,
            })
        : undefined,
      // The base policy alone, with N(0, I) noise: the line everything else has to beat (or, for algo base, with w = 0).
      references: [
        {
          ...(cfg.baseNoise === 'zero'
            ? { name: 'base policy, w = 0', metric: 'base_zero', actor: zeroNoiseActor(chunkDim) }
            : { name: 'base policy', metric: 'base', actor: gaussianNoiseActor(chunkDim) }),
          env: new NoiseActionVectorEnv(evalInner, policy, cfg.actionMagnitude),
        },
      ],
      offline,
      onRunDir: (dir) => view?.follow(dir),
    };
    const stored = storedConfig(cfg);
    for (const key of VIEW_OPTIONS) delete stored[key];
    // Absolute paths, so a resume from another working directory finds the same files.
    const { offline: offlinePath, policy: policyPath } = cfg;
    if (offlinePath !== undefined) stored.offline = resolve(offlinePath);
    if (policyPath !== undefined && !/^[a-z][a-z0-9+.-]*:\/\//i.test(policyPath)) stored.policy = resolve(policyPath);
    const folder = cfg.resume
      ? { resume: true as const, dir: cfg.out! }
      : { resume: false as const, name: spec.kind, env: cfg.env, seed: cfg.seed, config: stored, out: cfg.out };
    const res = await runTraining(folder, cfg.seed, trainer, scheduleOf(cfg), {
      algo: cfg.algo,
      env: cfg.env,
      seed: cfg.seed,
      steps: cfg.steps ?? null,
      offlineOnly: cfg.offlineOnly ?? null,
      basePrecision,
    });
    return { ...res, algo: cfg.algo, base: res.references[0] };
  } finally {
    // The last evaluation reaches the viewers connected (within 2 s) before the stream ends.
    await view?.flush(2000);
    await view?.close();
    await trainInner?.close();
    await evalInner.close();
    await operator?.close();
  }
}

/** Per-invocation options of the view stream: not in config.json, free to change on resume. */
const VIEW_OPTIONS = ['viewPort', 'viewHost'];
