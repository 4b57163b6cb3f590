/**
 * Safety limits dsrl applies to every action before it leaves for a remote env (docs/remote-env.md):
 *
 * - non-finite values (NaN, Infinity): refused; the chunk is never sent (an error, after `stop`).
 * - action bounds: clipped to the action space (`bounds: 'refuse'` refuses the chunk instead).
 * - workspace box (when the robot's hello declares one): the action entries at `workspace.indices` are
 *   taken to be absolute end-effector position targets, clipped into [low, high] per axis.
 * - per-step change limit (`maxDelta`): |a_t - a_{t-1}| <= maxDelta per dimension, within a chunk and
 *   across chunks of one episode (a_{t-1} is the last action sent; none at an episode's first step);
 *   applied last, so a clipped action stays inside both boxes (each is a per-dimension interval
 *   holding a_{t-1} and the target, and the limited value lies between them).
 *
 * Every clip is counted and described; the caller logs one warning line per chunk and reports the
 * totals in `info.safety`. Browser-safe.
 */
import type { Box } from '../spaces.ts';
import type { WorkspaceBox } from './protocol.ts';

export interface SafetyOptions {
  /** Out-of-bounds actions: clip them (default) or refuse the chunk. */
  bounds?: 'clip' | 'refuse';
  /** Largest change per step and dimension (one number for all, or one per dimension); default none. */
  maxDelta?: number | readonly number[];
}

export interface SafetyCounters {
  /** Values clipped to the action bounds. */
  bounds: number;
  /** Values clipped into the workspace box. */
  workspace: number;
  /** Values limited by maxDelta. */
  rate: number;
  /** Chunks refused (never sent). */
  refused: number;
}

export class ActionSafety {
  readonly counters: SafetyCounters = { bounds: 0, workspace: 0, rate: 0, refused: 0 };
  private readonly low: Float32Array;
  private readonly high: Float32Array;
  private readonly maxDelta: Float64Array | null;
  private readonly mode: 'clip' | 'refuse';
  private prev: Float64Array | null = null;

  constructor(
    private readonly actionSpace: Box,
    options: SafetyOptions = {},
    private readonly workspace: WorkspaceBox | null = null,
  ) {
    const d = actionSpace.size;
    this.low = actionSpace.low;
    this.high = actionSpace.high;
    this.mode = options.bounds ?? 'clip';
    const md = options.maxDelta;
    if (md === undefined) this.maxDelta = null;
    else {
      const values = typeof md === 'number' ? new Array<number>(d).fill(md) : [...md];
      if (values.length !== d) throw new Error(`safety: maxDelta has ${values.length} values, the action has ${d}`);
      if (values.some((v) => !(v > 0))) throw new Error(`safety: maxDelta must be positive, got [${values.join(', ')}]`);
      this.maxDelta = Float64Array.from(values);
    }
  }

  /** A new episode: the change limit has no previous action. */
  resetEpisode(): void {
    this.prev = null;
  }

  /**
   * The safe version of a chunk of k actions (flat [k * actDim]) as rows, plus one line per kind of
   * change made (empty when nothing changed). Throws (and counts a refusal) for a chunk it refuses.
   */
  filter(chunk: ArrayLike<number>, k: number): { actions: number[][]; changes: string[] } {
    const d = this.actionSpace.size;
    if (chunk.length !== k * d) throw new Error(`safety: the chunk has ${chunk.length} values, expected ${k} x ${d}`);
    for (let i = 0; i < chunk.length; i++) {
      if (!Number.isFinite(chunk[i])) {
        this.counters.refused++;
        throw new Error(`safety: refused a chunk with a non-finite action (step ${Math.floor(i / d)}, dim ${i % d}: ${chunk[i]}); nothing was sent`);
      }
    }
    const actions: number[][] = [];
    let nb = 0;
    let nw = 0;
    let nr = 0;
    let prev = this.prev;
    for (let s = 0; s < k; s++) {
      const a = Array.from({ length: d }, (_, j) => Number(chunk[s * d + j]));
      for (let j = 0; j < d; j++) {
        if (a[j] < this.low[j] || a[j] > this.high[j]) {
          if (this.mode === 'refuse') {
            this.counters.refused++;
            throw new Error(
              `safety: refused a chunk outside the action bounds (step ${s}, dim ${j}: ${a[j]} not in [${this.low[j]}, ${this.high[j]}]); nothing was sent`,
            );
          }
          a[j] = Math.min(this.high[j], Math.max(this.low[j], a[j]));
          nb++;
        }
      }
      if (this.workspace) {
        const { indices, low, high } = this.workspace;
        indices.forEach((j, i) => {
          if (a[j] < low[i] || a[j] > high[i]) {
            a[j] = Math.min(high[i], Math.max(low[i], a[j]));
            nw++;
          }
        });
      }
      if (this.maxDelta && prev) {
        for (let j = 0; j < d; j++) {
          const lo = prev[j] - this.maxDelta[j];
          const hi = prev[j] + this.maxDelta[j];
          if (a[j] < lo || a[j] > hi) {
            a[j] = Math.min(hi, Math.max(lo, a[j]));
            nr++;
          }
        }
      }
      prev = Float64Array.from(a);
      actions.push(a);
    }
    this.prev = prev;
    this.counters.bounds += nb;
    this.counters.workspace += nw;
    this.counters.rate += nr;
    const changes: string[] = [];
    if (nb) changes.push(`${nb} value(s) clipped to the action bounds (total ${this.counters.bounds})`);
    if (nw) changes.push(`${nw} value(s) clipped into the workspace box (total ${this.counters.workspace})`);
    if (nr) changes.push(`${nr} value(s) limited to the per-step change limit (total ${this.counters.rate})`);
    return { actions, changes };
  }
}
