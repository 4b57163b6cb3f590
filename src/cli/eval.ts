/**
 * `dsrl eval`: run a base policy (a diffusion checkpoint, an ONNX model, a policy server) in an env for K
 * episodes with noise w ~ N(0, I) and report the returns (`--record` stores them in a checkpoint's
 * manifest), or (`--run`) a run folder's saved agent. Both through the one evaluation protocol
 * (run/evaluate.ts): `--seed 10000` gives what a steer run's base-policy line and training evaluations gave.
 */
import { Option, type Command } from 'commander';
import type { NoisePolicy, Precision } from '../policies/policy.ts';
import type { EvalResult } from '../policies/diffusion/manifest.ts';
import { BASE_NOISES, successInterval, type BaseNoise } from '../run/evaluate.ts';
import { intArg, loadPolicyForEnv } from './args.ts';

export interface EvalOptions {
  /** Checkpoint folder (or its manifest.json). */
  policy: string;
  /** Default: the env id in the manifest. */
  env?: string;
  episodes: number;
  seed: number;
  /** Episodes run side by side, so the policy acts on a batch. */
  parallel: number;
  /** Append the result to the checkpoint's manifest. */
  record: boolean;
  /** Sample with the raw weights instead of the EMA ones. */
  raw: boolean;
  /** The base policy's matrix products (bf16 where the CPU has the units). */
  precision: Precision;
  /** Record the first episode for the viewer into this file (.safetensors). */
  recordEpisodes?: string;
  /** The base policy's initial noise: draws from N(0, I) (how it was trained), or all zeros (its most likely chunk). */
  noise: BaseNoise;
}

export const EVAL_DEFAULTS = {
  episodes: 10,
  seed: 0,
  parallel: 8,
  record: false,
  raw: false,
  precision: 'fp32',
  noise: 'normal',
} as const satisfies Partial<EvalOptions>;

export function registerEval(program: Command): void {
  const d = EVAL_DEFAULTS;
  program
    .command('eval')
    .description('evaluate a diffusion-policy checkpoint with noise drawn from N(0, I), or (--run) the agent a dsrl steer run trained')
    .option('--policy <spec>', "checkpoint folder (model.safetensors + manifest.json); with --run: the base policy, default the run's own")
    .option('--run <dir>', 'a dsrl steer (or dsrl sac) run folder: evaluate its saved agent (steering its base policy)')
    .option('--agent <which>', 'with --run: best (best training evaluation) or last', 'best')
    .option('--stochastic', "with --run: sample the agent's actions from its distribution (for DSRL: fresh noise) instead of its mean")
    .option('--env <id>', 'env id, or ws://host:port for a remote env (docs/remote-env.md) (default: the one in the manifest)')
    .option('--episodes <n>', 'episodes to run', intArg('--episodes'), d.episodes)
    .option('--seed <n>', 'seed for env resets and policy noise', intArg('--seed'), d.seed)
    .option('--parallel <n>', 'episodes run side by side (batched policy calls)', intArg('--parallel'), d.parallel)
    .option('--record', "append the result to the checkpoint's manifest.json", d.record)
    .option('--raw', 'use the raw weights instead of the EMA ones (checkpoint saved with --save-raw)', d.raw)
    .addOption(
      new Option('--precision <p>', "the base policy's matrix products: bf16 on CPUs with AVX512-BF16 (fp32 elsewhere), or fp32")
        .choices(['fp32', 'bf16'])
        .default('fp32'),
    )
    .addOption(
      new Option('--noise <kind>', "the base policy's initial noise: normal (N(0, I), as it was trained) or zero (its most likely chunk)")
        .choices(BASE_NOISES)
        .default('normal'),
    )
    .option('--record-episodes <file>', 'also record the first episode (body poses, rewards) into this .safetensors file, for dsrl view')
    .option('--json', 'print the result as one JSON line')
    .action(async (o, cmd: Command) => {
      const quiet = { log: o.json ? () => {} : undefined };
      if (o.recordEpisodes !== undefined) {
        const { existsSync, statSync } = await import('node:fs');
        if (!String(o.recordEpisodes).endsWith('.safetensors'))
          cmd.error(`error: --record-episodes ${o.recordEpisodes}: the file name must end in .safetensors`);
        if (existsSync(o.recordEpisodes) && statSync(o.recordEpisodes).isDirectory())
          cmd.error(`error: --record-episodes ${o.recordEpisodes} is a folder; give a file`);
      }
      if (o.run === undefined && o.stochastic) cmd.error("error: --stochastic applies to a run's agent: give --run <run folder>");
      if (o.run !== undefined) {
        for (const flag of ['env', 'record', 'raw', 'noise'] as const) {
          if (cmd.getOptionValueSource(flag) === 'cli') cmd.error(`error: --${flag} does not apply with --run (the run's config.json says the env)`);
        }
        if (o.agent !== 'best' && o.agent !== 'last') cmd.error(`error: --agent must be best or last, got "${o.agent}"`);
        const res = await runEvalRun(o, quiet);
        if (o.json) console.log(JSON.stringify(res));
        return;
      }
      if (o.policy === undefined) cmd.error('error: give --policy <checkpoint folder>, or --run <run folder>');
      const res = await runEval(o, quiet);
      if (o.json) console.log(JSON.stringify(res));
    });
}

