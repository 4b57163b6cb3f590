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
 */
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
}

/** A readable name for error messages: the spec id if there is one, else the class name. */
export function envName(env: Env): string {
  return env.spec?.id ?? env.unwrapped.spec?.id ?? env.unwrapped.constructor.name;
}
