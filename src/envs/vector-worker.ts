/**
 * Node adapter: a VectorEnv whose sub-envs run in parallel in `worker_threads`. The sub-envs are split into
 * contiguous groups, one group per worker; each worker loads its own MuJoCo wasm instance and runs a
 * SyncVectorEnv over its group, so autoreset (NEXT_STEP, see vector.ts) and seeding (sub-env i gets seed
 * s + i) are the same code as in-thread, and the same seeds give the same trajectories.
 *
 * Sub-envs are created in the workers from a registered id, so they must be registered there too: built-in
 * ids always are; for your own, pass `preloadModules` (module URLs or paths that call registerEnv on import).
 * Workers are unref'ed while idle, so a forgotten close() does not keep the process alive; still call close().
 */
import { availableParallelism } from 'node:os';
import { pathToFileURL } from 'node:url';
import { isAbsolute } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { EnvState, Info } from './env.ts';
import type { MakeEnvOptions } from './registry.ts';
import { Box } from './spaces.ts';
import {
  batchSpace,
  checkVectorEnvState,
  vectorResetSeeds,
  type VectorEnv,
  type VectorEnvState,
  type VectorResetOptions,
  type VectorResetResult,
  type VectorStepResult,
} from './vector.ts';

interface SpaceMessage {
  low: Float32Array;
  high: Float32Array;
  shape: number[];
}

export type WorkerRequest =
  | { type: 'init'; id: string; count: number; envOptions: MakeEnvOptions; preloadModules: string[] }
  | { type: 'reset'; seeds: (number | undefined)[]; options?: Record<string, unknown> }
  | { type: 'step'; actions: Float32Array }
  | { type: 'getState' }
  | { type: 'setState'; state: VectorEnvState }
  | { type: 'close' };

export type WorkerReply =
  | { type: 'ready'; observationSpace: SpaceMessage; actionSpace: SpaceMessage }
  | { type: 'reset'; obs: Float32Array; infos: Info[] }
  | { type: 'step'; obs: Float32Array; rewards: Float64Array; terminated: boolean[]; truncated: boolean[]; infos: Info[] }
  | { type: 'state'; state: VectorEnvState }
  | { type: 'stateSet' }
  | { type: 'closed' }
  | { type: 'error'; message: string; stack: string };

export interface WorkerVectorEnvOptions {
  /** Worker threads to spread the sub-envs over; default min(numEnvs, available cores). */
  numWorkers?: number;
  /** Options for makeEnv in every worker (e.g. maxEpisodeSteps, resetNoiseScale). Must be structured-cloneable. */
  envOptions?: MakeEnvOptions;
  /** Modules each worker imports before making envs, to register custom env ids. */
  preloadModules?: string[];
}

const BOOTSTRAP_URL = new URL('./vector-worker-bootstrap.mjs', import.meta.url);

class WorkerHandle {
  readonly worker: Worker;
  readonly start: number;
  readonly count: number;
  private pending: { resolve: (reply: WorkerReply) => void; reject: (err: Error) => void } | null = null;
  private failure: Error | null = null;

  constructor(start: number, count: number, label: string) {
    this.start = start;
    this.count = count;
    this.worker = new Worker(BOOTSTRAP_URL);
    this.worker.unref();
    this.worker.on('message', (reply: WorkerReply) => {
      const pending = this.pending;
      this.pending = null;
      this.worker.unref();
      if (!pending) return;
      if (reply.type === 'error') {
        const err = new Error(`${label} (sub-envs ${start}..${start + count - 1}): ${reply.message}`);
        err.stack = `${err.message}\n--- in worker ---\n${reply.stack}`;
        pending.reject(err);
      } else pending.resolve(reply);
    });
    this.worker.on('error', (err: Error) =>
      this.fail(new Error(`${label}: worker for sub-envs ${start}..${start + count - 1} crashed: ${err.message}`)),
    );
    this.worker.on('exit', (code) => this.fail(new Error(`${label}: worker for sub-envs ${start}..${start + count - 1} exited (code ${code})`)));
  }

  private fail(err: Error): void {
    this.failure ??= err;
    const pending = this.pending;
    this.pending = null;
    pending?.reject(err);
  }

  request(message: WorkerRequest, transfer: ArrayBuffer[] = []): Promise<WorkerReply> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.pending) return Promise.reject(new Error('vector env: a previous call has not finished; await each reset()/step()'));
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.worker.ref();
      this.worker.postMessage(message, transfer);
    });
  }
}

export class WorkerVectorEnv implements VectorEnv {
  readonly numEnvs: number;
  readonly singleObservationSpace: Box;
  readonly singleActionSpace: Box;
  readonly observationSpace: Box;
  readonly actionSpace: Box;
  readonly autoresetMode = 'next_step' as const;
  private readonly handles: WorkerHandle[];
  private readonly label: string;
  private hasReset = false;
  private seededBefore = false;
  private closed = false;

  private constructor(label: string, handles: WorkerHandle[], observationSpace: Box, actionSpace: Box) {
    this.label = label;
    this.handles = handles;
    this.numEnvs = handles.reduce((n, h) => n + h.count, 0);
    this.singleObservationSpace = observationSpace;
    this.singleActionSpace = actionSpace;
    this.observationSpace = batchSpace(observationSpace, this.numEnvs);
    this.actionSpace = batchSpace(actionSpace, this.numEnvs);
  }

