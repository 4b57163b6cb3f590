/**
 * A replay buffer's saved state (ReplayBuffer.toState / fromState, written to disk by replay-io.ts) and the checks
 * a state must pass before a buffer is rebuilt from it. Core module: no Node imports.
 */
import type { RngState } from '../core/rng.ts';
import type { FieldDims } from './replay-buffer.ts';

/** Everything needed to rebuild the buffer exactly; arrays hold only the filled slots [0, size). */
export interface ReplayBufferState {
  version: 1;
  capacity: number;
  obsDim: number;
  actionDim: number;
  fields: FieldDims;
  size: number;
  /** Slot the next transition goes to. */
  next: number;
  /** Transitions ever added (including overwritten ones). */
  totalAdded: number;
  rng: RngState;
  obs: Float32Array;
  actions: Float32Array;
  rewards: Float32Array;
  nextObs: Float32Array;
  terminated: Uint8Array;
  truncated: Uint8Array;
  fieldData: Record<string, Float32Array>;
}

export const REPLAY_STATE_VERSION = 1;

/**
 * Refuse a state whose counters or arrays do not describe a buffer of its own dims and capacity (those the
 * ReplayBuffer constructor has already checked): one line naming what is wrong.
 */
export function checkReplayState(state: ReplayBufferState): void {
  const fail = (what: string): never => {
    throw new Error(`ReplayBuffer.fromState: ${what}`);
  };
  const { size, next, totalAdded, capacity } = state;
  if (!Number.isSafeInteger(size) || size < 0 || size > capacity) fail(`size ${size} outside [0, capacity ${capacity}]`);
  // Until the ring wraps, slots fill in order, so next must equal size.
  const nextOk = size < capacity ? next === size : Number.isSafeInteger(next) && next >= 0 && next < capacity;
  if (!nextOk) fail(`next slot ${next} is inconsistent with size ${size} and capacity ${capacity}`);
  if (!Number.isSafeInteger(totalAdded) || totalAdded < size) fail(`totalAdded ${totalAdded} is smaller than size ${size}`);
  const array = (name: string, src: unknown, dim: number, ctor: Float32ArrayConstructor | Uint8ArrayConstructor): void => {
    if (!(src instanceof ctor)) fail(`${name} must be a ${ctor.name}`);
    const length = (src as Float32Array | Uint8Array).length;
    if (length !== size * dim) fail(`${name} has ${length} values, expected ${size} x ${dim}`);
  };
  array('obs', state.obs, state.obsDim, Float32Array);
  array('actions', state.actions, state.actionDim, Float32Array);
  array('rewards', state.rewards, 1, Float32Array);
  array('nextObs', state.nextObs, state.obsDim, Float32Array);
  array('terminated', state.terminated, 1, Uint8Array);
  array('truncated', state.truncated, 1, Uint8Array);
  const fieldData = state.fieldData ?? {};
  for (const name of Object.keys(fieldData)) if (!(name in state.fields)) fail(`data for undeclared field "${name}"`);
  for (const [name, dim] of Object.entries(state.fields)) array(`fields.${name}`, fieldData[name], dim, Float32Array);
  for (let i = 0; i < size; i++) if (state.terminated[i] > 1 || state.truncated[i] > 1) fail(`flags at slot ${i} are not 0/1`);
}
