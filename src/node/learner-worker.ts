/**
 * The default ActorLearnerLink (src/run/actor-learner.ts): the learner in a worker thread of this process,
 * so gradient updates run on another core while the actor steps the env, and the main thread (the
 * actor, an operator's page and keys, the robot's connection) is never blocked by an update: an emergency
 * stop goes out at once whatever the learner is doing. Nothing to start or configure. Node only.
 *
 * Rows go to the worker as messages (copied, their buffers transferred). The learner copies its acting
 * weights into shared memory after every update under a sequence lock; the actor reads them there every
 * `publishSeconds`, or at once when it asks for the latest (before an evaluation), without waiting for the
 * update in progress. A failure in the worker (an update that throws, a refused row) rejects the next pull.
 */
import { Worker } from 'node:worker_threads';
import type { TransitionBatch } from '../data/replay-buffer.ts';
import type { ReplayBufferState } from '../data/replay-state.ts';
import { copyRows, mergeProgress, type ActorLearnerLink, type LearnerProgress, type LearnerWeights } from '../run/actor-learner.ts';
import type { AgentRecipe, PolicySource } from '../run/learner-agent.ts';

/** Slots of the shared Int32Array of flags. */
export const FLAG = { busy: 0, updates: 1, seq: 2, weightsUpdates: 3 } as const;
/** How often a busy learner reports its metrics (ms); an idle one reports when it runs out of work. */
export const PROGRESS_MS = 100;

export type LearnerRequest =
  | {
      type: 'init';
      recipe: AgentRecipe;
      state: unknown;
      policy: PolicySource | null;
      buffer: ReplayBufferState;
      batchSize: number;
      flags: Int32Array;
      weights: Float32Array;
    }
  | { type: 'rows'; rows: TransitionBatch; updates: number }
  | { type: 'hold'; held: boolean }
  | { type: 'close' };

export type LearnerReply =
  | { type: 'ready' }
  | { type: 'progress'; progress: LearnerProgress }
  | { type: 'closed'; state: unknown; progress: LearnerProgress }
  | { type: 'error'; message: string; stack: string };

export interface WorkerLearnerOptions {
  recipe: AgentRecipe;
  /** The actor side's agent state (`agent.state()`): the learner starts from it. */
  state: unknown;
  /** The base policy, for agents that call it in their updates (DSRL-NA). */
  policy: PolicySource | null;
  /** The replay buffer as it is now (offline rows, if any): the learner owns it from here. */
  buffer: ReplayBufferState;
  batchSize: number;
  /** The acting weights (the actor network's values): their size, and what the learner starts from. */
  actingWeights: Float32Array;
  /** Seconds between two refreshes of the acting weights (pullWeights without `latest`). */
  publishSeconds: number;
}

const BOOTSTRAP_URL = new URL('./learner-thread-bootstrap.mjs', import.meta.url);

export class WorkerLearnerLink implements ActorLearnerLink {
  private readonly flags: Int32Array;
  private readonly shared: Float32Array;
  private readonly progress: LearnerProgress = { updates: 0, sums: {}, count: 0, busyMs: 0 };
  private failure: Error | null = null;
  private lastSeq = 0;
  private lastPullAt: number;
  private closed: Promise<unknown> | null = null;
  private onClosed: ((state: unknown) => void) | null = null;

  private constructor(
    private readonly worker: Worker,
    flags: Int32Array,
    shared: Float32Array,
    private readonly publishMs: number,
  ) {
    this.flags = flags;
    this.shared = shared;
    this.lastPullAt = performance.now();
    this.lastSeq = Atomics.load(flags, FLAG.seq);
  }

