/**
 * `dsrl pretrain`: behavior-clone a diffusion policy from an HDF5 dataset in D4RL or robomimic layout (told apart
 * by the file's groups; a robomimic file is flattened as src/data/robomimic.ts describes) and save it as a
 * checkpoint folder (model.safetensors + manifest.json) that `dsrl eval` and DSRL steering load.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import type { D4rlDataset } from '../data/d4rl.ts';
import type { DiffusionManifest } from '../policies/diffusion/manifest.ts';
import type { ProgressStream } from '../run/progress.ts';
import { intArg, numArg } from './args.ts';

export interface PretrainOptions {
  dataset: string;
  out: string;
  steps: number;
  /** Ta. */
  chunk: number;
  seed: number;
  batchSize: number;
  lr: number;
  width: number;
  /** Residual blocks. */
  depth: number;
  timeDim: number;
  /** T: DDPM steps. */
  T: number;
  /** S: DDIM steps at sampling time. */
  ddimSteps: number;
  tail: 'skip' | 'pad';
  emaDecay: number;
  emaEvery: number;
  emaStart: number;
  /** Env whose action bounds map actions to [-1, 1]; default: the dataset's env_id/env metadata. */
  env?: string;
  /** Scalar action bounds for every dimension, when no registered env gives them. */
  actionBounds?: [number, number];
  /** Also save the raw (non-EMA) weights. */
  saveRaw: boolean;
  /** Write the checkpoint every n steps as well as at the end (0: only at the end). */
  saveEvery: number;
  /** Overwrite an existing checkpoint in `out`. */
  force: boolean;
  /** robomimic layout: train on the demos of mask/<filterKey> only (e.g. train, better). */
  filterKey?: string;
}

/** CLI defaults: DSRL's Gym settings (Ta 4, T 20, S 5), DPPO's time_dim 16 and EMA (0.995 every 10 steps). */
export const PRETRAIN_DEFAULTS = {
  chunk: 4,
  seed: 0,
  batchSize: 256,
  lr: 3e-4,
  width: 512,
  depth: 1,
  timeDim: 16,
  T: 20,
  ddimSteps: 5,
  tail: 'skip',
  emaDecay: 0.995,
  emaEvery: 10,
  emaStart: 1000,
  saveRaw: false,
  saveEvery: 0,
  force: false,
} as const satisfies Partial<PretrainOptions>;

const boundsArg = (value: string): [number, number] => {
  const parts = value.split(',').map((v) => Number(v.trim()));
  if (parts.length !== 2 || parts.some((n) => !Number.isFinite(n)) || !(parts[0] < parts[1])) {
    throw new InvalidArgumentError(`--action-bounds must be "low,high" with low < high, got "${value}"`);
  }
  return [parts[0], parts[1]];
};

const tailArg = (value: string): 'skip' | 'pad' => {
  if (value !== 'skip' && value !== 'pad') throw new InvalidArgumentError(`--tail must be "skip" or "pad", got "${value}"`);
  return value;
};

