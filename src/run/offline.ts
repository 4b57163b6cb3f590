/**
 * Offline-only training: a fixed number of gradient updates on the replay buffer as loaded, with no env
 * interaction (DSRL-NA on a dataset). Metrics are averaged over `logEvery` updates, and an evaluation is
 * due every `evalEvery` updates (0: none) and at the end; the step axis is gradient updates.
 */
import type { ReplayBuffer } from '../data/replay-buffer.ts';
import type { Info, OffPolicyAgent } from './offpolicy.ts';

export interface OfflineLoopOptions {
  updates: number;
  batchSize: number;
  logEvery: number;
  evalEvery: number;
  log(step: number, values: Info): void;
  evaluate(step: number): Promise<void>;
  progress(step: number): void;
}

export async function trainOffline(agent: OffPolicyAgent, buffer: ReplayBuffer, o: OfflineLoopOptions): Promise<number> {
  if (buffer.size === 0) throw new Error('offline training: the dataset gave no transitions');
  const batch = buffer.createBatch(o.batchSize);
  let sums: Info = {};
  let count = 0;
  for (let u = 1; u <= o.updates; u++) {
    const info = await agent.update(buffer.sample(batch));
    for (const key in info) sums[key] = (sums[key] ?? 0) + info[key];
    count++;
    if (u % o.logEvery === 0 || u === o.updates) {
      const values: Info = { 'charts/updates': u };
      for (const key in sums) values[key] = sums[key] / count;
      o.log(u, values);
      sums = {};
      count = 0;
    }
    if ((o.evalEvery > 0 && u % o.evalEvery === 0) || u === o.updates) await o.evaluate(u);
    o.progress(u);
  }
  return o.updates;
}