/** "success rate 0.43 (95% interval 0.34-0.53), " for envs that report success, else nothing. */
export function successText(res: { successRate?: number; returns: number[] }): string {
  if (res.successRate === undefined) return '';
  const [lo, hi] = successInterval(res.successRate, res.returns.length);
  return `success rate ${res.successRate.toFixed(2)} (95% interval ${lo.toFixed(2)}-${hi.toFixed(2)}), `;
}

/** ", training eval 50% success" (or its return where the env reports no success), or nothing if unknown. */
function trainedEvalText(res: { trainedEval: number | null; trainedSuccessRate: number | null }): string {
  if (res.trainedSuccessRate !== null) return `, training eval ${(100 * res.trainedSuccessRate).toFixed(0)}% success`;
  return res.trainedEval === null ? '' : `, training eval return ${res.trainedEval.toFixed(1)}`;
}

export interface RunEvalOptions {
  run: string;
  agent: 'best' | 'last';
  /** The base policy; default: the one in the run's config.json. */
  policy?: string;
  episodes: number;
  seed: number;
  parallel: number;
  recordEpisodes?: string;
  /** Sampled actions instead of the agent's mean. */
  stochastic?: boolean;
}

/** `dsrl eval --run`: a run's saved agent (a steer run's, on its base policy, or a `dsrl sac` run's), on fresh episodes. */
export async function runEvalRun(opts: RunEvalOptions, io: { log?: (line: string) => void } = {}) {
  const log = io.log ?? ((line: string) => console.log(line));
  const input = {
    run: opts.run,
    agent: opts.agent,
    episodes: opts.episodes,
    seed: opts.seed,
    parallel: opts.parallel,
    recordEpisodes: opts.recordEpisodes,
    stochastic: opts.stochastic === true,
  };
  const started = performance.now();
  const { evaluateRun, isSacRun } = await import('../run/evaluate-run.ts');
  const { resolveRunPath } = await import('../run/pack-run.ts');
  if (isSacRun(opts.run) && opts.policy !== undefined)
    throw new Error(`${opts.run} is a SAC-from-scratch run: it has no base policy, so --policy does not apply`);
  const res = await evaluateRun(input, (envId, saved) => {
    if (opts.policy === undefined && saved === undefined)
      throw new Error(`${opts.run}/config.json does not say which base policy the run used; pass --policy`);
    // A relative policy in config.json (a packed run, dsrl pack) is relative to the run folder.
    return loadPolicyForEnv(opts.policy ?? resolveRunPath(opts.run, saved!), envId);
  });
  const seconds = (performance.now() - started) / 1000;
  const lengthMean = res.lengths.reduce((a, b) => a + b, 0) / res.lengths.length;
  const trained = res.trainedSteps === null ? '' : ` (saved at ${res.trainedSteps} env steps${trainedEvalText(res)})`;
  log(
    `eval ${opts.run}: ${res.algo} ${opts.agent} agent${opts.stochastic ? ' (sampled actions)' : ''}${trained} on ${res.env}, ${res.returns.length} episodes (seed ${opts.seed}): ` +
      `${successText(res)}return ${res.mean.toFixed(1)} ± ${res.std.toFixed(1)} (min ${Math.min(...res.returns).toFixed(1)}, max ${Math.max(...res.returns).toFixed(1)}), ` +
      `length ${lengthMean.toFixed(1)}; ${seconds.toFixed(1)} s`,
  );
  return { ...res, lengthMean, seconds };
}

export interface PolicyEvalResult extends EvalResult {
  returns: number[];
  lengths: number[];
  seconds: number;
  envStepsPerSecond: number;
}

