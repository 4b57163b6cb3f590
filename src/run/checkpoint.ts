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
 * Loading reads and verifies every file (size, checksum, format version, kind, dims) before anything is
 * restored, with an error that names the file and what is wrong.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { Rng, RngState } from '../core/rng.ts';
import { ReplayBuffer, type FieldDims } from '../data/replay-buffer.ts';
import { decodeReplayState, encodeReplayState } from '../data/replay-io.ts';
import type { EnvState } from '../envs/env.ts';
import type { VectorEnv } from '../envs/vector.ts';
import { writeFileAtomic } from '../node/fs.ts';
import { checkLoopCheckpoint, type LoopCheckpoint } from './offpolicy.ts';
import { decodeStateTree, encodeStateTree } from './state-tree.ts';

export const CHECKPOINT_FORMAT = 'dsrl-train-state';
export const CHECKPOINT_VERSION = 1;
/** Where a run folder keeps its resume checkpoints. */
export const TRAIN_STATE_DIR = 'train-state';
export const MANIFEST_FILE = 'manifest.json';

const FILES = {
  agent: 'agent.safetensors',
  buffer: 'replay.safetensors',
  env: 'env.safetensors',
  loop: 'loop.safetensors',
  run: 'run.safetensors',
} as const;

const STEP_DIR = /^step-(\d+)$/;

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
}

const fileEntrySchema = z.object({ bytes: z.number().int().nonnegative(), sha256: z.string().regex(/^[0-9a-f]{64}$/) }).strict();

const manifestSchema = z.object({
  format: z.literal(CHECKPOINT_FORMAT),
  version: z.number().int(),
  kind: z.string(),
  step: z.number().int().nonnegative(),
  vectorSteps: z.number().int().nonnegative(),
  updates: z.number().int().nonnegative(),
  createdAt: z.string(),
  dims: z.object({ obsDim: z.number().int().positive(), actDim: z.number().int().positive(), numEnvs: z.number().int().positive() }).strict(),
  buffer: z.object({ size: z.number().int().nonnegative(), capacity: z.number().int().positive(), fields: z.record(z.string(), z.number().int().positive()) }).strict(),
  rngs: z.array(z.string()),
  files: z.record(z.string(), fileEntrySchema),
}).strict();

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
  if (typeof env.getState !== 'function') throw new Error('saveCheckpoint: the training env does not implement getState(), so the run cannot be checkpointed');
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

/** What the run being resumed looks like; a checkpoint that disagrees is refused. */
export interface CheckpointExpectation {
  kind?: string;
  obsDim?: number;
  actDim?: number;
  numEnvs?: number;
  /** Exact extra replay fields and widths (e.g. DSRL-NA's real action chunks). */
  bufferFields?: FieldDims;
}

/** A checkpoint read from disk and verified, not yet applied to anything. */
export interface LoadedCheckpoint {
  dir: string;
  manifest: CheckpointManifest;
  agent: unknown;
  buffer: ReplayBuffer;
  env: EnvState;
  loop: LoopCheckpoint;
  rngs: Record<string, RngState>;
  extra: unknown;
}

