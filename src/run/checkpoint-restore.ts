/**
 * Node: reading, verifying and restoring the whole-training-state checkpoints that checkpoint.ts writes.
 * Every file's size and checksum, the format version, the kind of run, its dims and its config are
 * checked before anything is restored, with an error that names the file and what is wrong.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Rng, RngState } from '../core/rng.ts';
import { ReplayBuffer, type FieldDims } from '../data/replay-buffer.ts';
import { decodeReplayState } from '../data/replay-io.ts';
import type { EnvState } from '../envs/env.ts';
import type { VectorEnv } from '../envs/vector.ts';
import {
  CHECKPOINT_FORMAT,
  CHECKPOINT_VERSION,
  FILES,
  MANIFEST_FILE,
  manifestSchema,
  sha256,
  type CheckpointManifest,
  type StatefulAgent,
} from './checkpoint.ts';
import { checkLoopCheckpoint, type LoopCheckpoint } from './offpolicy.ts';
import { decodeStateTree } from './state-tree.ts';

/** What the run being resumed looks like; a checkpoint that disagrees is refused. */
export interface CheckpointExpectation {
  kind?: string;
  obsDim?: number;
  actDim?: number;
  numEnvs?: number;
  /** Exact extra replay fields and widths (e.g. DSRL-NA's real action chunks). */
  bufferFields?: FieldDims;
  /** SHA-256 of the run's config.json now; a checkpoint that recorded another one is refused. */
  configSha256?: string;
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
    const older = typeof rawRecord.version === 'number' && rawRecord.version < CHECKPOINT_VERSION;
    throw new Error(
      `${dir}: checkpoint format version ${String(rawRecord.version)}, this build reads version ${CHECKPOINT_VERSION}` +
        (older
          ? ' (saved by an older dsrl, whose random streams differ, so it cannot continue the run exactly); its saved agents still evaluate with `dsrl eval --run`; start the run again to train further'
          : ' (saved by a newer dsrl); use that version to resume it'),
    );
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
    if (bytes.length !== entry.bytes)
      throw new Error(`${path}: ${bytes.length} bytes, ${MANIFEST_FILE} says ${entry.bytes} (truncated or corrupted)`);
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
  if (loop.state.envSteps !== manifest.step)
    throw new Error(`${dir}: loop is at step ${loop.state.envSteps} but ${MANIFEST_FILE} says ${manifest.step}`);
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
  /** SHA-256 of the run's config.json now (checked against the checkpoint's). */
  configSha256?: string;
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
    configSha256: targets.configSha256,
  });
  for (const name of Object.keys(targets.rngs ?? {})) {
    if (!(name in loaded.rngs))
      throw new Error(`${dir}: checkpoint has no generator "${name}" (it has: ${Object.keys(loaded.rngs).join(', ') || 'none'})`);
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
  if (expect.configSha256 !== undefined && manifest.configSha256 !== null && manifest.configSha256 !== expect.configSha256) {
    throw new Error(
      `${dir}: the run's config.json was changed after this checkpoint was saved, and a run resumes only with the config it was saved with; ` +
        'restore config.json, or start a new run with the new options (steps and checkpointEvery may change on resume: pass them as options)',
    );
  }
  if (expect.bufferFields !== undefined) {
    const describe = (f: FieldDims) => JSON.stringify(Object.fromEntries(Object.entries(f).sort(([a], [b]) => a.localeCompare(b))));
    if (describe(manifest.buffer.fields) !== describe(expect.bufferFields)) {
      throw new Error(`${dir}: checkpoint's replay fields are ${describe(manifest.buffer.fields)}, this run's are ${describe(expect.bufferFields)}`);
    }
  }
}
