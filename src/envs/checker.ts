/**
 * Env checker in the spirit of Gymnasium's `gymnasium.utils.env_checker.check_env`: runs an env with random
 * actions and throws EnvCheckError on the first broken rule (shapes, dtypes, bounds, flags, NaN/Inf, seeding
 * determinism). Soft issues (e.g. an unnormalized action space) come back as warnings. It resets and steps
 * the env but does not close it.
 */
import { Rng } from '../core/rng.ts';
import { envName, type Env, type Info, type ResetResult, type StepResult } from './env.ts';
import { Box } from './spaces.ts';

export class EnvCheckError extends Error {
  override name = 'EnvCheckError';
}

export interface CheckEnvOptions {
  /** Random-action steps per pass (two passes are compared for determinism). Default 300. */
  steps?: number;
  /** Seed for reset and for the random actions. Default 0. */
  seed?: number;
}

export interface CheckEnvReport {
  env: string;
  stepsRun: number;
  episodesEnded: number;
  warnings: string[];
}

interface Trace {
  obs: Float32Array[];
  rewards: number[];
  flags: string[];
  episodesEnded: number;
}

export function checkEnv(env: Env, options: CheckEnvOptions = {}): CheckEnvReport {
  const name = envName(env);
  const steps = options.steps ?? 300;
  const seed = options.seed ?? 0;
  const warnings: string[] = [];
  const fail = (message: string): never => {
    throw new EnvCheckError(`${name}: ${message}`);
  };

  checkSpaces(env, fail, warnings);

  const first = runPass(env, seed, steps, fail);
  const second = runPass(env, seed, steps, fail);
  for (let t = 0; t < first.obs.length; t++) {
    const where = t === 0 ? 'the reset observation' : `step ${t}`;
    if (!sameArray(first.obs[t], second.obs[t]))
      fail(`not deterministic under reset({seed: ${seed}}): ${where} differs between two runs with the same seed and actions`);
    if (t > 0 && !Object.is(first.rewards[t - 1], second.rewards[t - 1]))
      fail(`not deterministic under reset({seed: ${seed}}): the reward at step ${t} differs between two runs`);
    if (t > 0 && first.flags[t - 1] !== second.flags[t - 1])
      fail(`not deterministic under reset({seed: ${seed}}): terminated/truncated at step ${t} differ between two runs`);
  }

  const other = checkReset(env.reset({ seed: seed + 1 }), env, 'reset({seed}) with another seed', fail);
  if (sameArray(other.obs, first.obs[0])) warnings.push(`reset with seeds ${seed} and ${seed + 1} gave the same observation: is the seed used?`);
  const unseeded = checkReset(env.reset(), env, 'reset() without a seed', fail);
  if (sameArray(unseeded.obs, other.obs))
    warnings.push('reset() without a seed repeated the previous episode start: it should continue the generator');

  return { env: name, stepsRun: steps, episodesEnded: first.episodesEnded, warnings };
}

function checkSpaces(env: Env, fail: (m: string) => never, warnings: string[]): void {
  if (!(env.observationSpace instanceof Box)) fail('observationSpace is not a Box');
  if (!(env.actionSpace instanceof Box)) fail('actionSpace is not a Box');
  const act = env.actionSpace;
  if (act.size === 0) fail('actionSpace is empty');
  if (!act.isBounded()) warnings.push(`actionSpace ${act} is unbounded: policies usually need bounded actions`);
  else {
    for (let i = 0; i < act.size; i++) {
      if (act.low[i] !== -1 || act.high[i] !== 1) {
        warnings.push(`actionSpace ${act} is not [-1, 1]: consider RescaleAction`);
        break;
      }
    }
  }
}

function runPass(env: Env, seed: number, steps: number, fail: (m: string) => never): Trace {
  const actionRng = Rng.fromSeed(seed);
  const trace: Trace = { obs: [], rewards: [], flags: [], episodesEnded: 0 };
  const start = checkReset(env.reset({ seed }), env, `reset({seed: ${seed}})`, fail);
  trace.obs.push(Float32Array.from(start.obs));
  let previousObs = start.obs;
  for (let t = 1; t <= steps; t++) {
    const action = env.actionSpace.sample(actionRng);
    const result = checkStep(env.step(action), env, t, fail);
    if (result.obs === previousObs || result.obs.buffer === previousObs.buffer)
      fail(`step ${t} returned the same observation array as before: return a fresh array`);
    previousObs = result.obs;
    trace.obs.push(Float32Array.from(result.obs));
    trace.rewards.push(result.reward);
    trace.flags.push(`${result.terminated}/${result.truncated}`);
    if (result.terminated || result.truncated) {
      trace.episodesEnded++;
      previousObs = checkReset(env.reset(), env, `reset() after step ${t}`, fail).obs;
    }
  }
  return trace;
}

function checkReset(result: ResetResult, env: Env, where: string, fail: (m: string) => never): ResetResult {
  if (!result || typeof result !== 'object') fail(`${where} did not return {obs, info}`);
  checkObservation(result.obs, env, where, fail);
  checkInfo(result.info, where, fail);
  return result;
}

function checkStep(result: StepResult, env: Env, t: number, fail: (m: string) => never): StepResult {
  const where = `step ${t}`;
  if (!result || typeof result !== 'object') fail(`${where} did not return {obs, reward, terminated, truncated, info}`);
  checkObservation(result.obs, env, where, fail);
  if (typeof result.reward !== 'number') fail(`${where}: reward is ${typeof result.reward}, expected a number`);
  if (!Number.isFinite(result.reward)) fail(`${where}: reward is ${result.reward}`);
  if (typeof result.terminated !== 'boolean') fail(`${where}: terminated is ${typeof result.terminated}, expected a boolean`);
  if (typeof result.truncated !== 'boolean') fail(`${where}: truncated is ${typeof result.truncated}, expected a boolean`);
  checkInfo(result.info, where, fail);
  return result;
}

function checkObservation(obs: unknown, env: Env, where: string, fail: (m: string) => never): void {
  if (!(obs instanceof Float32Array)) fail(`${where}: observation is ${describe(obs)}, expected a Float32Array`);
  const o = obs as Float32Array;
  const space = env.observationSpace;
  if (o.length !== space.size) fail(`${where}: observation has ${o.length} values, observationSpace has ${space.size}`);
  for (let i = 0; i < o.length; i++) {
    if (!Number.isFinite(o[i])) fail(`${where}: observation[${i}] is ${o[i]}`);
  }
  if (!space.contains(o)) {
    let i = 0;
    while (i < o.length && o[i] >= space.low[i] && o[i] <= space.high[i]) i++;
    fail(`${where}: observation[${i}] = ${o[i]} is outside observationSpace [${space.low[i]}, ${space.high[i]}]`);
  }
}

function checkInfo(info: Info, where: string, fail: (m: string) => never): void {
  if (info === null || typeof info !== 'object' || Array.isArray(info)) fail(`${where}: info is ${describe(info)}, expected an object`);
}

function sameArray(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value !== 'object') return typeof value;
  return (value as object).constructor?.name ?? 'object';
}
