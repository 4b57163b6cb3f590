/** Argument parsers for commander that reject bad values with a message naming the flag. */
import { InvalidArgumentError } from 'commander';

export const intArg =
  (flag: string) =>
  (value: string): number => {
    const n = Number(value);
    if (!Number.isSafeInteger(n)) throw new InvalidArgumentError(`${flag} must be an integer, got "${value}"`);
    return n;
  };

export const numArg =
  (flag: string) =>
  (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`${flag} must be a number, got "${value}"`);
    return n;
  };

export const listArg =
  (flag: string) =>
  (value: string): number[] => {
    const parts = value.split(',').map((v) => Number(v.trim()));
    if (parts.length === 0 || parts.some((n) => !Number.isSafeInteger(n) || n <= 0)) {
      throw new InvalidArgumentError(`${flag} must be comma-separated positive integers, got "${value}"`);
    }
    return parts;
  };

/**
 * A `--policy <spec>` loaded for an env: the env's full expectation (dims, action bounds, env id), as
 * `dsrl serve --env` passes it, so a policy for another env or other bounds fails at load, and an ONNX
 * model without a manifest takes the env's bounds.
 */
export async function loadPolicyForEnv(spec: string, envId: string): Promise<import('../policies/policy.ts').NoisePolicy> {
  const [{ makeEnv }, { expectationFromEnv }, { isWebSocketUrl }] = await Promise.all([
    import('../envs/registry.ts'),
    import('../policies/expect.ts'),
    import('../core/url.ts'),
  ]);
  const { loadPolicy } = await import('../policies/load.ts');
  // A remote env's spaces come in its hello, which takes a connection (on a robot, the driver the adapter makes
  // for it): they are checked when the run connects instead (the hello's chunk in RemoteEnv.connect, the dims in
  // checkPolicyFitsEnv, the action bounds by the safety limits).
  if (isWebSocketUrl(envId)) return loadPolicy(spec);
  const probe = await makeEnv(envId);
  let expect;
  try {
    expect = { ...expectationFromEnv(probe), envId };
  } finally {
    probe.close();
  }
  return loadPolicy(spec, { expect });
}
