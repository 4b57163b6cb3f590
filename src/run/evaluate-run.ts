/**
 * `dsrl eval --run`: what evaluating a run folder's saved agent takes and gives, shared by steer runs
 * (train-dsrl.ts evaluateRun) and SAC-from-scratch runs (train-sac.ts evaluateSacRun).
 */
import type { EvalResult } from './offpolicy.ts';

export interface EvaluateRunInput {
  /** The run folder (what `dsrl steer` or `dsrl sac` made). */
  run: string;
  /** Which saved agent: the best evaluation so far or the latest one. */
  agent: 'best' | 'last';
  episodes: number;
  /** Seeds the env resets (and residual SAC's base-policy noise); training evaluations use 10000. */
  seed: number;
  /** Episodes run side by side. */
  parallel: number;
}

export interface EvaluateRunResult extends Omit<EvalResult, 'step'> {
  run: string;
  agent: 'best' | 'last';
  /** The run's algorithm: a steer algo, or 'scratch' for a `dsrl sac` run. */
  algo: 'na' | 'sac' | 'residual' | 'scratch';
  env: string;
  /** Env steps the agent had trained for, and its return in that training evaluation (from the file). */
  trainedSteps: number | null;
  trainedEval: number | null;
}

export function checkEvaluateRunInput(input: EvaluateRunInput): void {
  if (!Number.isInteger(input.episodes) || input.episodes < 1) throw new Error(`episodes must be a positive integer, got ${input.episodes}`);
  if (!Number.isInteger(input.parallel) || input.parallel < 1) throw new Error(`parallel must be a positive integer, got ${input.parallel}`);
}
