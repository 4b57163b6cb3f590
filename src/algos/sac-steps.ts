/**
 * The two gradient steps every SAC-family agent here takes, written once: regressing an ensemble of
 * critics onto targets (SAC's TD step, DSRL-NA's Q_A step and its Q_W distillation), and the actor +
 * temperature step through a critic ensemble (SAC on Q(s, a), DSRL-NA on Q_W(s, w)). Losses come from
 * losses.ts; these only wire them to networks, explicit backward passes and optimizers.
 */
import type { Rng } from '../core/rng.ts';
import { runConcurrently } from '../nn/concurrent.ts';
import type { Model } from '../nn/module.ts';
import type { Adam } from '../nn/optim.ts';
import { concatRows } from './common.ts';
import { actorLoss, temperatureLoss, tdLoss, type Info } from './losses.ts';
import type { TanhGaussian } from './tanh-gaussian.ts';

/**
 * Forward every model on the same rows x, member i's [rows] output into out[i]. The members run concurrently
 * where the backend can (nn/concurrent.ts), with the floats of running them one after the other.
 */
export function forwardEach(models: readonly Model[], x: Float32Array, rows: number, out: readonly Float32Array[]): void {
  const ys = runConcurrently(models.map((m) => () => m.forward(x, rows)));
  ys.forEach((y, i) => out[i].set(y.subarray(0, rows)));
}

/**
 * Regress every critic on inputs `x` [B, in] onto `targets`: one target for all members, or member i
 * onto targets[i]. One Adam step each; dq[i] is member i's [B] loss gradient. The members' forwards, then their
 * backward + Adam steps, run concurrently where the backend can (nn/concurrent.ts); the losses come from JS in
 * between, and the gradients are zeroed before the backward passes are recorded. Returns the mean loss and mean
 * value over members.
 */
export function regressCritics(
  critics: readonly Model[],
  opts: readonly Adam[],
  x: Float32Array,
  targets: Float32Array | readonly Float32Array[],
  B: number,
  dq: readonly Float32Array[],
): { loss: number; qMean: number } {
  const q = runConcurrently(critics.map((critic) => () => critic.forward(x, B)));
  let loss = 0;
  let qMean = 0;
  for (let i = 0; i < critics.length; i++) {
    const target = targets instanceof Float32Array ? targets : targets[i];
    const res = tdLoss(q[i], target, B, dq[i]);
    loss += res.loss / critics.length;
    qMean += res.info.q_mean / critics.length;
  }
  for (const critic of critics) critic.zeroGrad();
  runConcurrently(
    critics.map((critic, i) => () => {
      critic.backward(dq[i].subarray(0, B), B, { inputGrad: false });
      opts[i].update();
    }),
  );
  return { loss, qMean };
}

/** Buffers and networks the actor step works on (owned by the agent, reused across calls). */
export interface ActorStepParts {
  actor: Model;
  actorOpt: Adam;
  head: TanhGaussian;
  /** The critics the actor climbs (not updated here: no parameter gradients are taken). */
  critics: readonly Model[];
  reduce: 'min' | 'mean';
  logAlpha: { values: Float32Array; grads: Float32Array };
  alphaOpt: Adam;
  targetEntropy: number;
  /** Scratch: critic input [B, obs + act], per-critic values and gradients [B], dAction [B, act], dLogProb [B]. */
  x: Float32Array;
  q: Float32Array[];
  dq: Float32Array[];
  dAction: Float32Array;
  dLogProb: Float32Array;
}

/**
 * Actor loss E[alpha log pi(a|s) - reduce_i Q_i(s, a)] with reparameterized a ~ pi(s), backpropagated
 * through each critic's action input and the tanh-Gaussian head; then the temperature loss
 * -log(alpha) (log pi + H_target). alpha is read before either step, as in CleanRL.
 */
export function actorTemperatureStep(p: ActorStepParts, obs: Float32Array, obsDim: number, B: number, noise: Pick<Rng, 'normal'>): Info {
  const actDim = p.head.d;
  const alpha = Math.exp(p.logAlpha.values[0]);
  p.head.sample(p.actor.forward(obs, B), B, noise);
  const x = concatRows(obs, obsDim, p.head.action, actDim, B, p.x);
  forwardEach(p.critics, x, B, p.q);
  const actor = actorLoss(p.q, p.head.logProb, alpha, p.reduce, B, p.dq, p.dLogProb);
  const dAction = p.dAction;
  dAction.fill(0, 0, B * actDim);
  const width = obsDim + actDim;
  // Each critic's input gradient, concurrently; then summed over members in order.
  const dxs = runConcurrently(p.critics.map((critic, i) => () => critic.backward(p.dq[i].subarray(0, B), B, { inputGrad: true, paramGrad: false })!));
  for (const dx of dxs) {
    for (let b = 0; b < B; b++) {
      for (let j = 0; j < actDim; j++) dAction[b * actDim + j] += dx[b * width + obsDim + j];
    }
  }
  const dOut = p.head.backward(B, dAction, p.dLogProb);
  p.actor.zeroGrad();
  p.actor.backward(dOut.subarray(0, B * 2 * actDim), B, { inputGrad: false });
  p.actorOpt.update();
  const temperature = temperatureLoss(p.logAlpha.values[0], p.head.logProb, B, p.targetEntropy);
  p.logAlpha.grads[0] = temperature.grad;
  p.alphaOpt.update();
  return { 'losses/actor_loss': actor.loss, 'losses/alpha': alpha, 'losses/alpha_loss': temperature.loss, 'losses/entropy': actor.info.entropy };
}
