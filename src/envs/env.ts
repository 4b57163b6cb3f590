/**
 * The single-environment contract, after Gymnasium 1.x `gymnasium.Env`:
 * `reset({seed, options}) -> {obs, info}`, `step(action) -> {obs, reward, terminated, truncated, info}`, `close()`.
 *
 * - `terminated`: the MDP reached a terminal state (do not bootstrap); `truncated`: the episode was cut
 *   short (time limit), bootstrap from `obs`. Both can be true on the same step. They are always kept apart.
 * - `reset({seed})` reseeds the env's generator; `reset()` without a seed continues the current stream.
 * - Observations are float32 arrays the caller owns (a fresh array each call, never a view into the env).
 *   An env must not keep the action array after step() returns: callers and wrappers reuse it.
 * - Everything here runs in the browser too: nothing Node-specific is imported by the env core.
 * - `getState()` / `setState(state)` (optional) capture and restore everything that decides future steps,
 *   so a checkpointed run continues mid-episode exactly as if it had never stopped.
 */
import { Rng, type RngState } from '../core/rng.ts';
import type { Box } from './spaces.ts';

export type Info = Record<string, unknown>;

export interface ResetOptions {
  seed?: number;
  options?: Record<string, unknown>;
}

export interface ResetResult {
  obs: Float32Array;
  info: Info;
}

export interface StepResult {
  obs: Float32Array;
  reward: number;
  terminated: boolean;
  truncated: boolean;
  info: Info;
}

/** How the registry built an env: its id and the options it was made with. */
export interface EnvSpec {
  id: string;
  maxEpisodeSteps: number | null;
  rewardThreshold: number | null;
  options: Record<string, unknown>;
}

/**
 * A snapshot of everything that decides an env's future steps (simulator state, generator state, step
 * counters). Values are JSON values (numbers may be non-finite) or typed arrays, so checkpoints can store
 * them exactly. Restoring it into an env built the same way (same id, options and wrappers) makes the
 * following steps bit-identical. Stateful layers tag their part with `type` so a mismatch is caught.
 */
export interface EnvState {
  readonly [key: string]: unknown;
}

export interface Env {
  readonly observationSpace: Box;
  readonly actionSpace: Box;
  /** Set by the registry; null for envs constructed directly. */
  readonly spec: EnvSpec | null;
  /** The innermost env beneath any wrappers. */
  readonly unwrapped: Env;
  reset(options?: ResetOptions): ResetResult;
  step(action: ArrayLike<number>): StepResult;
  /** Frees the env's resources; calling it again is a no-op. */
  close(): void;
  /** Captures everything that affects future steps (optional: without it the env cannot be checkpointed). */
  getState?(): EnvState;
  /** Continues from a getState() snapshot taken on an env built the same way. */
  setState?(state: EnvState): void;
}

/** A readable name for error messages: the spec id if there is one, else the class name. */
export function envName(env: Env): string {
  return env.spec?.id ?? env.unwrapped.spec?.id ?? env.unwrapped.constructor.name;
}

/** `env.getState()`, or a clear error for an env that cannot be checkpointed. */
export function getEnvState(env: Env): EnvState {
  if (typeof env.getState !== 'function')
    throw new Error(`${envName(env)} (${env.constructor.name}) does not implement getState(), so it cannot be checkpointed`);
  return env.getState();
}

/** `env.setState(state)`, or a clear error for an env that cannot be restored. */
export function setEnvState(env: Env, state: EnvState): void {
  if (typeof env.setState !== 'function')
    throw new Error(`${envName(env)} (${env.constructor.name}) does not implement setState(), so it cannot be restored from a checkpoint`);
  env.setState(state);
}

/** Checks that `state` is an object tagged `type` (what the layer saved) and returns it; `label` names the env in errors. */
export function expectStateType(state: unknown, type: string, label: string): Record<string, unknown> {
  if (!state || typeof state !== 'object' || Array.isArray(state))
    throw new Error(`${label}: setState expects a state object, got ${describeValue(state)}`);
  const tagged = state as Record<string, unknown>;
  if (tagged.type !== type) {
    throw new Error(
      `${label}: setState got a state saved by '${String(tagged.type)}' where '${type}' was expected (was the env built with other wrappers or another task?)`,
    );
  }
  return tagged;
}

/** Reads a finite number field of a saved state, with an error naming the field. */
export function stateNumber(state: Record<string, unknown>, key: string, label: string, opts: { integer?: boolean; min?: number } = {}): number {
  const value = state[key];
  const ok =
    typeof value === 'number' &&
    Number.isFinite(value) &&
    (!opts.integer || Number.isInteger(value)) &&
    (opts.min === undefined || value >= opts.min);
  if (!ok)
    throw new Error(
      `${label}: saved state field '${key}' must be ${opts.integer ? 'an integer' : 'a finite number'}${opts.min !== undefined ? ` >= ${opts.min}` : ''}, got ${describeValue(value)}`,
    );
  return value as number;
}

/** A generator rebuilt from a saved state's field, with the env named in the error. */
export function restoreRng(saved: unknown, label: string): Rng {
  try {
    return Rng.fromState(saved as RngState);
  } catch (err) {
    throw new Error(`${label}: saved state field 'rng': ${(err as Error).message}`);
  }
}

function describeValue(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'an object';
  return `${typeof value} ${String(value)}`;
}
