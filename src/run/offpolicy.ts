/**
 * The off-policy collection loop every trainer runs through the harness (harness.ts), stable-baselines3's
 * split: the loop collects, updates and says when an evaluation or a checkpoint is due; the harness owns
 * what they do; an agent implements only act/update.
 *
 * One iteration = one vector-env step: act (warm-up actions until `learningStarts` env steps), step
 * all sub-envs, store the valid transitions (NEXT_STEP autoreset: the step after an episode end
 * only resets that sub-env and is not a transition), then `updatesPerStep` gradient updates.
 * Env steps count real environment steps: a sub-env that ran a chunk of k actions (info.steps = k)
 * counts k, so budgets are comparable between chunked (DSRL) and per-step (SAC) agents.
 *
 * Exact resume: `loop.checkpoint()` captures the loop's state and the metric accumulators between log
 * points; `createOffPolicyLoop({resume})` continues from it. Together with the agent, buffer and env
 * states (run/checkpoint.ts) a resumed run logs and learns exactly what an uninterrupted one does; only
 * the wall-clock metrics (WALL_CLOCK_METRICS, metrics-format.ts) differ.
 */
import type { Rng, RngState } from '../core/rng.ts';
import type { ReplayBuffer, SampledBatch } from '../data/replay-buffer.ts';
import type { VectorEnv } from '../envs/vector.ts';
import type { ActorLearnerLink } from './actor-learner.ts';
import { stepsOf } from './evaluate.ts';

export type Info = Record<string, number>;

export interface OffPolicyAgent {
  /** Actions [rows, actDim] for observations [rows, obsDim]; may return a reused view. */
  act(obs: Float32Array, rows: number, deterministic: boolean): Float32Array | Promise<Float32Array>;
  /** One gradient update from a sampled batch. */
  update(batch: SampledBatch): Info | Promise<Info>;
}

export interface OffPolicyLoopConfig {
  /** Env steps to train for. */
  totalSteps: number;
  /** Env steps collected with warm-up actions before any update. */
  learningStarts: number;
  /** Gradient updates per vector-env step once learning has started (SB3's gradient_steps with train_freq=1). */
  updatesPerStep: number;
  batchSize: number;
  /** Evaluate every this many env steps (0: only at the end). */
  evalEvery: number;
  /** Log training metrics at most every this many env steps. */
  logEvery: number;
  /** Call `saveCheckpoint` each time env steps cross a multiple of this, and at the end (0 or absent: never). */
  checkpointEvery?: number;
  /** Stop (without a checkpoint, as a killed process would) once env steps reach this; for tests of resume. */
  stopAfter?: number;
}

export interface LoopCallbacks {
  /** Warm-up actions [numEnvs, actDim] (e.g. uniform for SAC, N(0, I) noise for DSRL). */
  warmupActions(rng: Rng, out: Float32Array): void;
  /** Metrics sink (step = env steps). */
  log?(step: number, values: Info): void;
  /** Progress: env steps done, plus a few fields. */
  progress?(step: number, fields: Record<string, string | number>): void;
  /** An evaluation is due at this many env steps (every `evalEvery`, and at the end). */
  evaluate?(step: number): void | Promise<void>;
  /** Called after each iteration; return true to stop early (e.g. to checkpoint and exit). */
  afterStep?(state: LoopState): boolean | void | Promise<boolean | void>;
  /** Save a training checkpoint (see `checkpointEvery`); the loop's own state comes from `checkpoint()`. */
  saveCheckpoint?(state: LoopState): Promise<void>;
  /** Extra per-transition fields for the replay buffer after each vector step (e.g. DSRL-NA's executed real chunks). */
  transitionFields?(): Record<string, Float32Array>;
  /** Awaited before each gradient update: an operator's pause or emergency stop holds training here. */
  gate?(): void | Promise<void>;
  /** Extra training metrics merged into each log point (e.g. an operator run's intervention rate). */
  metrics?(): Info;
}

