/**
 * Pure loss functions of the actor-critic algorithms (rlpd's style): each takes arrays, returns
 * `{loss, info}` and writes its gradient with respect to its inputs into caller-owned buffers; no
 * network, optimizer or hidden state is touched. SAC and DSRL-NA compose them with explicit
 * backward passes.
 */
import { ensembleReduceGrad } from './common.ts';

export type Info = Record<string, number>;
export interface LossResult {
  loss: number;
  info: Info;
}

/**
 * Soft Bellman target per row: y = r + discount * (1 - terminated) * (reduce_i Qtarget_i(s', a') - alpha log pi(a'|s')).
 * Truncation is not an input: a time-limit end bootstraps like any other step.
 */
export function softBellmanTarget(
  args: {
    rewards: ArrayLike<number>;
    terminated: ArrayLike<number>;
    /** gamma, or per-row discounts (e.g. gamma^k for a k-step chunk). */
    discount: number | ArrayLike<number>;
    nextQ: Float32Array[];
    nextLogProb: ArrayLike<number>;
    alpha: number;
    reduce: 'min' | 'mean';
  },
  rows: number,
  out: Float32Array,
): Float32Array {
  const { nextQ, reduce } = args;
  const n = nextQ.length;
  for (let b = 0; b < rows; b++) {
    let q = nextQ[0][b];
    for (let i = 1; i < n; i++) q = reduce === 'min' ? Math.min(q, nextQ[i][b]) : q + nextQ[i][b];
    if (reduce === 'mean') q /= n;
    const discount = typeof args.discount === 'number' ? args.discount : args.discount[b];
    out[b] = args.rewards[b] + (args.terminated[b] ? 0 : discount * (q - args.alpha * args.nextLogProb[b]));
  }
  return out;
}

/** Mean squared error of one critic's values against the target; dq = dLoss/dq. */
export function tdLoss(q: ArrayLike<number>, target: ArrayLike<number>, rows: number, dq: Float32Array): LossResult {
  let loss = 0;
  let mean = 0;
  for (let b = 0; b < rows; b++) {
    const err = q[b] - target[b];
    loss += (err * err) / rows;
    mean += q[b] / rows;
    dq[b] = (2 * err) / rows;
  }
  return { loss, info: { q_mean: mean } };
}

/**
 * Actor loss mean_b [alpha log pi(a_b|s_b) - reduce_i Q_i(s_b, a_b)] with reparameterised actions.
 * Writes dLoss/dQ_i into dq[i] and dLoss/dlog pi into dLogProb.
 */
export function actorLoss(
  q: Float32Array[],
  logProb: ArrayLike<number>,
  alpha: number,
  reduce: 'min' | 'mean',
  rows: number,
  dq: Float32Array[],
  dLogProb: Float32Array,
): LossResult {
  let loss = -ensembleReduceGrad(q, rows, reduce, -1 / rows, dq) / rows;
  let logProbMean = 0;
  for (let b = 0; b < rows; b++) {
    dLogProb[b] = alpha / rows;
    loss += (alpha * logProb[b]) / rows;
    logProbMean += logProb[b] / rows;
  }
  return { loss, info: { entropy: -logProbMean } };
}

/** Temperature loss -log(alpha) * (mean log pi + target entropy) (SB3/CleanRL form) and its gradient w.r.t. log(alpha). */
export function temperatureLoss(logAlpha: number, logProb: ArrayLike<number>, rows: number, targetEntropy: number): LossResult & { grad: number } {
  let logProbMean = 0;
  for (let b = 0; b < rows; b++) logProbMean += logProb[b] / rows;
  const grad = -(logProbMean + targetEntropy);
  return { loss: logAlpha * grad, grad, info: { alpha: Math.exp(logAlpha) } };
}

/**
 * One-step TD targets y = r + gamma * (1 - terminated) * nextValue. Truncation is deliberately not
 * an input: a time-limit end still bootstraps. For action chunks, r is the chunk's reward and
 * gamma is applied once per chunk.
 */
export function tdTargets(
  rewards: ArrayLike<number>,
  terminated: ArrayLike<number>,
  nextValue: ArrayLike<number>,
  gamma: number,
  out: Float32Array,
): Float32Array {
  const n = rewards.length;
  if (terminated.length !== n || nextValue.length !== n || out.length !== n) {
    throw new Error(`tdTargets: lengths differ (rewards ${n}, terminated ${terminated.length}, nextValue ${nextValue.length}, out ${out.length})`);
  }
  for (let i = 0; i < n; i++) out[i] = rewards[i] + gamma * (1 - (terminated[i] ? 1 : 0)) * nextValue[i];
  return out;
}
