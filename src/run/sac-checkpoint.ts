/**
 * SAC agent checkpoints (Node): a folder with `agent.safetensors` (actor, critics, targets) and
 * `agent.json` (format version, env, dims, bounds, the SAC config, training step, eval return).
 * Enough to act (`dsrl collect`, `dsrl eval`) or to continue training the networks.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { SAC, type SacConfig } from '../algos/sac.ts';
import { Rng } from '../core/rng.ts';
import { writeFileAtomic } from '../node/fs.ts';
import { readSafetensors, saveSafetensors } from '../node/safetensors-io.ts';
import { loadModelTensors, modelTensors, type TensorEntry } from '../nn/safetensors.ts';

export const SAC_CHECKPOINT_VERSION = 1;

const manifestSchema = z
  .object({
    format: z.literal('dsrl-sac-agent'),
    version: z.literal(SAC_CHECKPOINT_VERSION),
    env: z.string(),
    step: z.number().int().nonnegative(),
    evalReturn: z.number().nullable(),
    config: z
      .object({
        obsDim: z.number().int().positive(),
        actDim: z.number().int().positive(),
        actionLow: z.array(z.number()),
        actionHigh: z.array(z.number()),
        actorHidden: z.array(z.number().int().positive()),
        criticHidden: z.array(z.number().int().positive()),
        activation: z.enum(['identity', 'relu', 'tanh', 'mish', 'silu']),
        criticLayerNorm: z.boolean(),
        actorLayerNorm: z.boolean(),
        numCritics: z.number().int().positive(),
        actorLr: z.number(),
        criticLr: z.number(),
        alphaLr: z.number(),
        gamma: z.number(),
        tau: z.number(),
        initAlpha: z.number(),
        targetEntropy: z.union([z.literal('auto'), z.number()]),
        backup: z.enum(['min', 'mean']),
        actorReduce: z.enum(['min', 'mean']),
        logStdMin: z.number(),
        logStdMax: z.number(),
        // Saved since actorInit existed; the weights are loaded over any start, so older manifests read as 'random'.
        actorInit: z.enum(['random', 'zero-mean']).default('random'),
      })
      .strict(),
  })
  .strict();

export type SacManifest = z.infer<typeof manifestSchema>;

export function saveSacCheckpoint(dir: string, sac: SAC, meta: { env: string; step: number; evalReturn: number | null }): void {
  const tensors: Record<string, TensorEntry> = { ...modelTensors(sac.actor, 'actor.') };
  sac.critics.forEach((c, i) => Object.assign(tensors, modelTensors(c, `critic${i}.`)));
  sac.targets.forEach((t, i) => Object.assign(tensors, modelTensors(t, `target${i}.`)));
  tensors.log_alpha = { shape: [1], data: sac.logAlpha.values };
  saveSafetensors(join(dir, 'agent.safetensors'), tensors);
  const manifest: SacManifest = {
    format: 'dsrl-sac-agent',
    version: SAC_CHECKPOINT_VERSION,
    env: meta.env,
    step: meta.step,
    evalReturn: meta.evalReturn,
    config: sac.cfg as SacManifest['config'],
  };
  writeFileAtomic(join(dir, 'agent.json'), `${JSON.stringify(manifest, null, 2)}\n`);
}

/** Load a SAC checkpoint folder; `expect` checks the dims against an env. */
export function loadSacCheckpoint(dir: string, expect?: { obsDim: number; actDim: number }): { sac: SAC; manifest: SacManifest } {
  const manifestPath = join(dir, 'agent.json');
  if (!existsSync(manifestPath)) throw new Error(`${dir}: not a SAC checkpoint (no agent.json)`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(manifestPath, 'utf8'));
  } catch (err) {
    throw new Error(`${manifestPath}: not valid JSON (${(err as Error).message})`);
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`${manifestPath}: invalid manifest at ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const manifest = parsed.data;
  const cfg = manifest.config as SacConfig;
  if (expect && (expect.obsDim !== cfg.obsDim || expect.actDim !== cfg.actDim)) {
    throw new Error(`${dir}: agent has obs ${cfg.obsDim} / action ${cfg.actDim} dims but the env has ${expect.obsDim} / ${expect.actDim}`);
  }
  const sac = new SAC(cfg, Rng.fromSeed(0), 256);
  const weightsPath = join(dir, 'agent.safetensors');
  const { tensors } = readSafetensors(weightsPath);
  loadModelTensors(sac.actor, tensors, weightsPath, 'actor.');
  sac.critics.forEach((c, i) => loadModelTensors(c, tensors, weightsPath, `critic${i}.`));
  sac.targets.forEach((t, i) => loadModelTensors(t, tensors, weightsPath, `target${i}.`));
  if (tensors.log_alpha) sac.logAlpha.values[0] = tensors.log_alpha.data[0];
  return { sac, manifest };
}