/** Everything the loop itself carries between iterations (saved in checkpoints). */
export interface LoopState {
  envSteps: number;
  vectorSteps: number;
  updates: number;
  nextEvalAt: number;
  episodes: number;
  /** Per sub-env running return and length of the current episode. */
  runningReturn: number[];
  runningLength: number[];
  /** Current observations [numEnvs, obsDim]. */
  obs: Float32Array;
  /** Sub-envs whose last step ended an episode (their next step is an autoreset). */
  ended: boolean[];
  rng: RngState;
}

/** The loop's metric accumulators between log points; saved so a resumed run logs the same averages. */
export interface LoopMetricsState {
  /** Sums of the update infos since the last log point, and the number of updates they cover. */
  sums: Info;
  count: number;
  /** Env steps at the last training-metrics log point. */
  lastLogAt: number;
}

/** 2: the loop's generator is a named stream of the run's seed, and evaluation state left the loop. */
export const LOOP_CHECKPOINT_VERSION = 2;

/** Everything the loop needs to continue exactly: what `loop.checkpoint()` returns and `resume` takes. */
export interface LoopCheckpoint {
  version: typeof LOOP_CHECKPOINT_VERSION;
  state: LoopState;
  metrics: LoopMetricsState;
}

/** Checks a saved loop checkpoint against the env it is resumed on; throws with what differs. */
export function checkLoopCheckpoint(cp: LoopCheckpoint, numEnvs: number, obsDim: number): void {
  const fail = (why: string): never => {
    throw new Error(`loop checkpoint: ${why}`);
  };
  if (!cp || typeof cp !== 'object' || !cp.state || !cp.metrics) fail('expected {version, state, metrics}');
  if (cp.version !== LOOP_CHECKPOINT_VERSION) fail(`version ${String(cp.version)}, this build reads version ${LOOP_CHECKPOINT_VERSION}`);
  const s = cp.state;
  for (const key of ['envSteps', 'vectorSteps', 'updates', 'nextEvalAt', 'episodes'] as const) {
    if (!Number.isSafeInteger(s[key]) || s[key] < 0) fail(`state.${key} must be a non-negative integer, got ${String(s[key])}`);
  }
  const perEnv = [s.runningReturn, s.runningLength, s.ended];
  if (!perEnv.every((a) => Array.isArray(a) && a.length === numEnvs)) {
    fail(`it was saved with ${Array.isArray(s.ended) ? s.ended.length : '?'} sub-envs, this env has ${numEnvs}`);
  }
  if (!(s.obs instanceof Float32Array) || s.obs.length !== numEnvs * obsDim) {
    fail(`observations have ${s.obs?.length ?? '?'} values, this env needs ${numEnvs} x ${obsDim} (obs dim ${obsDim})`);
  }
  const m = cp.metrics;
  if (!m.sums || typeof m.sums !== 'object' || !Number.isSafeInteger(m.count) || !Number.isSafeInteger(m.lastLogAt)) {
    fail('metrics need sums, an integer count and an integer lastLogAt');
  }
}

/**
 * Asynchronous acting and learning (actor-learner.ts): each vector step's rows go to the learner behind
 * `link` with the `updatesPerStep` updates they allow, instead of into the loop's buffer and its own
 * updates; before acting, the loop refreshes `actorWeights` (the acting agent's) from the learner's.
 */
export interface AsyncLearning {
  link: ActorLearnerLink;
  actorWeights: Float32Array;
}

export interface OffPolicyLoop {
  state: LoopState;
  run(): Promise<LoopState>;
  /** A deep copy of the loop's state and metric accumulators, for a checkpoint (take it between iterations, e.g. in afterStep). */
  checkpoint(): LoopCheckpoint;
}

/**
 * Build the loop. `resume` continues exactly from `loop.checkpoint()` (the env, agent and buffer must be
 * restored by the caller; the env is not reset).
 */
