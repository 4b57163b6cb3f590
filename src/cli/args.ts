/** Argument parsers for commander that reject bad values with a message naming the flag. */
import { InvalidArgumentError } from 'commander';

export const intArg = (flag: string) => (value: string): number => {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError(`${flag} must be an integer, got "${value}"`);
  return n;
};

export const numArg = (flag: string) => (value: string): number => {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`${flag} must be a number, got "${value}"`);
  return n;
};

export const listArg = (flag: string) => (value: string): number[] => {
  const parts = value.split(',').map((v) => Number(v.trim()));
  if (parts.length === 0 || parts.some((n) => !Number.isSafeInteger(n) || n <= 0)) {
    throw new InvalidArgumentError(`${flag} must be comma-separated positive integers, got "${value}"`);
  }
  return parts;
};

/** A `--policy <spec>` loaded for an env: its dims come from the env itself, so a mismatch fails at load. */
export async function loadPolicyForEnv(spec: string, envId: string): Promise<import('../policies/policy.ts').NoisePolicy> {
  const { makeEnv } = await import('../envs/registry.ts');
  const probe = await makeEnv(envId);
  const expect = { obsDim: probe.observationSpace.size, actDim: probe.actionSpace.size };
  probe.close();
  const { loadPolicy } = await import('../policies/load.ts');
  return loadPolicy(spec, { expect });
}