  static async create(id: string, numEnvs: number, options: WorkerVectorEnvOptions = {}): Promise<WorkerVectorEnv> {
    if (!Number.isInteger(numEnvs) || numEnvs < 1) throw new Error(`numEnvs must be a positive integer, got ${numEnvs}`);
    const numWorkers = Math.min(numEnvs, options.numWorkers ?? availableParallelism());
    if (!Number.isInteger(numWorkers) || numWorkers < 1) throw new Error(`numWorkers must be a positive integer, got ${options.numWorkers}`);
    const label = `WorkerVectorEnv(${id} x${numEnvs})`;
    const preloadModules = (options.preloadModules ?? []).map((m) => (isAbsolute(m) ? pathToFileURL(m).href : m));
    const handles: WorkerHandle[] = [];
    let start = 0;
    for (let w = 0; w < numWorkers; w++) {
      // Spread the remainder over the first workers: 5 envs on 2 workers -> 3 + 2.
      const count = Math.floor(numEnvs / numWorkers) + (w < numEnvs % numWorkers ? 1 : 0);
      handles.push(new WorkerHandle(start, count, label));
      start += count;
    }
    try {
      const replies = await Promise.all(
        handles.map((h) => h.request({ type: 'init', id, count: h.count, envOptions: options.envOptions ?? {}, preloadModules })),
      );
      const ready = replies[0] as Extract<WorkerReply, { type: 'ready' }>;
      const toBox = (s: SpaceMessage) => new Box(s.low, s.high, s.shape);
      return new WorkerVectorEnv(label, handles, toBox(ready.observationSpace), toBox(ready.actionSpace));
    } catch (err) {
      await Promise.all(handles.map((h) => h.worker.terminate()));
      throw err;
    }
  }

  async reset(options: VectorResetOptions = {}): Promise<VectorResetResult> {
    this.assertOpen();
    const seeds = vectorResetSeeds(options.seed, this.numEnvs, this.seededBefore);
    if (seeds.some((s) => s !== undefined)) this.seededBefore = true;
    const replies = await Promise.all(
      this.handles.map((h) => h.request({ type: 'reset', seeds: seeds.slice(h.start, h.start + h.count), options: options.options })),
    );
    const obsDim = this.singleObservationSpace.size;
    const obs = new Float32Array(this.numEnvs * obsDim);
    const infos: Info[] = [];
    replies.forEach((reply, w) => {
      const r = reply as Extract<WorkerReply, { type: 'reset' }>;
      obs.set(r.obs, this.handles[w].start * obsDim);
      infos.push(...r.infos);
    });
    this.hasReset = true;
    return { obs, infos };
  }

  async step(actions: ArrayLike<number>): Promise<VectorStepResult> {
    this.assertOpen();
    if (!this.hasReset) throw new Error(`${this.label}: call reset() before step()`);
    const actDim = this.singleActionSpace.size;
    if (actions.length !== this.numEnvs * actDim) {
      throw new Error(`${this.label}: actions have ${actions.length} values, expected ${this.numEnvs} x ${actDim}`);
    }
    const replies = await Promise.all(
      this.handles.map((h) => {
        const part = new Float32Array(h.count * actDim);
        for (let j = 0; j < part.length; j++) part[j] = actions[h.start * actDim + j];
        return h.request({ type: 'step', actions: part }, [part.buffer]);
      }),
    );
    const obsDim = this.singleObservationSpace.size;
    const obs = new Float32Array(this.numEnvs * obsDim);
    const rewards = new Float64Array(this.numEnvs);
    const terminated: boolean[] = [];
    const truncated: boolean[] = [];
    const infos: Info[] = [];
    replies.forEach((reply, w) => {
      const r = reply as Extract<WorkerReply, { type: 'step' }>;
      const start = this.handles[w].start;
      obs.set(r.obs, start * obsDim);
      rewards.set(r.rewards, start);
      terminated.push(...r.terminated);
      truncated.push(...r.truncated);
      infos.push(...r.infos);
    });
    return { obs, rewards, terminated, truncated, infos };
  }

  /** Every sub-env's state, gathered from the workers into one state (the same format SyncVectorEnv saves). */
  async getState(): Promise<VectorEnvState> {
    this.assertOpen();
    const replies = await Promise.all(this.handles.map((h) => h.request({ type: 'getState' })));
    const parts = replies.map((reply) => (reply as Extract<WorkerReply, { type: 'state' }>).state);
    return {
      type: 'VectorEnv',
      numEnvs: this.numEnvs,
      hasReset: this.hasReset,
      seededBefore: this.seededBefore,
      autoresetPending: parts.flatMap((p) => p.autoresetPending),
      envs: parts.flatMap((p) => p.envs),
    };
  }

  /** Splits a saved state over the workers by their sub-env ranges. */
  async setState(state: EnvState): Promise<void> {
    this.assertOpen();
    const s = checkVectorEnvState(state, this.numEnvs, this.label);
    await Promise.all(
      this.handles.map((h) => {
        const part: VectorEnvState = {
          type: 'VectorEnv',
          numEnvs: h.count,
          hasReset: s.hasReset,
          seededBefore: s.seededBefore,
          autoresetPending: s.autoresetPending.slice(h.start, h.start + h.count),
          envs: s.envs.slice(h.start, h.start + h.count),
        };
        return h.request({ type: 'setState', state: part });
      }),
    );
    this.hasReset = s.hasReset;
    this.seededBefore = s.seededBefore;
  }

  /** Closes every sub-env in its worker, then ends the workers. Calling it again is a no-op. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(
      this.handles.map(async (h) => {
        try {
          await withTimeout(h.request({ type: 'close' }), 5000);
        } catch {
          // A crashed or stuck worker is terminated below all the same.
        }
        await h.worker.terminate();
      }),
    );
  }

  private assertOpen(): void {
    if (this.closed) throw new Error(`${this.label}: used after close()`);
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
