/**
 * Offline data for `dsrl steer --offline` (DSRL-NA's offline-to-online): a D4RL- or robomimic-layout dataset read,
 * normalized as the agent sees observations, and loaded into the replay buffer as action chunks of real actions.
 * Node only (the HDF5 reader).
 */
import { agentView } from '../algos/dsrl/noise-action-env.ts';
import { readDataset } from '../data/hdf5.ts';
import { loadIntoReplayBuffer } from '../data/offline-replay.ts';
import type { NoisePolicy } from '../policies/policy.ts';
import type { Trainer } from './trainer.ts';

/** Reads an offline dataset for the buffer (normalized when the agent sees normalized observations). */
export async function readOffline(path: string, policy: NoisePolicy, normalize: boolean): Promise<NonNullable<Trainer['offline']>> {
  const dataset = await readDataset(path, { expect: { obsDim: policy.obsDim, actionDim: policy.actDim } });
  const { normalizer } = agentView(policy, normalize);
  if (normalizer) {
    normalizer.apply(dataset.observations, dataset.size, dataset.observations);
    normalizer.apply(dataset.nextObservations, dataset.size, dataset.nextObservations);
  }
  return {
    // A chunk starts at every step, so N dataset steps give at most N transitions.
    rows: dataset.size,
    load: (buffer) => {
      const n = loadIntoReplayBuffer(dataset, buffer, { actionChunk: policy.chunk, actionsTo: 'realActions', fill: { actions: 0 } });
      if (n === 0) throw new Error(`${path}: the dataset gave no transitions of ${policy.chunk} steps`);
      return n;
    },
  };
}