  static async start(options: WorkerLearnerOptions): Promise<WorkerLearnerLink> {
    if (!(options.publishSeconds > 0)) throw new Error(`asynchronous learning: publishSeconds must be > 0, got ${options.publishSeconds}`);
    const flags = new Int32Array(new SharedArrayBuffer(4 * 4));
    const shared = new Float32Array(new SharedArrayBuffer(4 * options.actingWeights.length));
    shared.set(options.actingWeights);
    const worker = new Worker(BOOTSTRAP_URL);
    const link = new WorkerLearnerLink(worker, flags, shared, options.publishSeconds * 1000);
    const ready = new Promise<void>((resolve, reject) => {
      worker.on('message', (m: LearnerReply) => {
        if (m.type === 'ready') resolve();
        else link.receive(m);
        if (m.type === 'error') reject(link.failure);
      });
      worker.once('error', (err) => {
        link.fail(`the learner thread crashed: ${err.message}`);
        reject(link.failure);
      });
      worker.once('exit', (code) => {
        if (!link.onClosed && !link.failure) link.fail(`the learner thread exited (code ${code})`);
        link.onClosed?.(undefined);
        reject(link.failure);
      });
    });
    const request: LearnerRequest = {
      type: 'init',
      recipe: options.recipe,
      state: options.state,
      policy: options.policy,
      buffer: options.buffer,
      batchSize: options.batchSize,
      flags,
      weights: shared,
    };
    worker.postMessage(request);
    try {
      await ready;
    } catch (err) {
      await worker.terminate();
      throw err;
    }
    return link;
  }

  /** Whether an update is running now (read from shared memory). */
  get busy(): boolean {
    return Atomics.load(this.flags, FLAG.busy) === 1;
  }

  /** Updates made so far (read from shared memory). */
  get updates(): number {
    return Atomics.load(this.flags, FLAG.updates);
  }

  pushTransitions(rows: TransitionBatch, updates: number): void {
    this.throwIfFailed();
    const copy = copyRows(rows);
    const transfer = [copy.obs, copy.actions, copy.rewards, copy.nextObs, ...Object.values(copy.fields)].map((a) => a.buffer as ArrayBuffer);
    this.post({ type: 'rows', rows: copy, updates }, transfer);
  }

  async pullWeights(latest = false): Promise<LearnerWeights | null> {
    this.throwIfFailed();
    const now = performance.now();
    if (!latest && now - this.lastPullAt < this.publishMs) return null;
    this.lastPullAt = now;
    return this.readWeights();
  }

  takeProgress(): LearnerProgress {
    const p = { ...this.progress, updates: Math.max(this.progress.updates, this.updates) };
    this.progress.sums = {};
    this.progress.count = 0;
    this.progress.busyMs = 0;
    return p;
  }

  hold(held: boolean): void {
    if (!this.failure && !this.closed) this.post({ type: 'hold', held });
  }

  close(): Promise<unknown> {
    if (this.closed) return this.closed;
    this.closed = new Promise<unknown>((resolve) => {
      this.onClosed = resolve;
      if (this.failure) resolve(undefined);
      else this.post({ type: 'close' });
    }).finally(() => this.worker.terminate());
    return this.closed;
  }

  /** The shared copy when it changed since the last read; retried while the learner is writing it. */
  private readWeights(): LearnerWeights | null {
    for (;;) {
      const seq = Atomics.load(this.flags, FLAG.seq);
      if (seq === this.lastSeq) return null;
      if (seq % 2 === 1) continue; // being written: a copy takes microseconds
      const values = this.shared.slice();
      const updates = Atomics.load(this.flags, FLAG.weightsUpdates);
      if (Atomics.load(this.flags, FLAG.seq) !== seq) continue;
      this.lastSeq = seq;
      return { values, updates };
    }
  }

  private receive(m: LearnerReply): void {
    if (m.type === 'progress') mergeProgress(this.progress, m.progress);
    else if (m.type === 'closed') {
      mergeProgress(this.progress, m.progress);
      this.onClosed?.(m.state);
    } else if (m.type === 'error') {
      this.fail(`the learner failed: ${m.message}`);
      this.onClosed?.(undefined);
    }
  }

  private fail(message: string): void {
    this.failure ??= new Error(`asynchronous learning: ${message}`);
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }

  private post(request: LearnerRequest, transfer: ArrayBuffer[] = []): void {
    this.worker.postMessage(request, transfer);
  }
}

export const startWorkerLearner = (options: WorkerLearnerOptions): Promise<WorkerLearnerLink> => WorkerLearnerLink.start(options);
