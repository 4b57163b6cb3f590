/**
 * How a base policy does under different laws of its initial noise w, on the same episode starts (the one
 * evaluation protocol, run/evaluate.ts): N(0, I) as it was trained, w = 0 (its most likely chunk), scaled
 * normals, uniform and corner draws within a bound, and fixed random vectors (the same w at every chunk: what
 * a noise actor whose output barely moves with the observation feeds it, e.g. a randomly initialized one).
 *
 *   npx tsx experiments/noise-probe.ts --policy models/lift --env Lift-v0 [--episodes 40] [--seed 3] [--fixed 4] [--split-dim 6]
 *
 * Prints one line per law: success rate (where the env reports it) and mean return.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { NoiseActionVectorEnv } from '../src/algos/dsrl/noise-action-env.ts';
import { loadPolicyForEnv } from '../src/cli/args.ts';
import { Rng } from '../src/core/rng.ts';
import { makeChunkedVectorEnv } from '../src/envs/registry.ts';
import { evaluate, type EvalActor } from '../src/run/evaluate.ts';

type Draw = (rng: Rng, out: Float32Array) => void;

/** An actor drawing each row's noise from its episode's stream with `draw` (rows are episodes, evaluate.ts). */
function lawActor(dim: number, draw: Draw): EvalActor {
  return {
    act(_obs, rows, rngs) {
      const out = new Float32Array(rows * dim);
      for (let r = 0; r < rows; r++) draw(rngs[r], out.subarray(r * dim, (r + 1) * dim));
      return out;
    },
  };
}

export interface LawOptions {
  /** How many fixed random vectors to try. */
  fixed: number;
  /** Their scale (1: N(0, I)). */
  fixedScale?: number;
  /** Only the fixed vectors (and their splits), not the fresh laws. */
  fixedOnly?: boolean;
  /** Action dims per chunk step: w is laid out [chunk step][action dim] (default: dim, one step). */
  actDim?: number;
  /**
   * An action dimension (e.g. 6, a manipulation task's gripper command); each fixed vector is then also tried
   * with that dimension's entries drawn fresh at every chunk (the rest fixed), and the other way round, to see
   * which part of a fixed w does the harm.
   */
  splitDim?: number;
}

export function noiseLaws(dim: number, opts: LawOptions): Array<[string, EvalActor]> {
  const { fixed, fixedScale = 1, fixedOnly = false, actDim = dim, splitDim } = opts;
  const scaled =
    (s: number): Draw =>
    (rng, o) => {
      rng.fillNormal(o);
      for (let i = 0; i < o.length; i++) o[i] *= s;
    };
  const fresh: Array<[string, EvalActor]> = [
    ['N(0, I)', lawActor(dim, (rng, o) => rng.fillNormal(o))],
    ['w = 0', lawActor(dim, (_rng, o) => o.fill(0))],
    ['0.3 N(0, I)', lawActor(dim, scaled(0.3))],
    ['0.5 N(0, I)', lawActor(dim, scaled(0.5))],
    ['uniform [-1, 1]', lawActor(dim, (rng, o) => o.forEach((_, i) => (o[i] = rng.uniformRange(-1, 1))))],
    ['uniform [-1.5, 1.5]', lawActor(dim, (rng, o) => o.forEach((_, i) => (o[i] = rng.uniformRange(-1.5, 1.5))))],
    ['random corners of [-1, 1]', lawActor(dim, (rng, o) => o.forEach((_, i) => (o[i] = rng.uniform() < 0.5 ? -1 : 1)))],
    ['random corners of [-1.5, 1.5]', lawActor(dim, (rng, o) => o.forEach((_, i) => (o[i] = rng.uniform() < 0.5 ? -1.5 : 1.5)))],
  ];
  const laws = fixedOnly ? [] : fresh;
  for (let k = 0; k < fixed; k++) {
    const w = Rng.fromSeed(1000 + k).fillNormal(new Float32Array(dim));
    for (let i = 0; i < dim; i++) w[i] *= fixedScale;
    const law = fixedScale === 1 ? 'N(0, I)' : `${fixedScale} N(0, I)`;
    laws.push([`fixed w #${k} ~ ${law}, same at every chunk`, lawActor(dim, (_rng, o) => o.set(w))]);
    if (splitDim === undefined) continue;
    const mixed =
      (freshInSplit: boolean): Draw =>
      (rng, o) => {
        rng.fillNormal(o);
        for (let i = 0; i < dim; i++) if ((i % actDim === splitDim) !== freshInSplit) o[i] = w[i];
      };
    laws.push([`  #${k} fixed, dim ${splitDim} fresh`, lawActor(dim, mixed(true))]);
    laws.push([`  #${k} fresh, dim ${splitDim} fixed`, lawActor(dim, mixed(false))]);
  }
  return laws;
}

async function main(argv: string[]): Promise<void> {
  const o = new Command()
    .requiredOption('--policy <spec>', 'base policy (checkpoint folder, ONNX file or ws:// server)')
    .requiredOption('--env <id>', 'env id')
    .option('--episodes <n>', 'episodes per law', '40')
    .option('--seed <n>', 'evaluation seed', '3')
    .option('--fixed <n>', 'fixed random noise vectors to try', '4')
    .option('--fixed-scale <s>', 'scale of the fixed vectors (what an actor bounded by M = s or so can feed)', '1')
    .option('--fixed-only', 'only the fixed vectors (and their splits), not the laws before them')
    .option('--split-dim <i>', 'also try each fixed vector with this action dimension drawn fresh, and only it fixed')
    .parse(argv)
    .opts();
  const policy = await loadPolicyForEnv(o.policy, o.env);
  const inner = await makeChunkedVectorEnv(o.env, 5, policy.chunk);
  // M only declares the noise space; the laws' draws pass through unclipped (the widest here is 1.5).
  const env = new NoiseActionVectorEnv(inner, policy, 10);
  try {
    const split = o.splitDim === undefined ? undefined : Number(o.splitDim);
    if (split !== undefined && !(Number.isInteger(split) && split >= 0 && split < policy.actDim))
      throw new Error(`--split-dim must be an action dimension in [0, ${policy.actDim - 1}], got ${o.splitDim}`);
    const scale = Number(o.fixedScale);
    if (!(scale > 0)) throw new Error(`--fixed-scale must be a positive number, got ${o.fixedScale}`);
    const laws = noiseLaws(policy.chunk * policy.actDim, {
      fixed: Number(o.fixed),
      fixedScale: scale,
      fixedOnly: o.fixedOnly === true,
      actDim: policy.actDim,
      splitDim: split,
    });
    for (const [name, actor] of laws) {
      const r = await evaluate(actor, env, { episodes: Number(o.episodes), seed: Number(o.seed) });
      const success = r.successRate === undefined ? '' : `success ${(100 * r.successRate).toFixed(1)}%, `;
      console.log(`${name.padEnd(44)} ${success}return ${r.mean.toFixed(1)} ± ${r.std.toFixed(1)}`);
    }
  } finally {
    await env.close();
    await policy.close?.();
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv).catch((err: unknown) => {
    console.error(`noise-probe: error: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  });
}
