/**
 * Node adapter: a diffusion-policy checkpoint is a folder with model.safetensors (EMA weights under
 * "ema.", optionally the raw weights under "raw.") and manifest.json. Both are written atomically,
 * weights first, so the manifest (which carries the weights' SHA-256) only appears once its weights are
 * complete. Loading parses JSON and raw float32 tensors only; nothing in a checkpoint is executed.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Model } from '../../nn/module.ts';
import { decodeSafetensors, encodeSafetensors, modelTensors, type TensorEntry } from '../../nn/safetensors.ts';
import { writeFileAtomic } from '../../node/fs.ts';
import {
  buildManifest,
  EMA_PREFIX,
  MANIFEST_FILE,
  MANIFEST_FORMAT,
  parseManifest,
  policyFromTensors,
  RAW_PREFIX,
  validateManifest,
  WEIGHTS_FILE,
  type DiffusionManifest,
  type EvalResult,
  type ManifestExtras,
  type PolicyExpectation,
} from './manifest.ts';
import type { DiffusionPolicy } from './policy.ts';

export interface SaveCheckpointOptions extends Omit<ManifestExtras, 'raw' | 'sha256'> {
  /** The raw (non-EMA) network, saved beside the EMA weights when given. */
  raw?: Model | null;
}

/** Write `dir/model.safetensors` and `dir/manifest.json`; returns the manifest written. */
export function saveDiffusionCheckpoint(dir: string, policy: DiffusionPolicy, options: SaveCheckpointOptions = {}): DiffusionManifest {
  const { raw, ...extras } = options;
  if (raw && raw.size !== policy.network.size)
    throw new Error(`saveDiffusionCheckpoint: raw network has ${raw.size} parameters, the policy ${policy.network.size}`);
  const tensors: Record<string, TensorEntry> = { ...modelTensors(policy.network, EMA_PREFIX), ...(raw ? modelTensors(raw, RAW_PREFIX) : {}) };
  const numbers = JSON.stringify(manifestNumbers(buildManifest(policy, { ...extras, raw: Boolean(raw) })));
  const bytes = encodeSafetensors(tensors, { format: MANIFEST_FORMAT, manifest: MANIFEST_FILE, [NUMBERS_KEY]: numbers });
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const manifest = buildManifest(policy, { ...extras, raw: Boolean(raw), sha256 });
  writeFileAtomic(join(dir, WEIGHTS_FILE), bytes);
  writeFileAtomic(join(dir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

/**
 * The safetensors metadata key holding the manifest's numbers as saved. The weights' SHA-256 (in the
 * manifest) covers the metadata, so the numbers are checksummed too: a manifest whose denoisingSteps,
 * width, bounds, ... were edited after saving is refused, naming the field, instead of silently
 * sampling another policy.
 */
export const NUMBERS_KEY = 'dsrl.manifest-numbers';

/** Every manifest value that changes what the policy computes (provenance, eval results and dates excluded). */
export function manifestNumbers(m: DiffusionManifest): Record<string, unknown> {
  return {
    obsDim: m.obsDim,
    actDim: m.actDim,
    chunk: m.chunk,
    denoisingSteps: m.denoisingSteps,
    ddimSteps: m.ddimSteps,
    architecture: m.architecture,
    schedule: m.schedule,
    sampler: m.sampler,
    normalization: m.normalization,
    actionLow: m.actionLow,
    actionHigh: m.actionHigh,
    weights: { emaPrefix: m.weights.emaPrefix, rawPrefix: m.weights.rawPrefix, parameters: m.weights.parameters },
  };
}

/** Throws naming the first manifest field that differs from the numbers saved with the weights. */
function checkNumbers(m: DiffusionManifest, saved: string | undefined, manifestPath: string, weightsPath: string): void {
  if (saved === undefined) return; // a checkpoint from before the numbers were saved with the weights
  let want: unknown;
  try {
    want = JSON.parse(saved);
  } catch {
    throw new Error(`${weightsPath}: metadata "${NUMBERS_KEY}" is not valid JSON (a damaged file)`);
  }
  const got = manifestNumbers(m);
  const diff = (a: unknown, b: unknown, path: string): string | null => {
    if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null) {
      for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
        const d = diff((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], path ? `${path}.${k}` : k);
        if (d) return d;
      }
      return null;
    }
    return Object.is(a, b) ? null : `${path} is ${JSON.stringify(a)} but the weights were saved with ${JSON.stringify(b)}`;
  };
  const d = diff(got, want, '');
  if (d)
    throw new Error(
      `${manifestPath} was edited after saving: ${d} (recorded in ${weightsPath}, which its SHA-256 covers); restore the value or re-save the checkpoint`,
    );
}

/** The checkpoint folder for a path that names either the folder or its manifest.json. */
export function checkpointDir(path: string): string {
  return basename(path) === MANIFEST_FILE && !isDirectory(path) ? dirname(path) : path;
}

export function readManifest(dirOrManifest: string): DiffusionManifest {
  const dir = checkpointDir(dirOrManifest);
  const manifestPath = join(dir, MANIFEST_FILE);
  if (!existsSync(dir)) throw new Error(`${dir}: no such checkpoint folder`);
  if (!existsSync(manifestPath)) throw new Error(`${manifestPath}: missing (is ${dir} a diffusion-policy checkpoint folder?)`);
  return parseManifest(readText(manifestPath), manifestPath);
}

export interface LoadPolicyOptions {
  /** Dims of the env the policy will run in; a mismatch is refused with an error naming both. */
  expect?: PolicyExpectation;
  /** Sample with the raw weights instead of the EMA ones (needs a checkpoint saved with them). */
  useRaw?: boolean;
}

export function loadDiffusionCheckpoint(
  dirOrManifest: string,
  options: LoadPolicyOptions = {},
): { policy: DiffusionPolicy; manifest: DiffusionManifest } {
  const dir = checkpointDir(dirOrManifest);
  const manifest = readManifest(dir);
  const manifestPath = join(dir, MANIFEST_FILE);
  const weightsPath = join(dir, manifest.weights.file);
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(weightsPath);
  } catch (err) {
    throw new Error(`${weightsPath}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); ${manifestPath} refers to it`);
  }
  if (manifest.weights.sha256 !== null) {
    const actual = createHash('sha256').update(bytes).digest('hex');
    if (actual !== manifest.weights.sha256) {
      throw new Error(
        `${weightsPath} does not match ${manifestPath}: its SHA-256 is ${actual.slice(0, 12)}..., the manifest records ${manifest.weights.sha256.slice(0, 12)}... (weights from another checkpoint, or a damaged file)`,
      );
    }
  }
  const { tensors, metadata } = decodeSafetensors(bytes, weightsPath);
  checkNumbers(manifest, metadata[NUMBERS_KEY], manifestPath, weightsPath);
  const policy = policyFromTensors(manifest, tensors, {
    expect: options.expect,
    useRaw: options.useRaw,
    manifestSource: manifestPath,
    weightsSource: weightsPath,
  });
  return { policy, manifest };
}

export function loadDiffusionPolicy(dirOrManifest: string, options: LoadPolicyOptions = {}): DiffusionPolicy {
  return loadDiffusionCheckpoint(dirOrManifest, options).policy;
}

/** Append an evaluation result to a checkpoint's manifest (atomic rewrite; the weights are untouched). */
export function recordEvalResult(dirOrManifest: string, result: EvalResult): DiffusionManifest {
  const dir = checkpointDir(dirOrManifest);
  const manifest = readManifest(dir);
  const updated = validateManifest({ ...manifest, eval: [...manifest.eval, result] }, join(dir, MANIFEST_FILE));
  writeFileAtomic(join(dir, MANIFEST_FILE), `${JSON.stringify(updated, null, 2)}\n`);
  return updated;
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
