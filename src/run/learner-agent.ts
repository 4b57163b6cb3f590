/**
 * How a learner that runs apart from the actor (actor-learner.ts; a worker thread) gets the same agent:
 * the agent's class and config (`AgentRecipe`), its state, and for DSRL-NA, which calls the base policy in
 * its updates, where that policy comes from (`PolicySource`). All three are plain data a thread or a
 * message can carry; the learner rebuilds the agent and loads the state, so both sides start from the same
 * weights, optimizer moments and random streams. Browser-safe (loading a policy from a path is the host's
 * part, src/node/learner-thread.ts).
 */
import { DsrlNA, type DsrlNaConfig } from '../algos/dsrl/dsrl-na.ts';
import { agentView } from '../algos/dsrl/noise-action-env.ts';
import { SAC, type SacConfig } from '../algos/sac.ts';
import { Rng } from '../core/rng.ts';
import { DiffusionPolicy, type DiffusionPolicyInit } from '../policies/diffusion/policy.ts';
import type { Model } from '../nn/module.ts';
import type { NoisePolicy, Precision } from '../policies/policy.ts';
import type { TrainingAgent } from './trainer.ts';

/** An agent the learner can run: it trains, has a state, and acts with `actor` (whose weights the actor side refreshes). */
export type RebuiltAgent = TrainingAgent & { readonly actor: Model };

export type AgentRecipe =
  { type: 'dsrl-na'; cfg: DsrlNaConfig; maxBatch: number; normalizeObs: boolean } | { type: 'sac'; cfg: SacConfig; maxBatch: number };

/** The base policy for a learner elsewhere: a diffusion policy's weights, or the spec it is loaded from (a path or ws:// URL). */
export type PolicySource = ({ kind: 'diffusion'; init: DiffusionPolicyInit } | { kind: 'spec'; spec: string }) & { precision: Precision };

/** What rebuilds `agent` elsewhere; `normalizeObs`: whether a DSRL-NA agent sees normalized observations. */
export function agentRecipe(agent: TrainingAgent, normalizeObs: boolean): AgentRecipe {
  if (agent instanceof DsrlNA) return { type: 'dsrl-na', cfg: agent.cfg, maxBatch: agent.maxBatch, normalizeObs };
  if (agent instanceof SAC) return { type: 'sac', cfg: agent.cfg, maxBatch: agent.maxBatch };
  throw new Error(
    `asynchronous learning: cannot rebuild an agent of class ${agent.constructor.name} in the learner (DSRL-NA and SAC-based agents only)`,
  );
}

/** Whether the recipe's agent calls the base policy in its updates (then the learner needs it). */
export function needsPolicy(recipe: AgentRecipe): boolean {
  return recipe.type === 'dsrl-na';
}

/** Where the learner gets `policy` from: a diffusion policy travels as its weights; any other needs its spec. */
export function policySource(policy: NoisePolicy, spec: string | undefined, precision: Precision): PolicySource {
  if (policy instanceof DiffusionPolicy) {
    const init = {
      spec: policy.spec,
      obsStats: policy.obsStats,
      actionLow: policy.actionLow,
      actionHigh: policy.actionHigh,
      weights: policy.network.values,
    };
    return { kind: 'diffusion', init, precision };
  }
  if (spec !== undefined) return { kind: 'spec', spec, precision };
  throw new Error(
    'asynchronous learning: the learner thread rebuilds the base policy, and this one is neither a diffusion policy nor loaded from a path or URL',
  );
}

/** The agent of `recipe` (weights from a fixed seed: load the actor side's state into it next). */
export function rebuildAgent(recipe: AgentRecipe, policy: NoisePolicy | null): RebuiltAgent {
  if (recipe.type === 'sac') return new SAC(recipe.cfg, Rng.fromSeed(0), recipe.maxBatch);
  if (!policy) throw new Error('asynchronous learning: DSRL-NA needs the base policy in the learner');
  return new DsrlNA(recipe.cfg, agentView(policy, recipe.normalizeObs).agentPolicy, Rng.fromSeed(0), recipe.maxBatch);
}
