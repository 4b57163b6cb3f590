/**
 * Offline data into a replay buffer (DSRL-NA's offline and offline-to-online training): a D4RL-layout dataset
 * (d4rl.ts; robomimic files are flattened into it) copied in as per-step or action-chunked transitions.
 *
 * Core module: no Node imports.
 */
import { splitEpisodes, type D4rlDataset } from './d4rl.ts';
import type { ReplayBuffer } from './replay-buffer.ts';

export interface LoadIntoReplayOptions {
  /** Where dataset actions go: the buffer's `actions` (default; DSRL-NA stores real actions there) or an extra field. */
  actionsTo?: string;
  /** Constant values for buffer fields the dataset does not provide (including `actions` when actionsTo is a field). */
  fill?: Record<string, number>;
  /**
   * Group Ta consecutive steps into one transition, as an action-chunked policy acts: action =
   * the Ta actions concatenated, reward = their undiscounted sum, next obs = after the last step.
   * One chunk starts at every step (overlapping). A chunk cut short by a terminal is kept with
   * terminated = 1 and its unexecuted tail padded by repeating the last action; one cut by a time
   * limit is kept with truncated = 1 (as an online chunked env would report it); one that runs
   * past the end of the data is dropped. Default 1 (plain per-step transitions).
   */
  actionChunk?: number;
  /** Allow overwriting older transitions when the data does not fit. Default false: throw. */
  allowOverwrite?: boolean;
}

/** Copy a dataset's transitions into a replay buffer (offline data for DSRL-NA); returns how many were added. */
export function loadIntoReplayBuffer(dataset: D4rlDataset, buffer: ReplayBuffer, options: LoadIntoReplayOptions = {}): number {
  const chunk = options.actionChunk ?? 1;
  if (!Number.isSafeInteger(chunk) || chunk < 1) throw new Error(`loadIntoReplayBuffer: actionChunk must be a positive integer, got ${chunk}`);
  const { obsDim, actionDim, size: n } = dataset;
  const target = options.actionsTo ?? 'actions';
  const fieldDims = buffer.fieldDims;
  const targetDim = target === 'actions' ? buffer.actionDim : fieldDims[target];
  if (targetDim === undefined) throw new Error(`loadIntoReplayBuffer: the buffer has no field "${target}" for the dataset's actions`);
  if (buffer.obsDim !== obsDim) throw new Error(`loadIntoReplayBuffer: dataset obsDim ${obsDim} but buffer obsDim ${buffer.obsDim}`);
  if (targetDim !== actionDim * chunk) {
    throw new Error(`loadIntoReplayBuffer: ${target} has width ${targetDim} but the dataset gives ${actionDim} x chunk ${chunk} = ${actionDim * chunk}`);
  }
  const fill = options.fill ?? {};
  const filled = ['actions', ...Object.keys(fieldDims)].filter((name) => name !== target);
  for (const name of filled) {
    if (!Number.isFinite(fill[name])) throw new Error(`loadIntoReplayBuffer: no data for buffer "${name}"; give a constant in options.fill`);
  }

  // Pick the chunk starts first so the capacity check happens before anything is written.
  const starts: number[] = [];
  for (const episode of splitEpisodes(dataset)) {
    for (let t = episode.start; t < episode.end; t++) {
      if (t + chunk <= episode.end || episode.endReason === 'terminal' || episode.endReason === 'timeout') starts.push(t);
    }
  }
  const free = buffer.capacity - buffer.size;
  if (starts.length > free && !options.allowOverwrite) {
    throw new Error(`loadIntoReplayBuffer: ${starts.length} transitions do not fit in the ${free} free slots (capacity ${buffer.capacity}); pass allowOverwrite to keep only the newest`);
  }

  const block = Math.max(1, Math.min(4096, starts.length));
  const obs = new Float32Array(block * obsDim);
  const nextObs = new Float32Array(block * obsDim);
  const rewards = new Float32Array(block);
  const terminated = new Uint8Array(block);
  const truncated = new Uint8Array(block);
  const columns: Record<string, Float32Array> = {};
  for (const name of ['actions', ...Object.keys(fieldDims)]) {
    const dim = name === 'actions' ? buffer.actionDim : fieldDims[name];
    columns[name] = new Float32Array(block * dim);
    if (name !== target) columns[name].fill(fill[name]);
  }
  const actionsOut = columns[target];
  const { observations, actions, nextObservations, terminals, timeouts } = dataset;
  let added = 0;
  for (let first = 0; first < starts.length; first += block) {
    const rows = Math.min(block, starts.length - first);
    for (let r = 0; r < rows; r++) {
      const t = starts[first + r];
      let last = t; // last executed step of the chunk
      let reward = 0;
      let ended = false;
      for (let k = 0; k < chunk; k++) {
        const step = t + k;
        if (!ended && step < n) {
          last = step;
          reward += dataset.rewards[step];
          ended = terminals[step] === 1 || timeouts[step] === 1;
        }
        // Unexecuted tail steps repeat the last executed action.
        const src = last * actionDim;
        const dst = r * chunk * actionDim + k * actionDim;
        for (let j = 0; j < actionDim; j++) actionsOut[dst + j] = actions[src + j];
      }
      obs.set(observations.subarray(t * obsDim, (t + 1) * obsDim), r * obsDim);
      nextObs.set(nextObservations.subarray(last * obsDim, (last + 1) * obsDim), r * obsDim);
      rewards[r] = reward;
      terminated[r] = terminals[last];
      truncated[r] = timeouts[last];
    }
    const sliceRows = <T extends Float32Array | Uint8Array>(a: T, dim: number): T => a.subarray(0, rows * dim) as T;
    const fields: Record<string, Float32Array> = {};
    for (const name of Object.keys(fieldDims)) fields[name] = sliceRows(columns[name], fieldDims[name]);
    added += buffer.addBatch({
      obs: sliceRows(obs, obsDim),
      actions: sliceRows(columns.actions, buffer.actionDim),
      rewards: sliceRows(rewards, 1),
      nextObs: sliceRows(nextObs, obsDim),
      terminated: sliceRows(terminated, 1),
      truncated: sliceRows(truncated, 1),
      fields,
    });
  }
  return added;
}
