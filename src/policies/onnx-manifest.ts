/**
 * The manifest that may sit beside an ONNX policy (`hopper.onnx` -> `hopper.json`): the dims, chunk
 * length and action bounds the graph alone may not say (symbolic dims, bounds), plus provenance.
 * Every field but `format` is optional so a manifest written by hand for a PyTorch export stays short;
 * `format` is required so an unrelated JSON file that happens to sit beside a model is never misread.
 * Browser-safe.
 */
import { z } from 'zod';

export const ONNX_MANIFEST_FORMAT = 'dsrl-onnx-policy';
export const ONNX_MANIFEST_VERSION = 1;

const posInt = z.number().int().positive();

export const onnxManifestSchema = z
  .strictObject({
    format: z.literal(ONNX_MANIFEST_FORMAT),
    formatVersion: z.literal(ONNX_MANIFEST_VERSION).optional(),
    obsDim: posInt.optional(),
    actDim: posInt.optional(),
    /** Ta: actions per chunk. */
    chunk: posInt.optional(),
    /** Env-unit bounds of the actions the model outputs. */
    actionLow: z.array(z.number()).optional(),
    actionHigh: z.array(z.number()).optional(),
    /**
     * Per-dimension min/max of the training observations (the policy's own normalization, already
     * inside the graph): lets `dsrl steer --normalize-obs` show the agent the same normalized view.
     */
    obsMin: z.array(z.number()).optional(),
    obsMax: z.array(z.number()).optional(),
    envId: z.string().nullable().optional(),
    /** Who wrote the file (e.g. "dsrl export", "torch.onnx.export"). */
    producer: z.string().optional(),
    /** Free-form provenance: the checkpoint it came from, DDIM steps, dataset hash, ... */
    source: z.record(z.string(), z.unknown()).optional(),
    createdAt: z.string().optional(),
  })
  .superRefine((m, ctx) => {
    // Two per-dimension bound lists: given together, of one length that fits the dim, high above low.
    const pair = (lowKey: 'actionLow' | 'obsMin', highKey: 'actionHigh' | 'obsMax', dimKey: 'actDim' | 'obsDim', strict: boolean) => {
      const [low, high, dim] = [m[lowKey], m[highKey], m[dimKey]];
      const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });
      if ((low === undefined) !== (high === undefined)) issue([low ? highKey : lowKey], `${lowKey} and ${highKey} go together`);
      if (!low || !high) return;
      if (low.length !== high.length) issue([highKey], `has ${high.length} values but ${lowKey} has ${low.length}`);
      if (dim !== undefined && low.length !== dim) issue([lowKey], `has ${low.length} values but ${dimKey} is ${dim}`);
      low.forEach((lo, j) => {
        const hi = high[j];
        if (hi === undefined) return;
        if (strict ? !(hi > lo) : !(hi >= lo))
          issue([highKey, j], strict ? `must exceed ${lowKey} (${hi} <= ${lo})` : `must be at least ${lowKey} (${hi} < ${lo})`);
      });
    };
    pair('actionLow', 'actionHigh', 'actDim', true);
    // An observation dimension may be constant in the data (max = min).
    pair('obsMin', 'obsMax', 'obsDim', false);
  });

export type OnnxPolicyManifest = z.infer<typeof onnxManifestSchema>;

/** Parse and validate manifest text; errors start with `source` (the file) and name the field. */
export function parseOnnxManifest(text: string, source: string): OnnxPolicyManifest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`${source}: not valid JSON (${(err as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error(`${source}: not a JSON object`);
  const format = (json as Record<string, unknown>).format;
  if (format !== ONNX_MANIFEST_FORMAT) {
    throw new Error(`${source}: not a dsrl ONNX policy manifest (format is ${JSON.stringify(format)}, expected "${ONNX_MANIFEST_FORMAT}")`);
  }
  const res = onnxManifestSchema.safeParse(json);
  if (!res.success) {
    const issues = res.error.issues.slice(0, 8).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new Error(`${source}: invalid manifest: ${issues.join('; ')}`);
  }
  return res.data;
}

/** The manifest dsrl writes beside an exported policy. */
export function buildOnnxManifest(
  policy: {
    obsDim: number;
    actDim: number;
    chunk: number;
    actionLow: ArrayLike<number>;
    actionHigh: ArrayLike<number>;
    obsStats?: { min: ArrayLike<number>; max: ArrayLike<number> };
  },
  extras: { envId?: string | null; source?: Record<string, unknown>; producer?: string; createdAt?: string } = {},
): OnnxPolicyManifest {
  return {
    format: ONNX_MANIFEST_FORMAT,
    formatVersion: ONNX_MANIFEST_VERSION,
    obsDim: policy.obsDim,
    actDim: policy.actDim,
    chunk: policy.chunk,
    actionLow: Array.from(policy.actionLow),
    actionHigh: Array.from(policy.actionHigh),
    ...(policy.obsStats ? { obsMin: Array.from(policy.obsStats.min), obsMax: Array.from(policy.obsStats.max) } : {}),
    envId: extras.envId ?? null,
    producer: extras.producer ?? 'dsrl export',
    ...(extras.source ? { source: extras.source } : {}),
    createdAt: extras.createdAt ?? new Date().toISOString(),
  };
}
