/**
 * The settings of the in-page toy training (toy-training.ts), apart from it so that the page's own script can
 * offer them without bundling the core. Node-free.
 */

export interface ToyConfig {
  seed: number;
  /** Demonstrations, half (+0.6, +0.6), half (-0.6, -0.6). */
  demonstrations: number;
  cloneSteps: number;
  cloneBatch: number;
  /** The diffusion network's width (depth 2, DDPM T = 20, DDIM 5, as `dsrl demo --toy`). */
  cloneWidth: number;
  /** DSRL-NA env steps (one-step episodes), parallel envs, warm-up steps with N(0, I) noise. */
  steps: number;
  numEnvs: number;
  learningStarts: number;
  utd: number;
  distillSteps: number;
  batchSize: number;
  hidden: number[];
  lr: number;
  /** Noise bound M. */
  actionMagnitude: number;
  evalEvery: number;
  evalEpisodes: number;
}

/**
 * `dsrl demo --toy`'s recipe made smaller, so that even the TypeScript backend takes seconds: width 32 and 400
 * clone steps of batch 64 (not 64 and 2500 of 256), hidden 32 x 32, utd 1, 2 distillation steps and batch 32 over
 * 400 env steps (not 64 x 64, 2, 4 and 64 over 1500). Measured in Node on the loaded 2-core machine, seeds 1-3:
 * base policy 0.49 / 0.535 / 0.505 and steered 1.0 success (200 episodes each), 0.4-0.6 s on the WebAssembly
 * backend, 5.0 s (seed 1) on the TypeScript one, where `dsrl demo --toy`'s recipe took 164 s + 166 s. The
 * cloned policy is blurrier than `dsrl demo --toy`'s (10-13 of 100 actions within 0.15 of a mode, against 86-94).
 */
export const TOY_PAGE_CONFIG: Readonly<ToyConfig> = Object.freeze({
  seed: 1,
  demonstrations: 2000,
  cloneSteps: 400,
  cloneBatch: 64,
  cloneWidth: 32,
  steps: 400,
  numEnvs: 4,
  learningStarts: 100,
  utd: 1,
  distillSteps: 2,
  batchSize: 32,
  hidden: [32, 32],
  lr: 1e-3,
  actionMagnitude: 2,
  evalEvery: 100,
  evalEpisodes: 200,
});

/** The page's choice of cloning: quick (TOY_PAGE_CONFIG), or `dsrl demo --toy`'s, whose modes come out sharp. */
export const TOY_RECIPES: Readonly<Record<'quick' | 'demo', Readonly<ToyConfig>>> = Object.freeze({
  quick: TOY_PAGE_CONFIG,
  demo: Object.freeze({ ...TOY_PAGE_CONFIG, cloneSteps: 2500, cloneBatch: 256, cloneWidth: 64 }),
});

export function checkToyConfig(c: ToyConfig): ToyConfig {
  const ints: (keyof ToyConfig)[] = [
    'seed',
    'demonstrations',
    'cloneSteps',
    'cloneBatch',
    'cloneWidth',
    'steps',
    'numEnvs',
    'batchSize',
    'evalEpisodes',
  ];
  for (const k of ints)
    if (!Number.isSafeInteger(c[k]) || (c[k] as number) < (k === 'seed' ? 0 : 1)) throw new Error(`toy config: ${k} must be a positive integer`);
  for (const k of ['learningStarts', 'utd', 'distillSteps', 'evalEvery'] as const)
    if (!Number.isSafeInteger(c[k]) || c[k] < 0) throw new Error(`toy config: ${k} must be a non-negative integer`);
  if (!Array.isArray(c.hidden) || c.hidden.length === 0 || !c.hidden.every((h) => Number.isSafeInteger(h) && h > 0 && h <= 1024))
    throw new Error('toy config: hidden must be a list of widths in [1, 1024]');
  if (!(c.lr > 0 && c.lr < 1) || !(c.actionMagnitude > 0 && c.actionMagnitude <= 10))
    throw new Error('toy config: lr in (0, 1), actionMagnitude in (0, 10]');
  if (c.demonstrations > 100_000 || c.cloneSteps > 100_000 || c.steps > 1_000_000) throw new Error('toy config: too large for a page');
  return c;
}
