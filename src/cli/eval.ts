/**
 * `dsrl eval`: run a diffusion-policy checkpoint in an env for K episodes with noise w ~ N(0, I)
 * (the base policy DSRL starts from) and report the returns; `--record` stores them in the manifest.
 */
import type { Command } from 'commander';
import { Rng } from '../core/rng.ts';
import type { Env } from '../envs/env.ts';
import type { NoisePolicy } from '../policies/policy.ts';
import type { EvalResult } from '../policies/diffusion/manifest.ts';
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
}

export const EVAL_DEFAULTS = { episodes: 10, seed: 0, parallel: 8, record: false, raw: false } as const satisfies Partial<EvalOptions>;

export function registerEval(program: Command): void {
  const d = EVAL_DEFAULTS;
  program
    .command('eval')
    .description('evaluate a diffusion-policy checkpoint with noise drawn from N(0, I), or (--run) the agent a dsrl steer run trained')
    .option('--policy <spec>', 'checkpoint folder (model.safetensors + manifest.json); with --run: the base policy, default the run\'s own')
    .option('--run <dir>', 'a dsrl steer (or dsrl sac) run folder: evaluate its saved agent (steering its base policy)')
    .option('--agent <which>', 'with --run: best (best training evaluation) or last', 'best')
    .option('--env <id>', 'env id (default: the one in the manifest)')
    .option('--episodes <n>', 'episodes to run', intArg('--episodes'), d.episodes)
    .option('--seed <n>', 'seed for env resets and policy noise', intArg('--seed'), d.seed)
    .option('--parallel <n>', 'episodes run side by side (batched policy calls)', intArg('--parallel'), d.parallel)
    .option('--record', "append the result to the checkpoint's manifest.json", d.record)
    .option('--raw', 'use the raw weights instead of the EMA ones (checkpoint saved with --save-raw)', d.raw)
    .option('--json', 'print the result as one JSON line')
    .action(async (o, cmd: Command) => {
      const quiet = { log: o.json ? () => {} : undefined };
      if (o.run !== undefined) {
        for (const flag of ['env', 'record', 'raw'] as const) {
          if (cmd.getOptionValueSource(flag) === 'cli') cmd.error(`error: --${flag} does not apply with --run (the run's config.json says the env)`);
        }
        if (o.agent !== 'best' && o.agent !== 'last') cmd.error(`error: --agent must be best or last, got "${o.agent}"`);
        const res = await runEvalRun(o, quiet);
        if (o.json) console.log(JSON.stringify(res));
        return;
      }
      if (o.policy === undefined) cmd.error("error: give --policy <checkpoint folder>, or --run <run folder>");
      const res = await runEval(o, quiet);
      if (o.json) console.log(JSON.stringify(res));
    });
}

export interface RunEvalOptions {
  run: string;
  agent: 'best' | 'last';
  /** The base policy; default: the one in the run's config.json. */
  policy?: string;
  episodes: number;
  seed: number;
  parallel: number;
}

