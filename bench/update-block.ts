/**
 * `npx tsx bench/update-block.ts`: how long one DSRL-NA gradient update holds Node's event loop, on the
 * shipped Lift base policy (models/lift: obs 19, 4 x 7 chunks, DDIM 8 steps, 512-wide network) at batch
 * 256, with the default critics (3 x 128) and the reference's manipulation critics (3 x 2048).
 *
 * Why it matters (docs/operator.md): with acting and learning in one thread, an operator's emergency
 * stop that arrives while the learner updates is sent between two updates (the loop's gate), so one
 * update's duration bounds its delay. Every `utd`-th update also distils Q_W (`distillSteps` x 256 rows
 * through the base policy): the max column. Medians and maxima over UPDATES updates (default 40);
 * set DSRL_NUM_THREADS / OPENBLAS_NUM_THREADS as for a run.
 */
import { dsrlNa } from '../src/algos/dsrl/dsrl-na.ts';
import type { SteerHyper } from '../src/algos/spec.ts';
import { Rng } from '../src/core/rng.ts';
import { ReplayBuffer } from '../src/data/replay-buffer.ts';
import { Box } from '../src/envs/spaces.ts';
import { batchSpace, type VectorEnv } from '../src/envs/vector.ts';
import { loadPolicy } from '../src/policies/load.ts';

const updates = Number(process.env.UPDATES ?? 40);
const policy = await loadPolicy('models/lift');
const chunkDim = policy.chunk * policy.actDim;
// Only the spaces are read when an agent is built; no env steps here.
const obsSpace = new Box(-Infinity, Infinity, [policy.obsDim]);
const actSpace = new Box(
  Array.from({ length: chunkDim }, (_, i) => policy.actionLow[i % policy.actDim]),
  Array.from({ length: chunkDim }, (_, i) => policy.actionHigh[i % policy.actDim]),
);
const spaces = {
  numEnvs: 1,
  singleObservationSpace: obsSpace,
  singleActionSpace: actSpace,
  observationSpace: batchSpace(obsSpace, 1),
  actionSpace: batchSpace(actSpace, 1),
};
const evalInner = spaces as unknown as VectorEnv;

for (const criticHidden of [
  [128, 128, 128],
  [2048, 2048, 2048],
]) {
  const hp: SteerHyper = {
    actionMagnitude: 1.5,
    targetEntropy: 0,
    initTemperature: 1,
    residualScale: 0.1,
    utd: 20,
    distillSteps: 10,
    actorHidden: [128, 128, 128],
    criticHidden,
    actorLayerNorm: false,
    normalizeObs: false,
    lr: 3e-4,
    gamma: 0.99,
  };
  const parts = dsrlNa.build!({ hp, policy, trainInner: null, evalInner, rng: Rng.fromSeed(1), maxRows: 256 });
  const rng = Rng.fromSeed(2);
  const buffer = new ReplayBuffer({ capacity: 1024, obsDim: policy.obsDim, actionDim: chunkDim, fields: parts.fields, seed: 3 });
  const row = (n: number) => Array.from({ length: n }, () => rng.normal());
  for (let i = 0; i < 1024; i++) {
    buffer.add({
      obs: row(policy.obsDim),
      action: row(chunkDim),
      reward: -4,
      nextObs: row(policy.obsDim),
      terminated: 0,
      truncated: 0,
      fields: { realActions: row(chunkDim) },
    });
  }
  const batch = buffer.createBatch(256);
  const times: number[] = [];
  for (let u = 0; u < updates; u++) {
    const t = performance.now();
    await parts.agent.update(buffer.sample(batch));
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  console.log(
    `DSRL-NA update on models/lift, critics ${criticHidden.join('x')}, batch 256: median ${times[times.length >> 1].toFixed(1)} ms, max ${times.at(-1)!.toFixed(1)} ms over ${updates} updates`,
  );
}
await policy.close?.();
