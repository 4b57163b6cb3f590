/**
 * Env registry, after Gymnasium's `gym.register` / `gym.make`. `makeEnv(id, options)` builds the env, then
 * applies OrderEnforcing (which carries the spec) and, when the registration has a step limit,
 * TimeLimit(maxEpisodeSteps), as `gym.make` does. Async because MuJoCo's wasm module loads
 * asynchronously (once per thread, then cached).
 */
import type { Env, EnvSpec } from './env.ts';
import { SyncVectorEnv, type VectorEnv } from './vector.ts';
import { ActionChunk, OrderEnforcing, TimeLimit } from './wrappers.ts';
import { isWebSocketUrl } from '../core/url.ts';

export type EnvFactory = (options: Record<string, unknown>) => Env | Promise<Env>;

export interface EnvRegistration {
  id: string;
  entryPoint: EnvFactory;
  /** Default TimeLimit; null for none. */
  maxEpisodeSteps?: number | null;
  rewardThreshold?: number | null;
}

export interface MakeEnvOptions {
  /** Overrides the registered TimeLimit; null removes it. */
  maxEpisodeSteps?: number | null;
  /** Everything else goes to the env's constructor (e.g. resetNoiseScale, ctrlCostWeight). */
  [option: string]: unknown;
}

const registry = new Map<string, Required<EnvRegistration>>();

export function registerEnv(registration: EnvRegistration): void {
  if (registry.has(registration.id)) throw new Error(`env id '${registration.id}' is already registered`);
  registry.set(registration.id, {
    id: registration.id,
    entryPoint: registration.entryPoint,
    maxEpisodeSteps: registration.maxEpisodeSteps ?? null,
    rewardThreshold: registration.rewardThreshold ?? null,
  });
}

export function registeredEnvIds(): string[] {
  return [...registry.keys()];
}

export async function makeEnv(id: string, options: MakeEnvOptions = {}): Promise<Env> {
  const registration = registry.get(id);
  if (!registration) throw new Error(`unknown env id '${id}'; registered: ${registeredEnvIds().join(', ')}`);
  const { maxEpisodeSteps, ...envOptions } = options;
  const limit = maxEpisodeSteps === undefined ? registration.maxEpisodeSteps : maxEpisodeSteps;
  const env = await registration.entryPoint(envOptions);
  const spec: EnvSpec = { id, maxEpisodeSteps: limit, rewardThreshold: registration.rewardThreshold, options: envOptions };
  let wrapped: Env = new OrderEnforcing(env, spec);
  if (limit !== null) wrapped = new TimeLimit(wrapped, limit);
  return wrapped;
}

// Built-in tasks. The MuJoCo modules load on first use, so the core stays light for other envs.
// Step limits and reward thresholds: Gymnasium gymnasium/envs/__init__.py (v5 registrations).
registerEnv({
  id: 'Hopper-v5',
  entryPoint: async (options) => (await import('./mujoco/hopper.ts')).createHopper(options),
  maxEpisodeSteps: 1000,
  rewardThreshold: 3800,
});
registerEnv({
  id: 'Walker2d-v5',
  entryPoint: async (options) => (await import('./mujoco/walker2d.ts')).createWalker2d(options),
  maxEpisodeSteps: 1000,
});
registerEnv({
  id: 'HalfCheetah-v5',
  entryPoint: async (options) => (await import('./mujoco/half-cheetah.ts')).createHalfCheetah(options),
  maxEpisodeSteps: 1000,
  rewardThreshold: 4800,
});

// Manipulation (issue 18): robosuite's Lift on our Panda-like arm; 300 steps as DSRL and DPPO run it (shared/reference/manipulation.md).
registerEnv({
  id: 'Lift-v0',
  entryPoint: async (options) => (await import('./mujoco/lift.ts')).createLift(options),
  maxEpisodeSteps: 300,
});
// robosuite's PickPlaceCan (300 steps) and NutAssemblySquare (400 steps), the horizons DSRL runs them with (manipulation.md).
registerEnv({
  id: 'PickPlaceCan-v0',
  entryPoint: async (options) => (await import('./mujoco/pick-place-can.ts')).createPickPlaceCan(options),
  maxEpisodeSteps: 300,
});
registerEnv({
  id: 'NutAssemblySquare-v0',
  entryPoint: async (options) => (await import('./mujoco/nut-assembly-square.ts')).createNutAssemblySquare(options),
  maxEpisodeSteps: 400,
});

/** Builds the vector env for a `ws://` / `wss://` env id (a remote env, docs/remote-env.md). */
export type UrlEnvMaker = (url: string, n: number, chunk: number) => Promise<VectorEnv>;
let urlEnvMaker: UrlEnvMaker | null = null;

/** Installed by the Node transport (src/node/remote-env-link.ts) on import, so the core stays browser-safe. */
export function setUrlEnvMaker(maker: UrlEnvMaker): void {
  urlEnvMaker = maker;
}

/**
 * A vector env of `n` copies of a registered env, each wrapped in ActionChunk(chunk) (what a base policy's
 * chunks run on); for a `ws://host:port` id, n connections to that remote env (each already takes chunks).
 */
export async function makeChunkedVectorEnv(id: string, n: number, chunk: number): Promise<VectorEnv> {
  if (isWebSocketUrl(id)) {
    if (!urlEnvMaker) throw new Error(`env ${id}: remote envs need the Node transport (import src/node/remote-env-link.ts)`);
    return urlEnvMaker(id, n, chunk);
  }
  const envs: Env[] = [];
  for (let i = 0; i < n; i++) envs.push(new ActionChunk(await makeEnv(id), chunk));
  return new SyncVectorEnv(envs);
}
