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
    if ((m.actionLow === undefined) !== (m.actionHigh === undefined)) {
      ctx.addIssue({ code: 'custom', path: [m.actionLow ? 'actionHigh' : 'actionLow'], message: 'actionLow and actionHigh go together' });
    }
    if (m.actionLow && m.actionHigh) {
      if (m.actionLow.length !== m.actionHigh.length) {
        ctx.addIssue({ code: 'custom', path: ['actionHigh'], message: `has ${m.actionHigh.length} values but actionLow has ${m.actionLow.length}` });
      }
      if (m.actDim !== undefined && m.actionLow.length !== m.actDim) {
        ctx.addIssue({ code: 'custom', path: ['actionLow'], message: `has ${m.actionLow.length} values but actDim is ${m.actDim}` });
      }
      m.actionLow.forEach((lo, j) => {
        const hi = m.actionHigh![j];
        if (hi !== undefined && !(hi > lo)) ctx.addIssue({ code: 'custom', path: ['actionHigh', j], message: `must exceed actionLow (${hi} <= ${lo})` });
      });
    }
    if ((m.obsMin === undefined) !== (m.obsMax === undefined)) {
      ctx.addIssue({ code: 'custom', path: [m.obsMin ? 'obsMax' : 'obsMin'], message: 'obsMin and obsMax go together' });
    }
    if (m.obsMin && m.obsMax) {
      if (m.obsMin.length !== m.obsMax.length) {
        ctx.addIssue({ code: 'custom', path: ['obsMax'], message: `has ${m.obsMax.length} values but obsMin has ${m.obsMin.length}` });
      }
      if (m.obsDim !== undefined && m.obsMin.length !== m.obsDim) {
        ctx.addIssue({ code: 'custom', path: ['obsMin'], message: `has ${m.obsMin.length} values but obsDim is ${m.obsDim}` });
      }
      m.obsMin.forEach((lo, j) => {
        const hi = m.obsMax![j];
        if (hi !== undefined && !(hi >= lo)) ctx.addIssue({ code: 'custom', path: ['obsMax', j], message: `must be at least obsMin (${hi} < ${lo})` });
      });
    }
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
    obsDim: number; actDim: number; chunk: number; actionLow: ArrayLike<number>; actionHigh: ArrayLike<number>;
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
