/**
 * Loads the official MuJoCo WebAssembly module (`@mujoco/mujoco`, MuJoCo 3.14, the engine version that
 * produced the Gymnasium reference trajectories) once per thread and caches it. Works in Node and in
 * browsers (the package locates its .wasm next to its .js).
 */
import type { MainModule } from '@mujoco/mujoco';

export type MujocoModule = MainModule;

let cached: Promise<MujocoModule> | null = null;

export function loadMujoco(): Promise<MujocoModule> {
  if (!cached) {
    cached = import('@mujoco/mujoco')
      .then((pkg) => pkg.default())
      .catch((err: unknown) => {
        cached = null; // let a later call retry instead of caching the failure
        throw new Error(`failed to load the MuJoCo wasm module (@mujoco/mujoco): ${err instanceof Error ? err.message : String(err)}`);
      });
  }
  return cached;
}
