/**
 * The checkpoint manifest (manifest.json beside model.safetensors): everything needed to rebuild and
 * run the policy (dims, chunk, T, S, architecture, normalization, action bounds) plus provenance
 * (env id, dataset hash, training config, eval results). Validated with zod on load; loading never
 * executes code. Errors name the file and the field.
 *
 * Core module: no Node imports. File reading/writing: checkpoint-io.ts.
 */
import { z } from 'zod';
import type { Model } from '../../nn/module.ts';
import { loadModelTensors, type TensorEntry } from '../../nn/safetensors.ts';
import { DIFFUSION_ACTIVATION, diffusionMlpParameterCount } from './network.ts';
import { OBS_RANGE_EPS } from './normalization.ts';
import { createDiffusionNetwork, DiffusionPolicy, type DiffusionPolicySpec } from './policy.ts';
import { COSINE_S, MAX_BETA } from './schedule.ts';
import { Rng } from '../../core/rng.ts';

export const MANIFEST_FORMAT = 'dsrl-diffusion-policy';
/** Bump when a manifest written by this version could be misread by an older reader. */
export const MANIFEST_VERSION = 1;
export const MANIFEST_FILE = 'manifest.json';
export const WEIGHTS_FILE = 'model.safetensors';
/** Tensor-name prefixes in model.safetensors: EMA weights (sampled with) and, optionally, the raw ones. */
export const EMA_PREFIX = 'ema.';
export const RAW_PREFIX = 'raw.';

const posInt = z.number().int().positive();
const finite = z.number(); // zod 4 rejects NaN and +-Infinity for z.number()

/**
 * Upper bounds on a manifest's sizes, far above any policy dsrl trains (the shipped ones: width 512,
 * T 20) yet low enough that nothing is allocated for a number no policy could have: a 1 KB manifest
 * saying denoisingSteps 2e9 or width 1e6 is refused before any schedule or network is built.
 */
export const MANIFEST_LIMITS = {
  obsDim: 1 << 16,
  actDim: 1 << 12,
  chunk: 1 << 10,
  /** chunk * actDim */
  xDim: 1 << 16,
  denoisingSteps: 100_000,
  timeDim: 1 << 12,
  width: 1 << 14,
  depth: 256,
  /** 2^28 float32 values: 1 GiB of weights. */
  parameters: 1 << 28,
} as const;
const upTo = (max: number) => posInt.max(max);

export const evalResultSchema = z.object({
  envId: z.string(),
  episodes: posInt,
  seed: z.number().int(),
  returnMean: finite,
  returnStd: finite,
  returnMin: finite,
  returnMax: finite,
  lengthMean: finite,
  /** Share of episodes that succeeded, for envs whose info carries `success` (manipulation tasks). */
  successRate: z.number().min(0).max(1).optional(),
  /** ISO time of the evaluation. */
  at: z.string(),
});
export type EvalResult = z.infer<typeof evalResultSchema>;

export const datasetInfoSchema = z.object({
  path: z.string(),
  /** datasetHash(): SHA-256 over the arrays in canonical form. */
  hash: z.string().regex(/^[0-9a-f]{64}$/, 'must be a 64-digit hex SHA-256'),
  steps: z.number().int().nonnegative(),
  episodes: z.number().int().nonnegative(),
  chunks: z.number().int().nonnegative(),
  tail: z.enum(['skip', 'pad']),
  clippedActions: z.number().int().nonnegative(),
});
export type DatasetInfo = z.infer<typeof datasetInfoSchema>;

