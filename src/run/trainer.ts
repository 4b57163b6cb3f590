/**
 * What a trainer hands the run harness (harness.ts): the `Trainer` it builds (agent, envs, replay rows,
 * warm-up, references), the `Schedule`, the run folder, and what comes back; plus the checks that refuse
 * a schedule or buffer that cannot work, before anything is built or made.
 */
import type { Rng } from '../core/rng.ts';
import type { FieldDims, ReplayBuffer } from '../data/replay-buffer.ts';
import type { VectorEnv } from '../envs/vector.ts';
import type { StatefulAgent } from './checkpoint.ts';
import type { EvalActor, EvalResult } from './evaluate.ts';
import type { Reference } from './history.ts';
import type { AsyncLearning, OffPolicyAgent } from './offpolicy.ts';

export type TrainingAgent = OffPolicyAgent & StatefulAgent;

/** What a trainer builds; the harness runs it. */
export interface Trainer {
  /** Checkpoint kind and run-folder prefix, e.g. 'dsrl-na'. */
  kind: string;
  /** Legend label, e.g. 'DSRL-NA'. */
  label: string;
  /** null: the run only evaluates its references (e.g. the base policy alone). */
  agent: TrainingAgent | null;
  /** null for offline-only and evaluation-only runs. */
  trainEnv: VectorEnv | null;
  evalEnv: VectorEnv;
  /** How the agent acts in evaluations (default: its deterministic actor). */
  evalActor?: EvalActor;
  /** Replay rows: the agent's observation and action sizes, and extra fields (e.g. DSRL-NA's real chunks). */
  replay: { obsDim: number; actionDim: number; fields: FieldDims };
  /** Warm-up actions before `learningStarts` (e.g. N(0, I) noise for DSRL, uniform for SAC). */
  warmupActions(rng: Rng, out: Float32Array): void;
  /** Extra per-transition fields after each vector step. */
  transitionFields?(): Record<string, Float32Array>;
  /** Awaited before each gradient update (an operator's pause or emergency stop holds training). */
  gate?(): void | Promise<void>;
  /** Extra training metrics for each log point (an operator run's intervention rate). */
  metrics?(): Record<string, number>;
  /**
   * Asynchronous acting and learning (actor-learner.ts): starts the learner from the buffer as it is before
   * training (offline rows included), and returns its link and the acting weights the loop refreshes.
   */
  asyncLearner?(buffer: ReplayBuffer, batchSize: number): Promise<AsyncLearning>;
  /** Saves the agent as evaluated into a folder (`best/`, `last/`). */
  saveAgent?(folder: string, res: EvalResult): void;
  /** Lines evaluated once at the start (e.g. the base policy with N(0, I) noise); `metric` names its charts. */
  references?: Array<{ name: string; metric: string; actor: EvalActor; env: VectorEnv }>;
  /** Data put into the buffer before training: rows it reserves, and a loader returning the transitions added. */
  offline?: { rows: number; load(buffer: ReplayBuffer): number };
  /** Told the run folder once it exists (config.json written), before anything is evaluated: e.g. to stream it to a viewer. */
  onRunDir?(dir: string): void;
}

export interface Schedule {
  /** Env steps to train for (0 for offline-only and evaluation-only runs). */
  steps: number;
  learningStarts: number;
  utd: number;
  batchSize: number;
  evalEvery: number;
  evalEpisodes: number;
  logEvery: number;
  checkpointEvery: number;
  stopAfter?: number;
  /** Most online rows the buffer keeps (a ring beyond that). Default: all. */
  bufferSize?: number;
  /** Offline-only: this many gradient updates on the offline data, no env steps. */
  offlineUpdates?: number;
  /** Also save the agent of every evaluation under checkpoints/step-N. */
  keepSnapshots?: boolean;
  /** Whether offline rows fill the buffer before training (then a batch may exceed the online rows). */
  offlineData?: boolean;
  quiet: boolean;
}

/** A fresh run folder to create (after the trainer is built, so a failed start leaves nothing), or one to resume. */
export type RunFolder =
  { resume: false; name: string; env: string; seed: number; config: Record<string, unknown>; out?: string } | { resume: true; dir: string };

export interface RunResult {
  dir: string;
  evals: EvalResult[];
  best: EvalResult | null;
  references: Reference[];
  seconds: number;
  /** Env steps done when the run returned (0 for offline-only and evaluation-only runs). */
  step: number;
  updates: number;
  /** The checkpoint step this invocation resumed from, or null for a fresh run. */
  resumedFrom: number | null;
  offlineTransitions: number;
}

/** Refuses schedules that would train nothing, before anything is built. */
export function checkSchedule(s: Schedule, what: string): void {
  if (s.offlineUpdates !== undefined || s.steps === 0) return;
  if (s.steps <= s.learningStarts) {
    throw new Error(
      `${what}: steps (${s.steps}) <= learningStarts (${s.learningStarts}): the run would only collect warm-up data and never update; raise steps or lower learningStarts`,
    );
  }
  if (!s.offlineData && s.batchSize > Math.min(s.steps, s.bufferSize ?? Infinity)) {
    throw new Error(
      `${what}: batchSize (${s.batchSize}) exceeds the rows the run will ever hold (${Math.min(s.steps, s.bufferSize ?? Infinity)}), so it would never update; lower batchSize`,
    );
  }
}

/** Replay memory this machine kind can hold (24 GiB in all): past it a run fails up front, not mid-allocation. */
const MAX_REPLAY_BYTES = 12 * 2 ** 30;

export function checkedCapacity(capacity: number, replay: Trainer['replay']): number {
  const floatsPerRow = 2 * replay.obsDim + replay.actionDim + Object.values(replay.fields).reduce((a, b) => a + b, 0) + 3;
  const bytes = capacity * floatsPerRow * 4;
  // One typed array per column: its length must stay below 2^31 elements as well.
  if (bytes > MAX_REPLAY_BYTES || capacity * Math.max(replay.obsDim, replay.actionDim) >= 2 ** 31) {
    throw new Error(
      `the replay buffer would need ${(bytes / 2 ** 30).toFixed(1)} GiB for ${capacity} rows (at most ${MAX_REPLAY_BYTES / 2 ** 30} GiB): ` +
        'lower steps (or bufferSize where the trainer has it)',
    );
  }
  return capacity;
}
