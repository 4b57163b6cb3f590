/**
 * Node: whole-training-state checkpoints, so a stopped run resumes exactly as if it had never stopped
 * (bit-identical weights, buffer and logged metrics). Generic over the pieces of an off-policy run, so SAC,
 * DSRL-SAC and DSRL-NA share it: any agent with `state()/load()`, the replay buffer, a vector env with
 * `getState()/setState()` (a vector wrapper such as DSRL's noise-action env just delegates to its inner env),
 * the loop, and any extra generators or caller data.
 *
 * Layout: `<root>/step-<envSteps, 12 digits>/`, where root is usually `<run folder>/train-state`:
 *   manifest.json       format, version, kind of run, step, dims, what is inside, size + SHA-256 of each file
 *   agent.safetensors   agent.state()                      (state-tree.ts)
 *   replay.safetensors  the replay buffer                  (replay-io.ts, with its own checksum)
 *   env.safetensors     env.getState(): every sub-env mid-episode plus the autoreset flags
 *   loop.safetensors    loop.checkpoint(): counters, current observations, loop Rng, metric accumulators
 *   run.safetensors     the caller's extra generators and data (e.g. eval history)
 *
 * Atomicity: everything is written into a hidden temp folder beside the checkpoints, fsync'ed, then the
 * folder is renamed into place, so a crash never leaves a half checkpoint. The newest `keep` (default 2)
 * checkpoints are kept, so the previous one survives while the next is written.
 *
 * Loading (checkpoint-restore.ts) reads and verifies every file (size, checksum, format version, kind,
 * dims, config) before anything is restored, with an error that names the file and what is wrong.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { Rng, RngState } from '../core/rng.ts';
import type { ReplayBuffer } from '../data/replay-buffer.ts';
import { encodeReplayState } from '../data/replay-io.ts';
import type { VectorEnv } from '../envs/vector.ts';
import { writeFileAtomic } from '../node/fs.ts';
import type { LoopCheckpoint } from './offpolicy.ts';
import { encodeStateTree } from './state-tree.ts';

export const CHECKPOINT_FORMAT = 'dsrl-train-state';
/**
 * 2: named random streams (a run's generators no longer depend on the order of splits), the loop's
 * checkpoint without evaluation state, and the SHA-256 of the run's config.json.
 */
export const CHECKPOINT_VERSION = 2;
/** Where a run folder keeps its resume checkpoints. */
export const TRAIN_STATE_DIR = 'train-state';
export const MANIFEST_FILE = 'manifest.json';

export const FILES = {
  agent: 'agent.safetensors',
  buffer: 'replay.safetensors',
  env: 'env.safetensors',
  loop: 'loop.safetensors',
  run: 'run.safetensors',
} as const;

export const STEP_DIR = /^step-(\d+)$/;

/** Anything whose whole mutable state round-trips through state()/load() (SAC, DSRL-NA, ...). */
export interface StatefulAgent {
  state(): unknown;
  load(state: unknown): void;
}

/** The pieces of a training run a checkpoint holds. */
export interface TrainingStateParts {
  /** What kind of run this is (e.g. 'sac', 'dsrl-na'); loading a checkpoint of another kind is refused. */
  kind: string;
  agent: StatefulAgent;
  buffer: ReplayBuffer;
  /** The training env; it must implement getState()/setState(). The eval env is reset with a fixed seed each time, so it is not saved. */
  env: VectorEnv;
  loop: { checkpoint(): LoopCheckpoint };
  /** Generators the caller owns besides those of the agent, buffer, env and loop (which save their own). */
  rngs?: Record<string, Rng>;
  /** Caller data restored with the run: JSON values and typed arrays (e.g. the evaluation history). */
  extra?: unknown;
  /** SHA-256 of the run's config.json: a resume refuses a config edited since the checkpoint. */
  configSha256?: string;
}

const fileEntrySchema = z.object({ bytes: z.number().int().nonnegative(), sha256: z.string().regex(/^[0-9a-f]{64}$/) }).strict();

export const manifestSchema = z
  .object({
    format: z.literal(CHECKPOINT_FORMAT),
    version: z.number().int(),
    kind: z.string(),
    step: z.number().int().nonnegative(),
    vectorSteps: z.number().int().nonnegative(),
    updates: z.number().int().nonnegative(),
    createdAt: z.string(),
    dims: z.object({ obsDim: z.number().int().positive(), actDim: z.number().int().positive(), numEnvs: z.number().int().positive() }).strict(),
    buffer: z
      .object({
        size: z.number().int().nonnegative(),
        capacity: z.number().int().positive(),
        fields: z.record(z.string(), z.number().int().positive()),
      })
      .strict(),
    rngs: z.array(z.string()),
    configSha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/)
      .nullable(),
    files: z.record(z.string(), fileEntrySchema),
  })
  .strict();

export type CheckpointManifest = z.infer<typeof manifestSchema>;

export interface SaveCheckpointOptions {
  /** Checkpoints to keep, newest first (>= 1). Default 2. */
  keep?: number;
}