export const manifestSchema = z
  .strictObject({
    format: z.literal(MANIFEST_FORMAT),
    formatVersion: z.literal(MANIFEST_VERSION),
    obsDim: upTo(MANIFEST_LIMITS.obsDim),
    actDim: upTo(MANIFEST_LIMITS.actDim),
    chunk: upTo(MANIFEST_LIMITS.chunk),
    denoisingSteps: upTo(MANIFEST_LIMITS.denoisingSteps),
    ddimSteps: posInt,
    architecture: z.strictObject({
      kind: z.literal('dppo-diffusion-mlp'),
      timeDim: upTo(MANIFEST_LIMITS.timeDim),
      width: upTo(MANIFEST_LIMITS.width),
      depth: z.number().int().nonnegative().max(MANIFEST_LIMITS.depth),
      activation: z.literal(DIFFUSION_ACTIVATION),
    }),
    /** Fixed by this format version; recorded so a reader can see what the weights were trained with. */
    schedule: z.strictObject({
      kind: z.literal('cosine'),
      s: z.literal(COSINE_S),
      maxBeta: z.literal(MAX_BETA),
      prediction: z.literal('epsilon'),
    }),
    sampler: z.strictObject({
      kind: z.literal('ddim'),
      eta: z.literal(0),
      timesteps: z.literal('leading'),
      clipDenoised: z.literal(1),
    }),
    normalization: z.strictObject({
      obsMin: z.array(finite),
      obsMax: z.array(finite),
      obsRangeEps: z.literal(OBS_RANGE_EPS),
    }),
    actionLow: z.array(finite),
    actionHigh: z.array(finite),
    weights: z.strictObject({
      file: z.literal(WEIGHTS_FILE),
      emaPrefix: z.literal(EMA_PREFIX),
      /** RAW_PREFIX when the raw (non-EMA) weights are saved too. */
      rawPrefix: z.literal(RAW_PREFIX).nullable(),
      parameters: upTo(MANIFEST_LIMITS.parameters),
      /** SHA-256 of model.safetensors, so a manifest is never paired with other weights of the same shapes. */
      sha256: z
        .string()
        .regex(/^[0-9a-f]{64}$/, 'must be a 64-digit hex SHA-256')
        .nullable(),
    }),
    envId: z.string().nullable(),
    dataset: datasetInfoSchema.nullable(),
    /** The training configuration, as given (informational). */
    training: z.record(z.string(), z.unknown()).nullable(),
    eval: z.array(evalResultSchema),
    createdAt: z.string(),
  })
  .superRefine((m, ctx) => {
    const need = (path: (string | number)[], got: number, want: number, what: string) => {
      if (got !== want) ctx.addIssue({ code: 'custom', path, message: `expected ${want} values (${what}), got ${got}` });
    };
    need(['normalization', 'obsMin'], m.normalization.obsMin.length, m.obsDim, 'obsDim');
    need(['normalization', 'obsMax'], m.normalization.obsMax.length, m.obsDim, 'obsDim');
    need(['actionLow'], m.actionLow.length, m.actDim, 'actDim');
    need(['actionHigh'], m.actionHigh.length, m.actDim, 'actDim');
    m.normalization.obsMin.forEach((lo, j) => {
      if (j < m.normalization.obsMax.length && m.normalization.obsMax[j] < lo) {
        ctx.addIssue({ code: 'custom', path: ['normalization', 'obsMax', j], message: `is below obsMin (${m.normalization.obsMax[j]} < ${lo})` });
      }
    });
    m.actionLow.forEach((lo, j) => {
      if (j < m.actionHigh.length && !(m.actionHigh[j] > lo)) {
        ctx.addIssue({ code: 'custom', path: ['actionHigh', j], message: `must exceed actionLow (${m.actionHigh[j]} <= ${lo})` });
      }
    });
    if (m.ddimSteps > m.denoisingSteps) {
      ctx.addIssue({ code: 'custom', path: ['ddimSteps'], message: `must not exceed denoisingSteps (${m.ddimSteps} > ${m.denoisingSteps})` });
    }
    if (m.architecture.timeDim % 2 !== 0 || m.architecture.timeDim < 4) {
      ctx.addIssue({ code: 'custom', path: ['architecture', 'timeDim'], message: `must be an even integer >= 4, got ${m.architecture.timeDim}` });
      return;
    }
    if (m.chunk * m.actDim > MANIFEST_LIMITS.xDim) {
      ctx.addIssue({
        code: 'custom',
        path: ['chunk'],
        message: `chunk x actDim is ${m.chunk * m.actDim}, above the limit of ${MANIFEST_LIMITS.xDim}`,
      });
      return;
    }
    // The architecture's size, by arithmetic, against the count recorded with the weights: a width or
    // depth edited by hand is refused here, before a network of that size is allocated.
    const count = diffusionMlpParameterCount(networkSpecOf(m));
    if (count !== m.weights.parameters) {
      ctx.addIssue({
        code: 'custom',
        path: ['weights', 'parameters'],
        message: `is ${m.weights.parameters} but the architecture described (timeDim ${m.architecture.timeDim}, width ${m.architecture.width}, depth ${m.architecture.depth}) has ${count}`,
      });
    }
  });