/** Read and verify a checkpoint folder (every file's size and checksum, format version, kind, dims). */
export function readCheckpoint(dir: string, expect: CheckpointExpectation = {}): LoadedCheckpoint {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new Error(`${dir}: no checkpoint folder there`);
  const manifestPath = join(dir, MANIFEST_FILE);
  if (!existsSync(manifestPath)) throw new Error(`${dir}: not a dsrl checkpoint (no ${MANIFEST_FILE}; an interrupted save never has one)`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(manifestPath, 'utf8'));
  } catch (err) {
    throw new Error(`${manifestPath}: not valid JSON (${(err as Error).message})`);
  }
  const rawRecord = raw as Record<string, unknown> | null;
  if (rawRecord && typeof rawRecord === 'object' && rawRecord.format === CHECKPOINT_FORMAT && rawRecord.version !== CHECKPOINT_VERSION) {
    throw new Error(`${dir}: checkpoint format version ${String(rawRecord.version)}, this build reads version ${CHECKPOINT_VERSION}`);
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`${manifestPath}: invalid manifest at ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const manifest = parsed.data;
  checkExpectation(dir, manifest, expect);

  const read = (name: string): Uint8Array => {
    const entry = manifest.files[name];
    if (!entry) throw new Error(`${dir}: ${MANIFEST_FILE} does not list ${name}`);
    const path = join(dir, name);
    if (!existsSync(path)) throw new Error(`${dir}: checkpoint is missing ${name} (listed in ${MANIFEST_FILE})`);
    const bytes = readFileSync(path);
    if (bytes.length !== entry.bytes) throw new Error(`${path}: ${bytes.length} bytes, ${MANIFEST_FILE} says ${entry.bytes} (truncated or corrupted)`);
    if (sha256(bytes) !== entry.sha256) throw new Error(`${path}: corrupted (SHA-256 does not match ${MANIFEST_FILE})`);
    return bytes;
  };
  const tree = (name: string): unknown => decodeStateTree(read(name), join(dir, name));

  const agent = tree(FILES.agent);
  const bufferPath = join(dir, FILES.buffer);
  const bufferState = decodeReplayState(read(FILES.buffer), bufferPath);
  if (bufferState.obsDim !== manifest.dims.obsDim || bufferState.actionDim !== manifest.dims.actDim) {
    throw new Error(`${bufferPath}: buffer dims obs ${bufferState.obsDim} / action ${bufferState.actionDim} disagree with ${MANIFEST_FILE}`);
  }
  let buffer: ReplayBuffer;
  try {
    buffer = ReplayBuffer.fromState(bufferState);
  } catch (err) {
    throw new Error(`${bufferPath}: ${(err as Error).message}`);
  }
  const env = tree(FILES.env) as EnvState;
  const loop = tree(FILES.loop) as LoopCheckpoint;
  try {
    checkLoopCheckpoint(loop, manifest.dims.numEnvs, manifest.dims.obsDim);
  } catch (err) {
    throw new Error(`${join(dir, FILES.loop)}: ${(err as Error).message}`);
  }
  if (loop.state.envSteps !== manifest.step) throw new Error(`${dir}: loop is at step ${loop.state.envSteps} but ${MANIFEST_FILE} says ${manifest.step}`);
  const run = tree(FILES.run) as { rngs?: Record<string, RngState>; extra?: unknown };
  return { dir, manifest, agent, buffer, env, loop, rngs: run.rngs ?? {}, extra: run.extra };
}

/** The targets a checkpoint is restored into. */
export interface RestoreTargets {
  kind: string;
  agent: StatefulAgent;
  env: VectorEnv;
  /** Generators to restore in place; each name must be in the checkpoint. */
  rngs?: Record<string, Rng>;
  /** Extra replay fields the run's buffer has (checked exactly). */
  bufferFields?: FieldDims;
}

/** What a restore hands back for the caller to build the loop with: `createOffPolicyLoop({buffer, resume: loop})`. */
export interface RestoredCheckpoint {
  dir: string;
  step: number;
  manifest: CheckpointManifest;
  buffer: ReplayBuffer;
  loop: LoopCheckpoint;
  extra: unknown;
}

/**
 * Read and verify the checkpoint in `dir`, then load the agent, the env's state and the named generators in
 * place. The replay buffer and loop checkpoint come back to build the loop from. Every file is verified before
 * anything is loaded; a load that still fails (e.g. an agent of another size) names the file, and the caller
 * should then discard the half-restored objects.
 */
export async function restoreCheckpoint(dir: string, targets: RestoreTargets): Promise<RestoredCheckpoint> {
  const { env } = targets;
  if (typeof env.setState !== 'function') throw new Error(`${dir}: the training env does not implement setState(), so the run cannot be restored`);
  const loaded = readCheckpoint(dir, {
    kind: targets.kind,
    obsDim: env.singleObservationSpace.size,
    actDim: env.singleActionSpace.size,
    numEnvs: env.numEnvs,
    bufferFields: targets.bufferFields,
  });
  for (const name of Object.keys(targets.rngs ?? {})) {
    if (!(name in loaded.rngs)) throw new Error(`${dir}: checkpoint has no generator "${name}" (it has: ${Object.keys(loaded.rngs).join(', ') || 'none'})`);
  }
  try {
    targets.agent.load(loaded.agent);
  } catch (err) {
    throw new Error(`${join(dir, FILES.agent)}: cannot load into this agent: ${(err as Error).message}`);
  }
  try {
    await env.setState(loaded.env);
  } catch (err) {
    throw new Error(`${join(dir, FILES.env)}: cannot restore the env: ${(err as Error).message}`);
  }
  for (const [name, rng] of Object.entries(targets.rngs ?? {})) rng.setState(loaded.rngs[name]);
  return { dir, step: loaded.manifest.step, manifest: loaded.manifest, buffer: loaded.buffer, loop: loaded.loop, extra: loaded.extra };
}

function checkExpectation(dir: string, manifest: CheckpointManifest, expect: CheckpointExpectation): void {
  if (expect.kind !== undefined && manifest.kind !== expect.kind) {
    throw new Error(`${dir}: checkpoint of a '${manifest.kind}' run, this is a '${expect.kind}' run`);
  }
  const d = manifest.dims;
  const want = { obsDim: expect.obsDim ?? d.obsDim, actDim: expect.actDim ?? d.actDim, numEnvs: expect.numEnvs ?? d.numEnvs };
  if (want.obsDim !== d.obsDim || want.actDim !== d.actDim || want.numEnvs !== d.numEnvs) {
    const describe = (x: typeof d) => `obs dim ${x.obsDim}, action dim ${x.actDim}, ${x.numEnvs} envs`;
    throw new Error(`${dir}: checkpoint was saved with ${describe(d)}, but this run has ${describe(want)}`);
  }
  if (expect.bufferFields !== undefined) {
    const describe = (f: FieldDims) => JSON.stringify(Object.fromEntries(Object.entries(f).sort(([a], [b]) => a.localeCompare(b))));
    if (describe(manifest.buffer.fields) !== describe(expect.bufferFields)) {
      throw new Error(`${dir}: checkpoint's replay fields are ${describe(manifest.buffer.fields)}, this run's are ${describe(expect.bufferFields)}`);
    }
  }
}

/** Drop all but the newest `keep` checkpoints, and temp folders of saves that never finished. */
function pruneCheckpoints(root: string, keep: number): void {
  const complete = listCheckpoints(root);
  for (const { dir } of complete.slice(0, Math.max(0, complete.length - keep))) rmSync(dir, { recursive: true, force: true });
  for (const name of readdirSync(root)) {
    if (name.startsWith('.tmp-step-') || name.startsWith('.old-step-')) rmSync(join(root, name), { recursive: true, force: true });
  }
}

function stepDirName(step: number): string {
  return `step-${String(step).padStart(12, '0')}`;
}

function sha256(bytes: Uint8Array): string {
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
