/**
 * `dsrl export`: a native diffusion checkpoint -> one ONNX file with the policy contract
 * (obs, noise -> actions; DDIM loop unrolled) plus its manifest, then a check that onnxruntime gives
 * the same actions as the checkpoint on seeded random inputs.
 */
import type { Command } from 'commander';
import { intArg, numArg } from './args.ts';

export interface ExportOptions {
  /** Diffusion checkpoint folder (or its manifest.json). */
  policy: string;
  /** Output .onnx path; the manifest goes beside it (x.onnx -> x.json). */
  out: string;
  /** Env id recorded in the ONNX manifest (default: the checkpoint's). */
  envId?: string;
  /** Skip the onnxruntime comparison. */
  verify: boolean;
  /** Largest accepted difference in env units. */
  tolerance: number;
  verifyBatch: number;
}

export const EXPORT_DEFAULTS = { verify: true, tolerance: 1e-4, verifyBatch: 64 } as const satisfies Partial<ExportOptions>;

export function registerExport(program: Command): void {
  const d = EXPORT_DEFAULTS;
  program
    .command('export')
    .description('export a diffusion-policy checkpoint to ONNX (obs, noise -> actions, DDIM unrolled)')
    .requiredOption('--policy <dir>', 'checkpoint folder (model.safetensors + manifest.json)')
    .requiredOption('--out <file.onnx>', 'output ONNX file (its manifest is written beside it as <name>.json)')
    .option('--env-id <id>', "env id to record (default: the checkpoint's)")
    .option('--no-verify', 'skip the comparison with the checkpoint through onnxruntime')
    .option('--tolerance <x>', 'largest accepted difference in env units', numArg('--tolerance'), d.tolerance)
    .option('--verify-batch <n>', 'random inputs compared', intArg('--verify-batch'), d.verifyBatch)
    .action(async (o) => {
      const res = await runExport(o);
      const check = res.maxDiff === null ? 'not verified' : `onnxruntime matches the checkpoint to ${res.maxDiff.toExponential(2)}`;
      console.log(`wrote ${res.out} (${(res.bytes / 1024).toFixed(0)} KiB) and ${res.manifestPath}; ${check}`);
    });
}

export interface ExportResult {
  out: string;
  manifestPath: string;
  bytes: number;
  /** Largest |checkpoint - onnx| over the verification inputs; null when not verified. */
  maxDiff: number | null;
}

export async function runExport(options: Partial<ExportOptions> & Pick<ExportOptions, 'policy' | 'out'>): Promise<ExportResult> {
  const o = { ...EXPORT_DEFAULTS, ...options };
  if (!/\.onnx$/i.test(o.out)) throw new Error(`--out ${o.out}: the file name must end in .onnx`);
  const { policyKind } = await import('../policies/load.ts');
  if (policyKind(o.policy) !== 'checkpoint')
    throw new Error(`--policy ${o.policy}: dsrl export reads a diffusion checkpoint folder (with manifest.json)`);
  const { loadDiffusionCheckpoint } = await import('../policies/diffusion/checkpoint-io.ts');
  const { policy, manifest } = loadDiffusionCheckpoint(o.policy);
  const { exportDiffusionPolicyOnnx, manifestPathsFor, verifyOnnxExport } = await import('../policies/onnx.ts');
  exportDiffusionPolicyOnnx(policy, o.out, {
    envId: o.envId ?? manifest.envId,
    source: { checkpoint: o.policy, weightsSha256: manifest.weights.sha256, datasetHash: manifest.dataset?.hash ?? null },
  });
  const { statSync } = await import('node:fs');
  let maxDiff: number | null = null;
  if (o.verify) {
    maxDiff = await verifyOnnxExport(policy, o.out, { batch: o.verifyBatch, seed: 0 });
    if (!(maxDiff <= o.tolerance)) {
      throw new Error(
        `${o.out}: onnxruntime differs from ${o.policy} by ${maxDiff} (> --tolerance ${o.tolerance}); the export is wrong, please report it`,
      );
    }
  }
  return { out: o.out, manifestPath: manifestPathsFor(o.out)[0], bytes: statSync(o.out).size, maxDiff };
}