/** `dsrl eval --run`: a run's saved agent (a steer run's, on its base policy, or a `dsrl sac` run's), on fresh episodes. */
export async function runEvalRun(opts: RunEvalOptions, io: { log?: (line: string) => void } = {}) {
  const log = io.log ?? ((line: string) => console.log(line));
  const { existsSync } = await import('node:fs');
  const { join } = await import('node:path');
  const input = { run: opts.run, agent: opts.agent, episodes: opts.episodes, seed: opts.seed, parallel: opts.parallel };
  const started = performance.now();
  // A `dsrl sac` run saves whole SAC agents (agent.json); a steer run saves the actor that picks the noise.
  const sacRun = ['best', 'last'].some((which) => existsSync(join(opts.run, which, 'agent.json')));
  let res: Awaited<ReturnType<typeof import('../run/train-sac.ts').evaluateSacRun>>;
  if (sacRun) {
    if (opts.policy !== undefined) throw new Error(`${opts.run} is a SAC-from-scratch run: it has no base policy, so --policy does not apply`);
    const { evaluateSacRun } = await import('../run/train-sac.ts');
    res = await evaluateSacRun(input);
  } else {
    const { evaluateRun } = await import('../run/train-dsrl.ts');
    res = await evaluateRun(input, (envId, saved) => {
      const spec = opts.policy ?? saved;
      if (spec === undefined) throw new Error(`${opts.run}/config.json does not say which base policy the run used; pass --policy`);
      return loadPolicyForEnv(spec, envId);
    });
  }
  const seconds = (performance.now() - started) / 1000;
  const lengthMean = res.lengths.reduce((a, b) => a + b, 0) / res.lengths.length;
  const trained = res.trainedSteps === null ? '' : ` (saved at ${res.trainedSteps} env steps${res.trainedEval === null ? '' : `, training eval ${res.trainedEval.toFixed(1)}`})`;
  log(
    `eval ${opts.run}: ${res.algo} ${opts.agent} agent${trained} on ${res.env}, ${res.returns.length} episodes (seed ${opts.seed}): ` +
      `return ${res.mean.toFixed(1)} ± ${res.std.toFixed(1)} (min ${Math.min(...res.returns).toFixed(1)}, max ${Math.max(...res.returns).toFixed(1)}), ` +
      `length ${lengthMean.toFixed(1)}; ${seconds.toFixed(1)} s`,
  );
  return { ...res, lengthMean, seconds };
}

export interface EpisodeStats {
  returns: number[];
  lengths: number[];
  /** Env steps (single actions) run in all. */
  envSteps: number;
}

/**
 * Run `episodes` episodes of a NoisePolicy, each with its own reset seed (seed * 100003 + episode)
 * and its own noise stream, so results do not depend on `parallel`. Envs are wrapped per chunk by
 * the caller (ActionChunk): one step() executes one chunk and reports info.steps.
 */
export async function evaluateNoisePolicy(
  policy: NoisePolicy, makeChunkEnv: () => Promise<Env>, options: { episodes: number; seed: number; parallel: number },
): Promise<EpisodeStats> {
  const { episodes, seed } = options;
  if (!Number.isInteger(episodes) || episodes < 1) throw new Error(`--episodes must be a positive integer, got ${episodes}`);
  if (!Number.isInteger(options.parallel) || options.parallel < 1) throw new Error(`--parallel must be a positive integer, got ${options.parallel}`);
  const slots = Math.min(options.parallel, episodes);
  const envs = await Promise.all(Array.from({ length: slots }, () => makeChunkEnv()));
  const { obsDim } = policy;
  const noiseDim = policy.chunk * policy.actDim;
  const returns = new Array<number>(episodes).fill(0);
  const lengths = new Array<number>(episodes).fill(0);
  const episodeOf = new Array<number>(slots).fill(-1);
  const rngOf: Rng[] = [];
  const obsOf: Float32Array[] = [];
  let next = 0;
  let envSteps = 0;
  const start = (slot: number) => {
    if (next >= episodes) {
      episodeOf[slot] = -1;
      return;
    }
    const ep = next++;
    episodeOf[slot] = ep;
    rngOf[slot] = Rng.fromSeed(seed).derive(`eval-noise-${ep}`);
    obsOf[slot] = envs[slot].reset({ seed: seed * 100_003 + ep }).obs;
  };
  const obs = new Float32Array(slots * obsDim);
  const noise = new Float32Array(slots * noiseDim);
  const active: number[] = [];
  try {
    for (let s = 0; s < slots; s++) start(s);
    for (;;) {
      active.length = 0;
      for (let s = 0; s < slots; s++) if (episodeOf[s] >= 0) active.push(s);
      if (active.length === 0) break;
      active.forEach((s, row) => {
        obs.set(obsOf[s].subarray(0, obsDim), row * obsDim);
        rngOf[s].fillNormal(noise.subarray(row * noiseDim, (row + 1) * noiseDim));
      });
      const chunks = await policy.act(obs, noise, active.length);
      active.forEach((s, row) => {
        const r = envs[s].step(chunks.subarray(row * noiseDim, (row + 1) * noiseDim));
        const ep = episodeOf[s];
        const steps = typeof r.info.steps === 'number' ? r.info.steps : 1;
        returns[ep] += r.reward;
        lengths[ep] += steps;
        envSteps += steps;
        obsOf[s] = r.obs;
        if (r.terminated || r.truncated) start(s);
      });
    }
  } finally {
    for (const env of envs) env.close();
  }
  return { returns, lengths, envSteps };
}