/** Save a checkpoint of the run into `root` (e.g. `<run>/train-state`); call it between loop iterations. Returns its folder. */
export async function saveCheckpoint(root: string, parts: TrainingStateParts, options: SaveCheckpointOptions = {}): Promise<string> {
  const keep = options.keep ?? 2;
  if (!Number.isInteger(keep) || keep < 1) throw new Error(`saveCheckpoint: keep must be a positive integer, got ${keep}`);
  const { env, buffer } = parts;
  if (typeof env.getState !== 'function')
    throw new Error('saveCheckpoint: the training env does not implement getState(), so the run cannot be checkpointed');
  // Capture everything first (the only await), then encode: the snapshot is of one moment.
  const envState = await env.getState();
  const loop = parts.loop.checkpoint();
  const agentState = parts.agent.state();
  const bufferState = buffer.toState();
  const rngs: Record<string, RngState> = {};
  for (const [name, rng] of Object.entries(parts.rngs ?? {})) rngs[name] = rng.state();

  const contents: Record<string, Uint8Array> = {
    [FILES.agent]: encodeStateTree(agentState),
    [FILES.buffer]: encodeReplayState(bufferState),
    [FILES.env]: encodeStateTree(envState),
    [FILES.loop]: encodeStateTree(loop),
    [FILES.run]: encodeStateTree({ rngs, extra: parts.extra }),
  };
  const step = loop.state.envSteps;
  const manifest: CheckpointManifest = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    kind: parts.kind,
    step,
    vectorSteps: loop.state.vectorSteps,
    updates: loop.state.updates,
    createdAt: new Date().toISOString(),
    dims: { obsDim: env.singleObservationSpace.size, actDim: env.singleActionSpace.size, numEnvs: env.numEnvs },
    buffer: { size: bufferState.size, capacity: bufferState.capacity, fields: bufferState.fields },
    rngs: Object.keys(rngs),
    configSha256: parts.configSha256 ?? null,
    files: Object.fromEntries(Object.entries(contents).map(([name, bytes]) => [name, { bytes: bytes.length, sha256: sha256(bytes) }])),
  };

  mkdirSync(root, { recursive: true });
  const finalDir = join(root, stepDirName(step));
  const tmpDir = join(root, `.tmp-${stepDirName(step)}-${process.pid}-${Date.now()}`);
  mkdirSync(tmpDir);
  try {
    for (const [name, bytes] of Object.entries(contents)) writeFileAtomic(join(tmpDir, name), bytes);
    // The manifest last: a folder with a manifest has all its files.
    writeFileAtomic(join(tmpDir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
    fsyncDir(tmpDir);
    if (existsSync(finalDir)) {
      // Same step saved before (a resumed run passing it again): swap, never leaving the step missing for long.
      const oldDir = join(root, `.old-${stepDirName(step)}-${process.pid}-${Date.now()}`);
      renameSync(finalDir, oldDir);
      renameSync(tmpDir, finalDir);
      rmSync(oldDir, { recursive: true, force: true });
    } else {
      renameSync(tmpDir, finalDir);
    }
    fsyncDir(root);
  } catch (err) {
    rmSync(tmpDir, { recursive: true, force: true });
    throw err;
  }
  pruneCheckpoints(root, keep);
  return finalDir;
}

/** The checkpoints in `root`, oldest first (only complete ones: a folder with a manifest). */
export function listCheckpoints(root: string): Array<{ step: number; dir: string }> {
  if (!existsSync(root)) return [];
  const found: Array<{ step: number; dir: string }> = [];
  for (const name of readdirSync(root)) {
    const match = STEP_DIR.exec(name);
    if (match && existsSync(join(root, name, MANIFEST_FILE))) found.push({ step: Number(match[1]), dir: join(root, name) });
  }
  return found.sort((a, b) => a.step - b.step);
}

/** The newest checkpoint folder in `root`, or null. */
export function latestCheckpoint(root: string): string | null {
  return listCheckpoints(root).at(-1)?.dir ?? null;
}

/** Drop all but the newest `keep` checkpoints, and temp folders of saves that never finished. */
function pruneCheckpoints(root: string, keep: number): void {
  const complete = listCheckpoints(root);
  for (const { dir } of complete.slice(0, Math.max(0, complete.length - keep))) {
    // The manifest first: a kill mid-delete must not leave a folder that still looks complete.
    rmSync(join(dir, MANIFEST_FILE), { force: true });
    rmSync(dir, { recursive: true, force: true });
  }
  for (const name of readdirSync(root)) {
    if (name.startsWith('.tmp-step-') || name.startsWith('.old-step-')) rmSync(join(root, name), { recursive: true, force: true });
  }
}

function stepDirName(step: number): string {
  return `step-${String(step).padStart(12, '0')}`;
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Make a rename or new entry durable (POSIX); a no-op where folders cannot be opened (Windows). */
function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Best effort: the data files themselves were fsync'ed.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
