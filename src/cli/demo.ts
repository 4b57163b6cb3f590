/**
 * `npm run demo`: DSRL end to end in about a minute on 2 cores. A diffusion policy is cloned from
 * demonstrations that split evenly between two ways of acting, only one of which the task rewards;
 * DSRL-NA then learns which initial noise to feed it, without touching its weights.
 * (Steering the shipped MuJoCo policies replaces this once they are trained and shipped.)
 */
import { Rng } from '../core/rng.ts';
import { BimodalChoice, bimodalDemonstrations } from '../envs/toy/bimodal.ts';
import { SyncVectorEnv } from '../envs/vector.ts';
import { ActionChunk } from '../envs/wrappers.ts';
import { getBackend } from '../nn/backend.ts';
import { buildChunkData, DiffusionTrainer } from '../policies/diffusion/train.ts';
import { steer } from '../run/train-dsrl.ts';

export async function runDemo(): Promise<void> {
  console.log(`dsrl demo (NN backend: ${getBackend().name})`);
  console.log('1/2 behavior cloning: a diffusion policy from 2000 demonstrations, half (+0.6, +0.6), half (-0.6, -0.6)');
  const rng = Rng.fromSeed(0);
  const ds = bimodalDemonstrations(2000, rng);
  const data = buildChunkData(ds, { chunk: 1, tail: 'skip', actionLow: [-1, -1], actionHigh: [1, 1] });
  const spec = { obsDim: 1, actDim: 2, chunk: 1, denoisingSteps: 20, ddimSteps: 5, timeDim: 16, width: 64, depth: 2 };
  const trainer = new DiffusionTrainer(spec, data, { steps: 2500, batchSize: 256, lr: 1e-3, seed: 0, emaDecay: 0.99, emaEvery: 1, emaStart: 1500 });
  const t0 = performance.now();
  for (let i = 0; i < 2500; i++) trainer.trainStep();
  console.log(`    trained in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  console.log('2/2 DSRL-NA: steer its noise on BimodalChoice (reward 1 only for the (+, +) mode)');
  const makeInner = async (k: number) => new SyncVectorEnv(Array.from({ length: k }, () => new ActionChunk(new BimodalChoice(), 1)));
  const res = await steer({
    env: 'BimodalChoice', algo: 'na', steps: 1500, numEnvs: 4, actionMagnitude: 2, utd: 2, distillSteps: 4, learningStarts: 200,
    batchSize: 64, actorHidden: [64, 64], criticHidden: [64, 64], lr: 1e-3, evalEvery: 500, evalEpisodes: 200,
  }, trainer.policy(), makeInner);
  const best = res.best as { mean: number; step: number } | null;
  console.log(`base policy success rate: ${(100 * res.base.mean).toFixed(1)}%`);
  console.log(`steered success rate:     ${best ? (100 * best.mean).toFixed(1) : 'n/a'}% (after ${best?.step ?? 0} env steps, ${res.seconds.toFixed(0)} s)`);
  console.log(`run folder: ${res.dir} (metrics.csv, TensorBoard events, curve.svg)`);
}
