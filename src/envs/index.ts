/**
 * dsrl's environment layer (browser-safe core). The worker_threads vector env is Node-only: import it from
 * './vector-worker.ts'.
 */
export type { Env, EnvSpec, EnvState, Info, ResetOptions, ResetResult, StepResult } from './env.ts';
export { envName, getEnvState, setEnvState } from './env.ts';
export { Box } from './spaces.ts';
export { makeEnv, registerEnv, registeredEnvIds, type EnvFactory, type EnvRegistration, type MakeEnvOptions } from './registry.ts';
export { ActionChunk, OrderEnforcing, RecordEpisodeStatistics, TimeLimit, Wrapper, episodeStatistics, type EpisodeStatistics } from './wrappers.ts';
export { ClipAction, NormalizeObservation, RescaleAction, type ObservationStats } from './transform-wrappers.ts';
export { checkEnv, EnvCheckError, type CheckEnvOptions, type CheckEnvReport } from './checker.ts';
export {
  SyncVectorEnv,
  batchSpace,
  checkVectorEnvState,
  vectorResetSeeds,
  type VectorEnv,
  type VectorEnvState,
  type VectorResetOptions,
  type VectorResetResult,
  type VectorStepResult,
} from './vector.ts';
