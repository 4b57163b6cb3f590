/**
 * DSRL-SAC (Wagenmaker et al. 2025): plain SAC on the latent-noise MDP. The noise-action wrapper turns
 * the task into an env whose action is the base policy's initial noise w in [-M, M]^(Ta x da); SAC,
 * unchanged, learns Q(s, w) and a tanh-Gaussian noise actor on it. Networks as in the reference configs:
 * LayerNorm critics, tanh activations, temperature target 0 on w / M.
 */
import { SAC, sacDefaults } from '../sac.ts';
import { gaussianNoiseWarmup, noiseTargetEntropy, type AlgoSpec } from '../spec.ts';
import { agentView, NoiseActionVectorEnv } from './noise-action-env.ts';

export const dsrlSac: AlgoSpec = {
  label: 'DSRL-SAC',
  kind: 'dsrl-sac',
  offline:
    'DSRL-SAC learns Q(s, w) on the noise it chose itself, and offline data has real actions, not noise; use algo "na" (DSRL-NA learns Q on real actions)',
  normalizeObs: true,
  build({ hp, policy, trainInner, evalInner, rng, maxRows }) {
    const M = hp.actionMagnitude;
    const chunkDim = policy.chunk * policy.actDim;
    const { normalizer } = agentView(policy, hp.normalizeObs);
    // The noise-action wrapper ...
    const trainEnv = trainInner ? new NoiseActionVectorEnv(trainInner, policy, M, normalizer) : null;
    const evalEnv = new NoiseActionVectorEnv(evalInner, policy, M, normalizer);
    // ... plus a plain SAC whose actions are noise.
    const agent = new SAC(
      sacDefaults(policy.obsDim, chunkDim, {
        actionLow: new Array(chunkDim).fill(-M),
        actionHigh: new Array(chunkDim).fill(M),
        actorHidden: hp.actorHidden,
        criticHidden: hp.criticHidden,
        criticLayerNorm: true,
        actorLayerNorm: hp.actorLayerNorm,
        activation: 'tanh',
        targetEntropy: noiseTargetEntropy(hp.targetEntropy, chunkDim, M),
        initAlpha: hp.initTemperature,
        actorInit: hp.actorInit ?? 'random',
        actorLr: hp.lr,
        criticLr: hp.lr,
        alphaLr: hp.lr,
        gamma: hp.gamma,
      }),
      rng.derive('agent'),
      maxRows,
    );
    return {
      agent,
      trainEnv,
      evalEnv,
      obsDim: policy.obsDim,
      fields: {},
      warmupActions: gaussianNoiseWarmup(M),
      actorMetadata: {
        action_magnitude: String(M),
        ...(normalizer ? { observations: "normalized with the base policy's observation statistics" } : {}),
      },
    };
  },
};
