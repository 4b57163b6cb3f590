/**
 * A tiny real `dsrl steer` run as a child process, for the browser tests that follow a training run: DSRL-NA on
 * Hopper-v5 with the shipped models/hopper policy, 1200 env steps and an evaluation every 200 (six evaluations over
 * a few seconds of training), small networks, one thread (DSRL_NUM_THREADS=1, as the tests run beside each other).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');

export interface SteerExit {
  code: number | null;
  /** Everything it printed (stdout and stderr). */
  output: string;
  /** performance.now() when it exited. */
  at: number;
}

export interface SteerRun {
  /** What it has printed so far (stdout and stderr). */
  readonly output: string;
  /** Its exit once it has happened, else null. */
  readonly exited: SteerExit | null;
  /** Resolves when it exits. */
  readonly done: Promise<SteerExit>;
  /** Kills it unless it has exited. */
  kill(): void;
}

/** Starts the run writing into `out`; `extraArgs` adds steer flags (e.g. `--view-port 0`). */
export function startTinySteer(out: string, extraArgs: string[] = []): SteerRun {
  const args = ['steer', '--env', 'Hopper-v5', '--policy', 'models/hopper', '--algo', 'na', '--steps', '1200', '--learning-starts', '200'];
  args.push('--num-envs', '2', '--batch-size', '16', '--utd', '1', '--distill-steps', '1', '--actor-hidden', '16', '--critic-hidden', '16');
  args.push('--eval-every', '200', '--eval-episodes', '1', '--quiet', '--out', out, ...extraArgs);
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'dsrl.js'), ...args], {
    cwd: ROOT,
    env: { ...process.env, DSRL_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let exited: SteerExit | null = null;
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const done = new Promise<SteerExit>((resolve) => child.on('exit', (code) => resolve((exited = { code, output, at: performance.now() }))));
  return {
    get output() {
      return output;
    },
    get exited() {
      return exited;
    },
    done,
    kill: () => {
      if (exited === null) child.kill();
    },
  };
}