function networkSpecOf(m: { obsDim: number; actDim: number; chunk: number; architecture: { timeDim: number; width: number; depth: number } }) {
  const a = m.architecture;
  return { xDim: m.chunk * m.actDim, obsDim: m.obsDim, timeDim: a.timeDim, width: a.width, depth: a.depth };
}

export type DiffusionManifest = z.infer<typeof manifestSchema>;

/** Validate parsed JSON; `source` (the manifest's path) starts every error. */
export function validateManifest(json: unknown, source = MANIFEST_FILE): DiffusionManifest {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error(`${source}: not a JSON object`);
  const raw = json as Record<string, unknown>;
  if (raw.format !== MANIFEST_FORMAT) {
    throw new Error(`${source}: not a dsrl diffusion-policy manifest (format is ${JSON.stringify(raw.format)}, expected "${MANIFEST_FORMAT}")`);
  }
  if (raw.formatVersion !== MANIFEST_VERSION) {
    throw new Error(`${source}: format version ${JSON.stringify(raw.formatVersion)} is not supported (this dsrl reads version ${MANIFEST_VERSION})`);
  }
  const res = manifestSchema.safeParse(json);
  if (!res.success) {
    const issues = res.error.issues.slice(0, 8).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    const more = res.error.issues.length > 8 ? ` (+${res.error.issues.length - 8} more)` : '';
    throw new Error(`${source}: invalid manifest: ${issues.join('; ')}${more}`);
  }
  return res.data;
}

/** Parse manifest text (JSON) and validate it. */
export function parseManifest(text: string, source = MANIFEST_FILE): DiffusionManifest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`${source}: not valid JSON (${(err as Error).message})`);
  }
  return validateManifest(json, source);
}

export function specFromManifest(m: DiffusionManifest): DiffusionPolicySpec {
  return {
    obsDim: m.obsDim,
    actDim: m.actDim,
    chunk: m.chunk,
    denoisingSteps: m.denoisingSteps,
    ddimSteps: m.ddimSteps,
    timeDim: m.architecture.timeDim,
    width: m.architecture.width,
    depth: m.architecture.depth,
  };
}

export interface ManifestExtras {
  envId?: string | null;
  dataset?: DatasetInfo | null;
  training?: Record<string, unknown> | null;
  eval?: EvalResult[];
  /** Whether the weights file also holds the raw weights under RAW_PREFIX. */
  raw?: boolean;
  sha256?: string | null;
  createdAt?: string;
}

export function buildManifest(policy: DiffusionPolicy, extras: ManifestExtras = {}): DiffusionManifest {
  const s = policy.spec;
  const manifest: DiffusionManifest = {
    format: MANIFEST_FORMAT,
    formatVersion: MANIFEST_VERSION,
    obsDim: s.obsDim,
    actDim: s.actDim,
    chunk: s.chunk,
    denoisingSteps: s.denoisingSteps,
    ddimSteps: s.ddimSteps,
    architecture: { kind: 'dppo-diffusion-mlp', timeDim: s.timeDim, width: s.width, depth: s.depth, activation: DIFFUSION_ACTIVATION },
    schedule: { kind: 'cosine', s: COSINE_S, maxBeta: MAX_BETA, prediction: 'epsilon' },
    sampler: { kind: 'ddim', eta: 0, timesteps: 'leading', clipDenoised: 1 },
    normalization: { obsMin: Array.from(policy.obsStats.min), obsMax: Array.from(policy.obsStats.max), obsRangeEps: OBS_RANGE_EPS },
    actionLow: Array.from(policy.actionLow),
    actionHigh: Array.from(policy.actionHigh),
    weights: {
      file: WEIGHTS_FILE,
      emaPrefix: EMA_PREFIX,
      rawPrefix: extras.raw ? RAW_PREFIX : null,
      parameters: policy.network.size,
      sha256: extras.sha256 ?? null,
    },
    envId: extras.envId ?? null,
    dataset: extras.dataset ?? null,
    training: extras.training ?? null,
    eval: extras.eval ?? [],
    createdAt: extras.createdAt ?? new Date().toISOString(),
  };
  return validateManifest(manifest, 'buildManifest'); // catch a bad extra before it is written
}

/** The env dims a loaded policy must match. */
export interface PolicyExpectation {
  obsDim?: number;
  actDim?: number;
}