export async function runEval(
  input: Partial<EvalOptions> & Pick<EvalOptions, 'policy'>,
  io: { log?: (line: string) => void } = {},
): Promise<PolicyEvalResult> {
  const opts: EvalOptions = { ...EVAL_DEFAULTS, ...Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)) } as EvalOptions;
  const log = io.log ?? ((line: string) => console.log(line));
  const { existsSync, statSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { readManifest, loadDiffusionPolicy, recordEvalResult } = await import('../policies/diffusion/checkpoint-io.ts');
  // A diffusion checkpoint folder names its env and can record the result; other policies (ONNX, ws://) need --env.
  const isCheckpoint = existsSync(opts.policy) && statSync(opts.policy).isDirectory() && existsSync(join(opts.policy, 'manifest.json'));
  if (opts.record && opts.precision !== 'fp32')
    throw new Error("--record stores fp32 evaluations only (the checkpoint's own numbers); drop --precision or --record");
  if (opts.record && opts.noise !== 'normal')
    throw new Error("--record stores evaluations with N(0, I) noise only (the checkpoint's own numbers); drop --noise or --record");
  if (!isCheckpoint && (opts.record || opts.raw)) throw new Error(`${opts.policy}: --record and --raw apply to diffusion checkpoint folders only`);
  const envId = opts.env ?? (isCheckpoint ? readManifest(opts.policy).envId : undefined);
  if (!envId)
    throw new Error(`${opts.policy}: ${isCheckpoint ? 'the manifest names no env' : 'only a diffusion checkpoint names its env'}; pass --env <id>`);
  let policy: NoisePolicy;
  const { isWebSocketUrl } = await import('../core/url.ts');
  // A remote env is not probed (loadPolicyForEnv says why): the run checks the policy against its hello.
  if (isCheckpoint && !isWebSocketUrl(envId)) {
    const { makeEnv } = await import('../envs/registry.ts');
    const probe = await makeEnv(envId);
    const { low, high } = probe.actionSpace;
    const expect = { obsDim: probe.observationSpace.size, actDim: probe.actionSpace.size };
    probe.close();
    policy = loadDiffusionPolicy(opts.policy, { expect, useRaw: opts.raw });
    const mismatch = Array.from(low).some((v, j) => v !== policy.actionLow[j] || high[j] !== policy.actionHigh[j]);
    if (mismatch)
      log(`eval: warning: the policy's action bounds [${policy.actionLow}]..[${policy.actionHigh}] differ from ${envId}'s [${low}]..[${high}]`);
  } else if (isCheckpoint) {
    policy = loadDiffusionPolicy(opts.policy, { useRaw: opts.raw });
  } else {
    policy = await loadPolicyForEnv(opts.policy, envId);
  }
  const precision = policy.usePrecision?.(opts.precision) ?? 'fp32';
  if (precision !== opts.precision) log(`eval: ${opts.precision} is not available for this policy on this machine; it runs in ${precision}`);
  const started = performance.now();
  const { evaluateBasePolicy } = await import('../run/evaluate-run.ts');
  let stats: Awaited<ReturnType<typeof evaluateBasePolicy>>;
  try {
    stats = await evaluateBasePolicy(policy, envId, opts);
  } finally {
    await policy.close?.();
  }
  const seconds = (performance.now() - started) / 1000;
  const envSteps = stats.lengths.reduce((a, b) => a + b, 0);
  const { returns, lengths } = stats;
  const mean = returns.reduce((a, b) => a + b, 0) / returns.length;
  const std = Math.sqrt(returns.reduce((a, b) => a + (b - mean) ** 2, 0) / returns.length);
  const result: EvalResult = {
    envId,
    episodes: opts.episodes,
    seed: opts.seed,
    returnMean: mean,
    returnStd: std,
    returnMin: Math.min(...returns),
    returnMax: Math.max(...returns),
    lengthMean: lengths.reduce((a, b) => a + b, 0) / lengths.length,
    ...(stats.successRate !== undefined ? { successRate: stats.successRate } : {}),
    at: new Date().toISOString(),
  };
  log(
    `eval ${envId}${opts.noise === 'zero' ? ' (zero noise)' : ''}: ${opts.episodes} episodes, ${successText(stats)}return ${mean.toFixed(1)} ± ${std.toFixed(1)} (min ${result.returnMin.toFixed(1)}, max ${result.returnMax.toFixed(1)}), ` +
      `length ${result.lengthMean.toFixed(1)}; ${seconds.toFixed(1)} s (${(envSteps / seconds).toFixed(0)} env steps/s)`,
  );
  if (opts.record) {
    recordEvalResult(opts.policy, result);
    log(`eval: recorded in ${opts.policy}`);
  }
  return { ...result, returns, lengths, seconds, envStepsPerSecond: envSteps / seconds };
}
