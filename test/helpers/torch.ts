/**
 * Debian's system Python with PyTorch (`python3-torch`), for the tests that compare against PyTorch. It
 * is /usr/bin/python3 on purpose, not the first python3 on PATH (a pyenv or venv python has other
 * packages, or none). CI (.ci/run) installs python3-torch, so there a missing torch is a failure, not a skip.
 */
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

export const SYSTEM_PYTHON = '/usr/bin/python3';

/** True where a missing PyTorch must fail the tests that need it (CI=true, as CI services and .ci/run set). */
export const torchRequired = process.env.CI === 'true';

function probe(): { version: string | null; problem: string | null } {
  if (!existsSync(SYSTEM_PYTHON)) return { version: null, problem: `${SYSTEM_PYTHON} not found` };
  const res = spawnSync(SYSTEM_PYTHON, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8', timeout: 120_000 });
  if (res.status === 0) return { version: res.stdout.trim(), problem: null };
  const why = (res.stderr || res.error?.message || '').trim().split('\n').pop();
  return { version: null, problem: `${SYSTEM_PYTHON} cannot import torch (${why})` };
}

const found = probe();
/** torch.__version__ of the system Python, or null. */
export const torchVersion = found.version;
/** Why PyTorch cannot be used here (install Debian's python3-torch), or null when it can. */
export const torchProblem = found.problem;