export async function createOffPolicyLoop(args: {
  agent: OffPolicyAgent;
  env: VectorEnv;
  buffer: ReplayBuffer;
  rng: Rng;
  config: OffPolicyLoopConfig;
  callbacks: LoopCallbacks;
  seed: number;
  resume?: LoopCheckpoint;
  learner?: AsyncLearning;
}): Promise<OffPolicyLoop> {
  const { agent, env, buffer, rng, config, callbacks, learner } = args;
  const n = env.numEnvs;
  const actDim = env.singleActionSpace.size;
  const obsDim = env.singleObservationSpace.size;
  if (config.batchSize < 1 || config.totalSteps < 1) throw new Error('loop config: batchSize and totalSteps must be >= 1');
  if (learner && ((config.checkpointEvery ?? 0) > 0 || args.resume)) {
    throw new Error('loop config: asynchronous learning has no checkpoints (the buffer and the training agent live in the learner)');
  }
  let state: LoopState;
  if (args.resume) {
    checkLoopCheckpoint(args.resume, n, obsDim);
    state = copyLoopState(args.resume.state);
    rng.setState(state.rng);
  } else {
    const { obs } = await env.reset({ seed: args.seed });
    state = {
      envSteps: 0,
      vectorSteps: 0,
      updates: 0,
      episodes: 0,
      nextEvalAt: config.evalEvery > 0 ? config.evalEvery : config.totalSteps,
      runningReturn: new Array(n).fill(0),
      runningLength: new Array(n).fill(0),
      obs,
      ended: new Array(n).fill(false),
      rng: rng.state(),
    };
  }
  const warm = new Float32Array(n * actDim);
  const batch = buffer.createBatch(config.batchSize);
  const valid = new Uint8Array(n);
  const term = new Uint8Array(n);
  const trunc = new Uint8Array(n);
  const rewards = new Float32Array(n);
  // Training metrics are averaged between log points.
  const savedMetrics = args.resume?.metrics;
  let sums: Info = savedMetrics ? { ...savedMetrics.sums } : {};
  let count = savedMetrics?.count ?? 0;
  let lastLogAt = savedMetrics?.lastLogAt ?? state.envSteps;
  // SPS is wall-clock: after a resume it measures from the restart.
  let t0 = performance.now();
  let stepsAtT0 = state.envSteps;
  let lastCheckpointAt = state.envSteps; // a resumed run has just been restored from a checkpoint here
  // Asynchronous learning: the update count of the acting weights, and the counts at the last log point.
  let actorUpdates = 0;
  let busyMs = 0;
  let updatesAtLog = state.updates;
  let vectorStepsAtLog = state.vectorSteps;
  const refreshActor = async (latest: boolean) => {
    const w = await learner!.link.pullWeights(latest);
    if (w) {
      learner!.actorWeights.set(w.values);
      actorUpdates = w.updates;
    }
  };

  async function run(): Promise<LoopState> {
    while (state.envSteps < config.totalSteps) {
      const warmup = state.envSteps < config.learningStarts;
      let actions: Float32Array;
      if (warmup) {
        callbacks.warmupActions(rng, warm);
        actions = warm;
      } else {
        if (learner) await refreshActor(false);
        actions = await agent.act(state.obs, n, false);
      }
      const actionsCopy = actions.slice(); // the agent may reuse its output buffer
      const r = await env.step(actionsCopy);
      for (let i = 0; i < n; i++) {
        // A chunk a remote env lost with its link (info.link_lost) never ran, and an env may say why a row
        // is no transition of the agent's MDP (info.discard, e.g. an operator run's): neither is stored.
        valid[i] = state.ended[i] || r.infos[i].link_lost === true || typeof r.infos[i].discard === 'string' ? 0 : 1;
        term[i] = r.terminated[i] ? 1 : 0;
        trunc[i] = r.truncated[i] ? 1 : 0;
        rewards[i] = r.rewards[i];
        if (state.ended[i]) {
          state.ended[i] = false;
          continue;
        }
        const k = stepsOf(r.infos[i]);
        state.envSteps += k;
        state.runningReturn[i] += r.rewards[i];
        state.runningLength[i] += k;
        if (r.terminated[i] || r.truncated[i]) {
          callbacks.log?.(state.envSteps, { 'charts/episodic_return': state.runningReturn[i], 'charts/episodic_length': state.runningLength[i] });
          state.episodes++;
          state.runningReturn[i] = 0;
          state.runningLength[i] = 0;
          state.ended[i] = true;
        }
      }
      const rows = {
        obs: state.obs,
        actions: actionsCopy,
        rewards,
        nextObs: r.obs,
        terminated: term,
        truncated: trunc,
        valid,
        fields: callbacks.transitionFields?.(),
      };
      if (learner) learner.link.pushTransitions(rows, warmup ? 0 : config.updatesPerStep);
      else buffer.addBatch(rows);
      state.obs = r.obs;
      state.vectorSteps++;
      if (learner) {
        const p = learner.link.takeProgress();
        for (const key in p.sums) sums[key] = (sums[key] ?? 0) + p.sums[key];
        count += p.count;
        busyMs += p.busyMs;
        state.updates = p.updates;
      } else if (!warmup && buffer.size >= config.batchSize) {
        for (let u = 0; u < config.updatesPerStep; u++) {
          await callbacks.gate?.();
          const info = await agent.update(buffer.sample(batch));
          for (const key in info) sums[key] = (sums[key] ?? 0) + info[key];
          count++;
          state.updates++;
        }
      }
      if (state.envSteps - lastLogAt >= config.logEvery) {
        const elapsed = (performance.now() - t0) / 1000;
        const values: Info = { 'charts/SPS': (state.envSteps - stepsAtT0) / Math.max(elapsed, 1e-9), 'charts/updates': state.updates };
        for (const key in sums) values[key] = sums[key] / count;
        if (learner) {
          // Updates made per vector step since the last log point (the wall clock decides; over the run at most
          // updatesPerStep, while a learner catching up after a pause may exceed it between two log points),
          // what one took, and how many updates the acting weights are behind the learner's.
          values['charts/utd'] = (state.updates - updatesAtLog) / Math.max(state.vectorSteps - vectorStepsAtLog, 1);
          if (count > 0) values['charts/update_ms'] = busyMs / count;
          values['charts/actor_lag_updates'] = state.updates - actorUpdates;
          busyMs = 0;
          updatesAtLog = state.updates;
          vectorStepsAtLog = state.vectorSteps;
        }
        Object.assign(values, callbacks.metrics?.());
        callbacks.log?.(state.envSteps, values);
        sums = {};
        count = 0;
        lastLogAt = state.envSteps;
        t0 = performance.now();
        stepsAtT0 = state.envSteps;
      }
      if (state.envSteps >= state.nextEvalAt || state.envSteps >= config.totalSteps) {
        if (learner) await refreshActor(true);
        await callbacks.evaluate?.(state.envSteps);
        while (state.nextEvalAt <= state.envSteps) state.nextEvalAt += config.evalEvery > 0 ? config.evalEvery : config.totalSteps;
      }
      callbacks.progress?.(state.envSteps, { episodes: state.episodes });
      state.rng = rng.state();
      if (await callbacks.afterStep?.(state)) break;
      const every = config.checkpointEvery ?? 0;
      if (every > 0 && callbacks.saveCheckpoint) {
        const crossed = Math.floor(state.envSteps / every) > Math.floor(lastCheckpointAt / every);
        if (crossed || state.envSteps >= config.totalSteps) {
          await callbacks.saveCheckpoint(state);
          lastCheckpointAt = state.envSteps;
        }
      }
      if (config.stopAfter !== undefined && state.envSteps >= config.stopAfter) break;
    }
    return state;
  }

  function checkpoint(): LoopCheckpoint {
    return {
      version: LOOP_CHECKPOINT_VERSION,
      state: copyLoopState({ ...state, rng: rng.state() }),
      metrics: { sums: { ...sums }, count, lastLogAt },
    };
  }

  return { state, run, checkpoint };
}

function copyLoopState(s: LoopState): LoopState {
  return {
    envSteps: s.envSteps,
    vectorSteps: s.vectorSteps,
    updates: s.updates,
    nextEvalAt: s.nextEvalAt,
    episodes: s.episodes,
    runningReturn: [...s.runningReturn],
    runningLength: [...s.runningLength],
    obs: s.obs.slice(),
    ended: [...s.ended],
    rng: { s: [...s.rng.s], spare: s.rng.spare },
  };
}