export function registerPretrain(program: Command): void {
  const d = PRETRAIN_DEFAULTS;
  program
    .command('pretrain')
    .description('behavior-clone a diffusion policy (DDPM, DDIM sampling) from an HDF5 dataset in D4RL or robomimic layout')
    .requiredOption('--dataset <file.h5>', 'dataset in D4RL or robomimic layout (told apart by its groups)')
    .option('--filter-key <name>', 'robomimic layout: only the demos of mask/<name> (e.g. train)')
    .requiredOption('--out <dir>', 'checkpoint folder to write (model.safetensors + manifest.json)')
    .requiredOption('--steps <n>', 'gradient steps', intArg('--steps'))
    .option('--chunk <n>', 'actions per chunk (Ta)', intArg('--chunk'), d.chunk)
    .option('--seed <n>', 'random seed', intArg('--seed'), d.seed)
    .option('--batch-size <n>', 'batch size', intArg('--batch-size'), d.batchSize)
    .option('--lr <x>', 'Adam learning rate', numArg('--lr'), d.lr)
    .option('--width <n>', 'residual MLP width', intArg('--width'), d.width)
    .option('--depth <n>', 'residual blocks (two Linear layers each)', intArg('--depth'), d.depth)
    .option('--time-dim <n>', 'sinusoidal time-embedding size', intArg('--time-dim'), d.timeDim)
    .option('--T <n>', 'DDPM denoising steps (training)', intArg('--T'), d.T)
    .option('--ddim-steps <n>', 'DDIM steps (sampling)', intArg('--ddim-steps'), d.ddimSteps)
    .option('--tail <mode>', 'episode tails shorter than a chunk: skip (DPPO) or pad (repeat the last action)', tailArg, d.tail)
    .option('--ema-decay <x>', 'EMA decay per EMA update', numArg('--ema-decay'), d.emaDecay)
    .option('--ema-every <n>', 'steps between EMA updates', intArg('--ema-every'), d.emaEvery)
    .option('--ema-start <n>', 'step from which the EMA averages (before: copies the weights)', intArg('--ema-start'), d.emaStart)
    .option('--env <id>', "env whose action bounds normalize the actions (default: the dataset's env metadata)")
    .option('--action-bounds <low,high>', 'scalar action bounds when no registered env gives them', boundsArg)
    .option('--save-raw', 'also save the raw (non-EMA) weights', d.saveRaw)
    .option('--save-every <n>', 'also write the checkpoint every n steps (0: only at the end)', intArg('--save-every'), d.saveEvery)
    .option('--force', 'overwrite an existing checkpoint in --out', d.force)
    .action(async (o) => {
      const manifest = await runPretrain(o);
      console.log(`wrote ${o.out}: ${manifest.weights.parameters} parameters, final loss ${formatLoss(manifest.training?.finalLoss)}`);
    });
}

function formatLoss(value: unknown): string {
  return typeof value === 'number' ? value.toPrecision(4) : 'n/a';
}

/** The env id a dataset names in its metadata (collect writes `env`; other tools `env_id`). */
function datasetEnvId(dataset: D4rlDataset): string | undefined {
  for (const key of ['env_id', 'env']) {
    const v = dataset.metadata[key];
    if (typeof v === 'string' && v.length > 0) return v;
  }
  return undefined;
}

async function resolveActionBounds(
  opts: Pick<PretrainOptions, 'env' | 'actionBounds' | 'dataset'>,
  dataset: D4rlDataset,
): Promise<{ low: Float32Array; high: Float32Array; envId: string | null }> {
  const { makeEnv, registeredEnvIds } = await import('../envs/registry.ts');
  const fromMetadata = datasetEnvId(dataset);
  const envId = opts.env ?? (fromMetadata && registeredEnvIds().includes(fromMetadata) ? fromMetadata : undefined);
  if (opts.actionBounds) {
    const [lo, hi] = opts.actionBounds;
    return { low: new Float32Array(dataset.actionDim).fill(lo), high: new Float32Array(dataset.actionDim).fill(hi), envId: envId ?? null };
  }
  if (!envId) {
    throw new Error(
      `${opts.dataset}: cannot tell the action bounds: the dataset names no registered env` +
        `${fromMetadata ? ` (its metadata says "${fromMetadata}")` : ''}; pass --env <id> (registered: ${registeredEnvIds().join(', ')}) or --action-bounds low,high`,
    );
  }
  const env = await makeEnv(envId);
  try {
    const obsDim = env.observationSpace.size;
    const actDim = env.actionSpace.size;
    if (obsDim !== dataset.obsDim || actDim !== dataset.actionDim) {
      throw new Error(
        `${opts.dataset}: the dataset has obs dim ${dataset.obsDim} and action dim ${dataset.actionDim}, but ${envId} has ${obsDim} and ${actDim}`,
      );
    }
    return { low: env.actionSpace.low.slice(), high: env.actionSpace.high.slice(), envId };
  } finally {
    env.close();
  }
}