export interface PolicyFromTensorsOptions {
  expect?: PolicyExpectation;
  manifestSource?: string;
  weightsSource?: string;
  /** Load the raw weights instead of the EMA ones (needs a checkpoint saved with them). */
  useRaw?: boolean;
}

export function checkExpectation(m: DiffusionManifest, expect: PolicyExpectation | undefined, source: string): void {
  if (expect?.obsDim !== undefined && m.obsDim !== expect.obsDim) {
    throw new Error(`${source}: the policy takes observations of dim ${m.obsDim} but the env gives dim ${expect.obsDim}`);
  }
  if (expect?.actDim !== undefined && m.actDim !== expect.actDim) {
    throw new Error(`${source}: the policy outputs actions of dim ${m.actDim} but the env expects dim ${expect.actDim}`);
  }
}

/** Build the policy a manifest describes from decoded safetensors tensors; names and shapes must match exactly. */
export function policyFromTensors(
  m: DiffusionManifest,
  tensors: Record<string, TensorEntry>,
  options: PolicyFromTensorsOptions = {},
): DiffusionPolicy {
  const manifestSource = options.manifestSource ?? MANIFEST_FILE;
  const weightsSource = options.weightsSource ?? WEIGHTS_FILE;
  checkExpectation(m, options.expect, manifestSource);
  const spec = specFromManifest(m);
  const prefix = options.useRaw ? m.weights.rawPrefix : m.weights.emaPrefix;
  if (prefix === null) throw new Error(`${manifestSource}: the checkpoint has no raw weights (weights.rawPrefix is null)`);
  // Sizes against the weights before anything of the manifest's size is allocated.
  const count = diffusionMlpParameterCount(networkSpecOf(m));
  for (const p of [m.weights.emaPrefix, ...(m.weights.rawPrefix ? [m.weights.rawPrefix] : [])]) {
    const held = Object.entries(tensors).reduce((n, [name, t]) => (name.startsWith(p) ? n + t.data.length : n), 0);
    if (held !== count) {
      throw new Error(
        `${weightsSource} does not match ${manifestSource}: its "${p}" tensors hold ${held} values, the architecture the manifest describes has ${count} parameters`,
      );
    }
  }
  const network = createDiffusionNetwork(spec, Rng.fromSeed(0));
  if (network.size !== m.weights.parameters) {
    throw new Error(
      `${manifestSource}: weights.parameters is ${m.weights.parameters} but the architecture it describes has ${network.size} parameters`,
    );
  }
  loadInto(network, tensors, prefix, m, manifestSource, weightsSource);
  // Every tensor in the file must belong to a declared group: a stray one means the pair does not match.
  const known = [m.weights.emaPrefix, ...(m.weights.rawPrefix ? [m.weights.rawPrefix] : [])];
  const stray = Object.keys(tensors).filter((name) => !known.some((p) => name.startsWith(p)));
  if (stray.length > 0) throw new Error(`${weightsSource} does not match ${manifestSource}: unexpected tensors ${stray.slice(0, 5).join(', ')}`);
  if (m.weights.rawPrefix && !options.useRaw) {
    // Check the raw group too, so a damaged file is caught at load rather than when someone resumes.
    loadInto(createDiffusionNetwork(spec, Rng.fromSeed(0)), tensors, m.weights.rawPrefix, m, manifestSource, weightsSource);
  }
  return new DiffusionPolicy({
    spec,
    obsStats: { min: Float32Array.from(m.normalization.obsMin), max: Float32Array.from(m.normalization.obsMax) },
    actionLow: m.actionLow,
    actionHigh: m.actionHigh,
    weights: network.values,
  });
}

function loadInto(
  network: Model,
  tensors: Record<string, TensorEntry>,
  prefix: string,
  m: DiffusionManifest,
  manifestSource: string,
  weightsSource: string,
): void {
  try {
    loadModelTensors(network, tensors, weightsSource, prefix);
  } catch (err) {
    const a = m.architecture;
    const inner = (err as Error).message.replace(`${weightsSource}: `, '');
    throw new Error(
      `${weightsSource} does not match ${manifestSource} (obsDim ${m.obsDim}, actDim ${m.actDim}, chunk ${m.chunk}, ` +
        `timeDim ${a.timeDim}, width ${a.width}, depth ${a.depth}): ${inner}`,
    );
  }
}
