/**
 * Asynchronous acting and learning (issue 21; docs/remote-env.md#asynchronous-acting-and-learning): the
 * actor steps the env and never waits for a gradient update, while a learner that owns the replay buffer
 * and the agent's training copy updates on its own clock, and the actor refreshes its weights from the
 * learner's every few seconds. `ActorLearnerLink` is all the training loop sees of the learner: rows go
 * in, weights and progress come out. Its default, src/node/learner-worker.ts, runs the learner in a worker
 * thread of the same process (nothing to start); a message broker (NATS JetStream, Redis Streams) can back
 * the same interface so that many actors feed one learner.
 *
 * Updates per env step follow the wall clock, with a cap: the learner updates whenever it may, as fast as
 * it can, but never more than the synchronous loop would (`utd` updates per vector step collected after
 * the warm-up, once the buffer holds a batch). Each vector step's rows carry the updates they allow, and
 * the learner spends that credit; credit left over (the learner was slower than the actor) is spent while
 * the actor waits (a scene reset, an evaluation). Where updates are faster than the env (small networks, a
 * robot at 10-20 Hz) the cap binds and a run makes the synchronous run's updates; where they are slower
 * (wide critics, a simulator faster than real time) the clock binds and it makes fewer. `charts/utd`
 * reports the updates made per vector step.
 *
 * `Learner` is the learner's side of the rules, browser-safe with an injected clock, so any host (a worker
 * thread, a broker consumer) runs the same ones.
 */
import type { ReplayBuffer, SampledBatch, TransitionBatch } from '../data/replay-buffer.ts';

type Info = Record<string, number>;

/** The learner's acting weights (e.g. its actor network's values), and the updates they include. */
export interface LearnerWeights {
  values: Float32Array;
  updates: number;
}

/** What the learner did since the previous report: summed update infos over `count` updates, and totals. */
export interface LearnerProgress {
  /** Gradient updates made since the learner started (the total, not since the last report). */
  updates: number;
  sums: Info;
  count: number;
  /** Milliseconds spent inside updates since the last report. */
  busyMs: number;
}

export interface ActorLearnerLink {
  /** Hands the learner one vector step's rows (copied before it returns) and the gradient updates they allow. */
  pushTransitions(rows: TransitionBatch, updates: number): void;
  /**
   * The learner's acting weights when they are due (every few seconds, the link's option) and changed since
   * the last pull, else null; `latest`: its newest ones now, if changed (e.g. before an evaluation). Rejects
   * with the learner's failure once it has failed.
   */
  pullWeights(latest?: boolean): Promise<LearnerWeights | null>;
  /** The learner's progress since the previous call (its update metrics to log). */
  takeProgress(): LearnerProgress;
  /** Holds the learner after its current update (an operator's pause or emergency stop), or lets it go on. */
  hold(held: boolean): void;
  /** Stops the learner after its current update; resolves with its agent's state (for `agent.load`). */
  close(): Promise<unknown>;
}

/** The learner's agent: an update from a sampled batch, and its state (the final one goes back to the actor). */
export interface LearnerAgent {
  update(batch: SampledBatch): Info | Promise<Info>;
  state(): unknown;
}

export interface LearnerOptions {
  batchSize: number;
  /** Clock in milliseconds (default performance.now). */
  now?: () => number;
}

/** The learner's rules: credit from pushed rows, holds, progress. */
export class Learner {
  /** Updates made so far. */
  updates = 0;
  /** An operator's pause or emergency stop: no update starts while held. */
  held = false;
  private credit = 0;
  private sums: Info = {};
  private count = 0;
  private busyMs = 0;
  private readonly batch: SampledBatch;
  private readonly now: () => number;

  constructor(
    readonly agent: LearnerAgent,
    readonly buffer: ReplayBuffer,
    private readonly options: LearnerOptions,
  ) {
    this.batch = buffer.createBatch(options.batchSize);
    this.now = options.now ?? (() => performance.now());
  }

  /** Stores one vector step's rows; the updates they allow count once the buffer holds a batch (as the synchronous loop). */
  push(rows: TransitionBatch, updates: number): void {
    if (!(Number.isInteger(updates) && updates >= 0)) throw new Error(`learner: updates must be a non-negative integer, got ${updates}`);
    this.buffer.addBatch(rows);
    if (updates > 0 && this.buffer.size >= this.options.batchSize) this.credit += updates;
  }

  /** Updates still allowed by the rows pushed so far. */
  get pending(): number {
    return this.credit;
  }

  /** Whether an update may start now. */
  get canUpdate(): boolean {
    return !this.held && this.credit >= 1;
  }

  /** One gradient update on a sampled batch. */
  async update(): Promise<void> {
    if (this.credit < 1) throw new Error('learner: no update is allowed by the rows pushed so far');
    const t0 = this.now();
    const info = await this.agent.update(this.buffer.sample(this.batch));
    this.busyMs += this.now() - t0;
    this.credit--;
    this.updates++;
    for (const key in info) this.sums[key] = (this.sums[key] ?? 0) + info[key];
    this.count++;
  }

  /** Progress since the previous call. */
  takeProgress(): LearnerProgress {
    const p: LearnerProgress = { updates: this.updates, sums: this.sums, count: this.count, busyMs: this.busyMs };
    this.sums = {};
    this.count = 0;
    this.busyMs = 0;
    return p;
  }
}

/** Adds a progress report into an accumulated one (the link's side, between the loop's reads). */
export function mergeProgress(into: LearnerProgress, p: LearnerProgress): void {
  into.updates = Math.max(into.updates, p.updates);
  for (const key in p.sums) into.sums[key] = (into.sums[key] ?? 0) + p.sums[key];
  into.count += p.count;
  into.busyMs += p.busyMs;
}

/** Copies of one vector step's rows, safe to keep or hand to another thread (the loop reuses its arrays). */
export function copyRows(
  rows: TransitionBatch,
): TransitionBatch & { [K in 'obs' | 'actions' | 'rewards' | 'nextObs']: Float32Array } & { fields: Record<string, Float32Array> } {
  const fields: Record<string, Float32Array> = {};
  for (const [name, values] of Object.entries(rows.fields ?? {})) fields[name] = Float32Array.from(values);
  return {
    obs: Float32Array.from(rows.obs),
    actions: Float32Array.from(rows.actions),
    rewards: Float32Array.from(rows.rewards),
    nextObs: Float32Array.from(rows.nextObs),
    terminated: Uint8Array.from(rows.terminated, Number),
    truncated: Uint8Array.from(rows.truncated, Number),
    ...(rows.valid !== undefined ? { valid: Uint8Array.from(rows.valid, Number) } : {}),
    fields,
  };
}
