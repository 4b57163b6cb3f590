/**
 * The diffusion policy (browser-safe core): network, schedules, DDIM sampler, BC pretraining and the
 * checkpoint manifest. Checkpoint files on disk (Node only): import './checkpoint-io.ts'.
 */
export { COSINE_S, MAX_BETA, cosineSchedule, ddimPlan, type DdimPlan, type NoiseSchedule } from './schedule.ts';
export {
  DIFFUSION_ACTIVATION,
  DiffusionMlp,
  PreActResidualBlock,
  ResidualMlp,
  TimeEmbedding,
  sinusoidalEmbedding,
  sinusoidalFrequencies,
  type DiffusionMlpSpec,
} from './network.ts';
export { OBS_RANGE_EPS, ObsNormalizer, checkActionBounds, minMaxStats, normalizeActions, type ObsStats } from './normalization.ts';
export {
  DIFFUSION_SPEC_DEFAULTS,
  DiffusionPolicy,
  checkDiffusionPolicySpec,
  createDiffusionNetwork,
  ddimUpdate,
  networkSpec,
  type DiffusionPolicyInit,
  type DiffusionPolicySpec,
} from './policy.ts';
export {
  DiffusionTrainer,
  buildChunkData,
  pretrainConfigSchema,
  resolvePretrainConfig,
  type ChunkData,
  type ChunkDataOptions,
  type ChunkTail,
  type PretrainConfig,
  type PretrainConfigInput,
} from './train.ts';
export {
  EMA_PREFIX,
  MANIFEST_FILE,
  MANIFEST_FORMAT,
  MANIFEST_VERSION,
  RAW_PREFIX,
  WEIGHTS_FILE,
  buildManifest,
  checkExpectation,
  manifestSchema,
  parseManifest,
  policyFromTensors,
  specFromManifest,
  validateManifest,
  type DatasetInfo,
  type DiffusionManifest,
  type EvalResult,
  type ManifestExtras,
  type PolicyExpectation,
  type PolicyFromTensorsOptions,
} from './manifest.ts';