export async function runPretrain(
  input: Partial<PretrainOptions> & Pick<PretrainOptions, 'dataset' | 'out' | 'steps'>,
  io: { stream?: ProgressStream; log?: (line: string) => void } = {},
): Promise<DiffusionManifest> {
  const opts = { ...PRETRAIN_DEFAULTS, ...stripUndefined(input) } as PretrainOptions;
  const log = io.log ?? ((line: string) => console.log(line));
  const [
    { readDataset, datasetHash },
    { buildChunkData, DiffusionTrainer, resolvePretrainConfig },
    { checkDiffusionPolicySpec },
    { saveDiffusionCheckpoint },
    { ProgressBar },
    { getBackend },
  ] = await Promise.all([
    import('../data/hdf5.ts'),
    import('../policies/diffusion/train.ts'),
    import('../policies/diffusion/policy.ts'),
    import('../policies/diffusion/checkpoint-io.ts'),
    import('../run/progress.ts'),
    import('../nn/backend.ts'),
  ]);
  if (existsSync(join(opts.out, 'manifest.json')) && !opts.force) {
    throw new Error(`${opts.out} already holds a checkpoint; pass --force to overwrite it`);
  }
  // Validate every training setting before the (possibly long) dataset read.
  const config = resolvePretrainConfig({
    steps: opts.steps,
    batchSize: opts.batchSize,
    lr: opts.lr,
    seed: opts.seed,
    tail: opts.tail,
    emaDecay: opts.emaDecay,
    emaEvery: opts.emaEvery,
    emaStart: opts.emaStart,
  });
  if (!(opts.saveEvery >= 0)) throw new Error(`--save-every must be >= 0, got ${opts.saveEvery}`);
  const shape = { chunk: opts.chunk, denoisingSteps: opts.T, ddimSteps: opts.ddimSteps, timeDim: opts.timeDim, width: opts.width, depth: opts.depth };
  checkDiffusionPolicySpec({ ...shape, obsDim: 1, actDim: 1 }); // the dims come from the dataset

  const dataset = await readDataset(opts.dataset, { filterKey: opts.filterKey });
  if (dataset.size === 0) throw new Error(`${opts.dataset}: the dataset has no steps (0 rows): nothing to clone`);
  const bounds = await resolveActionBounds(opts, dataset);
  const spec = { ...shape, obsDim: dataset.obsDim, actDim: dataset.actionDim };
  const data = buildChunkData(dataset, { chunk: opts.chunk, tail: opts.tail, actionLow: bounds.low, actionHigh: bounds.high });
  const trainer = new DiffusionTrainer(spec, data, config);
  const hash = datasetHash(dataset);
  log(
    `pretrain: ${opts.dataset} (${dataset.size} steps, ${data.episodes} episodes, ${data.starts.length} chunks of ${opts.chunk}, sha256 ${hash.slice(0, 12)}), ` +
      `env ${bounds.envId ?? 'none'}, network ${trainer.model.size} parameters (width ${opts.width}, depth ${opts.depth}), backend ${getBackend().name}`,
  );
  if (data.clippedActions > 0) log(`pretrain: warning: ${data.clippedActions} action values lay outside the action bounds and were clipped`);

  const datasetInfo = {
    path: opts.dataset,
    hash,
    steps: dataset.size,
    episodes: data.episodes,
    chunks: data.starts.length,
    tail: opts.tail,
    clippedActions: data.clippedActions,
  };
  const started = performance.now();
  let recentLoss = NaN;
  const save = (finished: boolean) =>
    saveDiffusionCheckpoint(opts.out, trainer.policy(), {
      envId: bounds.envId,
      dataset: datasetInfo,
      raw: opts.saveRaw ? trainer.model : null,
      training: {
        ...config,
        stepsDone: trainer.step,
        finished,
        finalLoss: Number.isFinite(recentLoss) ? recentLoss : null,
        seconds: (performance.now() - started) / 1000,
        backend: getBackend().name,
      },
    });

  const bar = new ProgressBar({ total: config.steps, label: 'pretrain', stream: io.stream });
  // Loss smoothed over ~100 steps: single batches are noisy (t is drawn per sample).
  for (let i = 0; i < config.steps; i++) {
    const loss = trainer.trainStep();
    recentLoss = Number.isFinite(recentLoss) ? recentLoss + 0.01 * (loss - recentLoss) : loss;
    bar.update(trainer.step, { loss: recentLoss });
    if (opts.saveEvery > 0 && trainer.step % opts.saveEvery === 0 && trainer.step < config.steps) {
      save(false);
      bar.log(`pretrain: checkpoint at step ${trainer.step} -> ${opts.out}`);
    }
  }
  const seconds = (performance.now() - started) / 1000;
  bar.finish({ loss: recentLoss });
  log(
    `pretrain: ${config.steps} steps in ${seconds.toFixed(1)} s (${(config.steps / seconds).toFixed(1)} steps/s), loss ${recentLoss.toPrecision(4)}`,
  );
  return save(true);
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