export interface PolicyEvalResult extends EvalResult {
  returns: number[];
  lengths: number[];
  seconds: number;
  envStepsPerSecond: number;
}

export async function runEval(
  input: Partial<EvalOptions> & Pick<EvalOptions, 'policy'>, io: { log?: (line: string) => void } = {},
): Promise<PolicyEvalResult> {
  const opts: EvalOptions = { ...EVAL_DEFAULTS, ...Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)) } as EvalOptions;
  const log = io.log ?? ((line: string) => console.log(line));
  const { readManifest, loadDiffusionPolicy, recordEvalResult } = await import('../policies/diffusion/checkpoint-io.ts');
  const { makeEnv } = await import('../envs/registry.ts');
  const { ActionChunk } = await import('../envs/wrappers.ts');
  const manifest = readManifest(opts.policy);
  const envId = opts.env ?? manifest.envId;
  if (!envId) throw new Error(`${opts.policy}: the manifest names no env; pass --env <id>`);
  const probe = await makeEnv(envId);
  const obsDim = probe.observationSpace.size;
  const actDim = probe.actionSpace.size;
  const { low, high } = probe.actionSpace;
  probe.close();
  const policy = loadDiffusionPolicy(opts.policy, { expect: { obsDim, actDim }, useRaw: opts.raw });
  const mismatch = Array.from(low).some((v, j) => v !== policy.actionLow[j] || high[j] !== policy.actionHigh[j]);
  if (mismatch) {
    log(`eval: warning: the policy's action bounds [${policy.actionLow}]..[${policy.actionHigh}] differ from ${envId}'s [${low}]..[${high}]`);
  }
  const started = performance.now();
  const stats = await evaluateNoisePolicy(policy, async () => new ActionChunk(await makeEnv(envId), policy.chunk), opts);
  const seconds = (performance.now() - started) / 1000;
  const { returns, lengths } = stats;
  const mean = returns.reduce((a, b) => a + b, 0) / returns.length;
  const std = Math.sqrt(returns.reduce((a, b) => a + (b - mean) ** 2, 0) / returns.length);
  const result: EvalResult = {
    envId, episodes: opts.episodes, seed: opts.seed,
    returnMean: mean, returnStd: std, returnMin: Math.min(...returns), returnMax: Math.max(...returns),
    lengthMean: lengths.reduce((a, b) => a + b, 0) / lengths.length,
    at: new Date().toISOString(),
  };
  log(
    `eval ${envId}: ${opts.episodes} episodes, return ${mean.toFixed(1)} ± ${std.toFixed(1)} (min ${result.returnMin.toFixed(1)}, max ${result.returnMax.toFixed(1)}), ` +
      `length ${result.lengthMean.toFixed(1)}; ${seconds.toFixed(1)} s (${(stats.envSteps / seconds).toFixed(0)} env steps/s)`,
  );
  if (opts.record) {
    recordEvalResult(opts.policy, result);
    log(`eval: recorded in ${opts.policy}`);
  }
  return { ...result, returns, lengths, seconds, envStepsPerSecond: stats.envSteps / seconds };
}
