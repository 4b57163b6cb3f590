/**
 * The algorithm table of `dsrl steer`: each way of improving a base policy, by name. The run layer looks
 * an entry up and never branches on the name; a new algorithm is a new entry.
 */
import { dsrlNa } from './dsrl/dsrl-na.ts';
import { dsrlSac } from './dsrl/dsrl-sac.ts';
import { residualSac } from './residual-sac.ts';
import type { AlgoSpec } from './spec.ts';

/** The base policy alone with w ~ N(0, I): one evaluation, the line the others have to beat. */
const basePolicy: AlgoSpec = {
  label: 'base policy',
  kind: 'base-policy',
  offline: 'the base policy is only evaluated; offline data would not be used',
  normalizeObs: false,
  build: null,
};

export const STEER_ALGOS = { na: dsrlNa, sac: dsrlSac, residual: residualSac, base: basePolicy } as const satisfies Record<string, AlgoSpec>;
export type SteerAlgo = keyof typeof STEER_ALGOS;
export const STEER_ALGO_NAMES = Object.keys(STEER_ALGOS) as SteerAlgo[];
