/**
 * The Python remote env adapter (docs/examples/remote_env_adapter.py) as a child process for tests, on
 * test/fixtures/remote_env_reach.py's factories (or another fixture module's, e.g. dsrl_env.py's); its stdout lines are kept with the time each arrived
 * (performance.now() here), so a test can time what the adapter saw. CI=true: a missing
 * python3-websockets fails; elsewhere the tests that need it skip.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Rng } from '../../src/core/rng.ts';
import { createDiffusionNetwork, DiffusionPolicy } from '../../src/policies/diffusion/policy.ts';

const PYTHON = '/usr/bin/python3';
const ADAPTER = join(import.meta.dirname, '..', '..', 'docs', 'examples', 'remote_env_adapter.py');
const FIXTURES = join(import.meta.dirname, '..', 'fixtures');

export function pythonProblem(): string | null {
  if (!existsSync(PYTHON)) return `${PYTHON} not found`;
  const res = spawnSync(PYTHON, ['-c', 'import websockets, numpy'], { encoding: 'utf8', timeout: 30_000 });
  return res.status === 0 ? null : `${PYTHON} cannot import websockets/numpy (apt-get install python3-websockets python3-numpy)`;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface Adapter {
  proc: ChildProcess;
  url: string;
  lines: { text: string; t: number }[];
  waitFor(re: RegExp, timeoutMs?: number, from?: number): Promise<{ text: string; t: number }>;
  kill(): Promise<void>;
}

/**
 * Starts the adapter on `port` with `remote_env_reach:<factory>` (or `module:factory` of test/fixtures), with
 * `env` added to its environment; resolves once it listens. Kill it when done.
 */
export async function startAdapter(port: number, extra: string[] = [], factory = 'make', env: Record<string, string> = {}): Promise<Adapter> {
  const entry = factory.includes(':') ? factory : `remote_env_reach:${factory}`;
  const proc = spawn(PYTHON, [ADAPTER, '--env', entry, '--port', String(port), ...extra], {
    env: { ...process.env, PYTHONPATH: FIXTURES, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: { text: string; t: number }[] = [];
  let stderr = '';
  let buf = '';
  proc.stdout!.on('data', (d: Buffer) => {
    const t = performance.now();
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop()!;
    for (const text of parts) lines.push({ text, t });
  });
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const adapter: Adapter = {
    proc,
    url: `ws://127.0.0.1:${port}`,
    lines,
    async waitFor(re, timeoutMs = 5000, from = 0) {
      const end = performance.now() + timeoutMs;
      while (performance.now() < end) {
        const hit = lines.slice(from).find((l) => re.test(l.text));
        if (hit) return hit;
        if (proc.exitCode !== null) throw new Error(`adapter exited (${proc.exitCode}): ${stderr}`);
        await new Promise((r) => setTimeout(r, 5));
      }
      throw new Error(
        `adapter printed no line matching ${re} within ${timeoutMs} ms; stdout: ${lines.map((l) => l.text).join(' | ')}; stderr: ${stderr}`,
      );
    },
    async kill() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGKILL');
        await exited;
      }
    },
  };
  try {
    await adapter.waitFor(/^listening on /, 10_000);
  } catch (err) {
    await adapter.kill();
    throw err;
  }
  return adapter;
}

/** A small diffusion policy (random weights) for the 1-D reach fixture: obs 2, one action per step. */
export function tinyPolicy(obsDim: number, actDim: number, chunk: number): DiffusionPolicy {
  const spec = { obsDim, actDim, chunk, denoisingSteps: 10, ddimSteps: 3, timeDim: 8, width: 16, depth: 1 };
  return new DiffusionPolicy({
    spec,
    obsStats: { min: new Float32Array(obsDim).fill(-1), max: new Float32Array(obsDim).fill(1) },
    actionLow: new Array(actDim).fill(-1),
    actionHigh: new Array(actDim).fill(1),
    weights: createDiffusionNetwork(spec, Rng.fromSeed(1)).values,
  });
}
