/**
 * `dsrl eval --run`: what evaluating a run folder's saved agent takes and gives, shared by steer runs
 * (train-dsrl.ts evaluateRun) and SAC-from-scratch runs (train-sac.ts evaluateSacRun).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { EvalResult } from './offpolicy.ts';
import { CONFIG_FILE, readRunConfig } from './run-dir.ts';

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

/** Checks the input and returns the run's config.json (raw) and its path; both kinds of run start here. */
export function openRunForEvaluation(input: EvaluateRunInput): { configPath: string; stored: unknown } {
  const configPath = join(input.run, CONFIG_FILE);
  if (!existsSync(configPath)) throw new Error(`${input.run}: no config.json, so it is not a dsrl run folder`);
  checkEvaluateRunInput(input);
  return { configPath, stored: readRunConfig(input.run) };
}

function checkEvaluateRunInput(input: EvaluateRunInput): void {
  if (!Number.isInteger(input.episodes) || input.episodes < 1) throw new Error(`episodes must be a positive integer, got ${input.episodes}`);
  if (!Number.isInteger(input.parallel) || input.parallel < 1) throw new Error(`parallel must be a positive integer, got ${input.parallel}`);
}
