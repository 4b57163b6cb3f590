/**
 * The settings of `dsrl demo` (src/cli/demo.ts) as the in-page Hopper training (hopper-training.ts) runs them:
 * DSRL-NA on the shipped Hopper-v5 policy, i.e. `dsrl steer --env Hopper-v5 --policy models/hopper --algo na
 * --seed 1 --no-normalize-obs --steps 15000 --eval-every 5000`. Every other value is `dsrl steer`'s default
 * (the DSRL reference's Gym settings, run/steer.ts); test/web-hopper.test.ts checks them against its schema.
 * Node-free and import-free, so the page's own script can show them without bundling the core.
 */

export interface HopperConfig {
  seed: number;
  /** Env steps (chunk steps counted), of which the first `learningStarts` are the base policy's warm-up. */
  steps: number;
  numEnvs: number;
  learningStarts: number;
  batchSize: number;
  evalEvery: number;
  evalEpisodes: number;
  logEvery: number;
  /** The algorithm's options (algos/spec.ts SteerHyper). */
  actionMagnitude: number;
  targetEntropy: number;
  initTemperature: number;
  actorInit: 'random' | 'zero-mean';
  residualScale: number;
  utd: number;
  distillSteps: number;
  actorHidden: number[];
  criticHidden: number[];
  actorLayerNorm: boolean;
  normalizeObs: boolean;
  lr: number;
  gamma: number;
}

/** Env steps of the Hopper demo, and its evaluation period (`dsrl demo` uses these too). */
export const HOPPER_DEMO_STEPS = 15_000;
export const HOPPER_DEMO_EVAL_EVERY = 5000;

export const HOPPER_DEMO_CONFIG: Readonly<HopperConfig> = Object.freeze({
  seed: 1,
  steps: HOPPER_DEMO_STEPS,
  numEnvs: 4,
  learningStarts: 4000,
  batchSize: 256,
  evalEvery: HOPPER_DEMO_EVAL_EVERY,
  evalEpisodes: 10,
  logEvery: 1000,
  actionMagnitude: 1.5,
  targetEntropy: 0,
  initTemperature: 1,
  actorInit: 'random',
  residualScale: 0.2,
  utd: 20,
  distillSteps: 10,
  actorHidden: [128, 128, 128],
  criticHidden: [128, 128, 128],
  actorLayerNorm: false,
  normalizeObs: false,
  lr: 3e-4,
  gamma: 0.99,
});
