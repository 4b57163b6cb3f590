import { describe, expect, it } from 'vitest';
import { actorLoss, softBellmanTarget, tdLoss, temperatureLoss } from '../src/algos/losses.ts';

describe('actor-critic losses', () => {
  it('soft Bellman target: min or mean over the ensemble, no bootstrap after termination', () => {
    const args = {
      rewards: [1, 2],
      terminated: [0, 1],
      discount: 0.5,
      nextQ: [new Float32Array([4, 4]), new Float32Array([2, 8])],
      nextLogProb: [1, 1],
      alpha: 0.1,
    };
    const min = softBellmanTarget({ ...args, reduce: 'min' }, 2, new Float32Array(2));
    expect(min[0]).toBeCloseTo(1 + 0.5 * (2 - 0.1), 6);
    expect(min[1]).toBe(2); // terminated: the reward alone
    const mean = softBellmanTarget({ ...args, reduce: 'mean', discount: [0.25, 0.5] }, 2, new Float32Array(2));
    expect(mean[0]).toBeCloseTo(1 + 0.25 * (3 - 0.1), 6);
  });

  it('TD loss is the mean squared error with its exact gradient', () => {
    const dq = new Float32Array(2);
    const res = tdLoss([1, 3], [0, 1], 2, dq);
    expect(res.loss).toBeCloseTo((1 + 4) / 2, 6);
    expect(Array.from(dq)).toEqual([1, 2]);
    expect(res.info.q_mean).toBe(2);
  });

  it('actor loss sends the gradient to the smaller critic per row, and alpha/B to log pi', () => {
    const dq = [new Float32Array(2), new Float32Array(2)];
    const dLogProb = new Float32Array(2);
    const res = actorLoss([new Float32Array([1, 5]), new Float32Array([2, 3])], [-1, -3], 0.5, 'min', 2, dq, dLogProb);
    expect(res.loss).toBeCloseTo((0.5 * -1 - 1 + 0.5 * -3 - 3) / 2, 6);
    expect(Array.from(dq[0])).toEqual([-0.5, 0]);
    expect(Array.from(dq[1])).toEqual([0, -0.5]);
    expect(Array.from(dLogProb)).toEqual([0.25, 0.25]);
    expect(res.info.entropy).toBe(2);
  });

  it('temperature loss pushes alpha down when entropy exceeds the target', () => {
    // entropy 2 > target -1: d loss / d log(alpha) = -(mean log pi + target) = -(-2 - 1) = 3 > 0, so log(alpha) decreases.
    const res = temperatureLoss(0, [-2, -2], 2, -1);
    expect(res.grad).toBe(3);
    expect(res.loss).toBe(0);
  });
});
