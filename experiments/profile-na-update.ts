/**
 * Where the time of DSRL-NA training goes at the reference settings (shared/reference/dsrl.md): batch 256,
 * actor and 2 critics 3 x 128 (LayerNorm, tanh; `--critic-width` changes the critics), utd 20, 10 Q_W
 * distillation steps per 20 updates, 4 envs. Base policy: DPPO's network ("3 x 512" residual MLP, which is one
 * residual block of 512: see bench/policy.ts) with random weights (the cost does not depend on them), shaped as
 * the task's: `--task hopper` (obs 11, act 3, Ta 4, T 20, DDIM 5) or `--task square` (NutAssemblySquare-v0 and
 * models/square: obs 23, act 7, Ta 4, T 20, DDIM 8).
 *
 *   npx tsx experiments/profile-na-update.ts [--seconds 3] [--precision fp32|bf16] [--task hopper|square] [--critic-width 128]
 *
 * Reports per-call times (median over windows, the machine may be shared) of the base policy at batch 256, one
 * update without and with distillation, the env step, and the cost of one vector step (4 envs x chunk 4 = up to
 * 16 env steps: one base call at batch 4 for the rollout, utd updates, distillSteps distillation steps), then the
 * projected wall-clock for 100k env steps.
 */
import { cpus, loadavg } from 'node:os';
import { DsrlNA, dsrlNaDefaults } from '../src/algos/dsrl/dsrl-na.ts';
import { NoiseActionVectorEnv } from '../src/algos/dsrl/noise-action-env.ts';
import { Rng } from '../src/core/rng.ts';
import { ReplayBuffer } from '../src/data/replay-buffer.ts';
import { getBackend } from '../src/nn/backend.ts';
import { createDiffusionNetwork, DiffusionPolicy, type DiffusionPolicySpec } from '../src/policies/diffusion/policy.ts';
import type { NoisePolicy } from '../src/policies/policy.ts';
import { makeChunkedVectorEnv } from '../src/envs/registry.ts';

const argValue = (flag: string, fallback: string): string => {
  const i = process.argv.indexOf(flag);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const TASKS = {
  hopper: { env: 'Hopper-v5', spec: { obsDim: 11, actDim: 3, chunk: 4, denoisingSteps: 20, ddimSteps: 5, timeDim: 16, width: 512, depth: 1 } },
  square: {
    env: 'NutAssemblySquare-v0',
    spec: { obsDim: 23, actDim: 7, chunk: 4, denoisingSteps: 20, ddimSteps: 8, timeDim: 16, width: 512, depth: 1 },
  },
} satisfies Record<string, { env: string; spec: DiffusionPolicySpec }>;
const taskName = argValue('--task', 'hopper');
const seconds = Number(argValue('--seconds', '3'));
const precision = argValue('--precision', 'fp32');
if (precision !== 'fp32' && precision !== 'bf16') throw new Error(`--precision must be fp32 or bf16, got ${precision}`);
if (!(taskName in TASKS)) throw new Error(`--task must be one of ${Object.keys(TASKS).join(', ')}, got ${taskName}`);
const task = TASKS[taskName as keyof typeof TASKS];
const spec: DiffusionPolicySpec = task.spec;
const criticWidth = Number(argValue('--critic-width', '128'));
if (!Number.isInteger(criticWidth) || criticWidth < 1) throw new Error(`--critic-width must be a positive integer`);
const chunkDim = spec.chunk * spec.actDim;
const BATCH = 256;
const NUM_ENVS = 4;

/** Median seconds per call over timing windows. */
async function perCall(fn: () => unknown, totalSeconds: number, windows = 5): Promise<number> {
  for (let i = 0; i < 3; i++) await fn();
  const times: number[] = [];
  for (let w = 0; w < windows; w++) {
    let n = 0;
    const t0 = performance.now();
    let dt = 0;
    do {
      await fn();
      n++;
      dt = (performance.now() - t0) / 1000;
    } while (dt < totalSeconds / windows || n < 2);
    times.push(dt / n);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(windows / 2)];
}

/** Counts the base policy's calls and the time spent in them. */
class TimedPolicy implements NoisePolicy {
  calls = 0;
  rows = 0;
  ms = 0;
  constructor(private readonly inner: NoisePolicy) {}
  get obsDim() {
    return this.inner.obsDim;
  }
  get actDim() {
    return this.inner.actDim;
  }
  get chunk() {
    return this.inner.chunk;
  }
  get actionLow() {
    return this.inner.actionLow;
  }
  get actionHigh() {
    return this.inner.actionHigh;
  }
  async act(obs: Float32Array, noise: Float32Array, batch: number): Promise<Float32Array> {
    const t0 = performance.now();
    const out = await this.inner.act(obs, noise, batch);
    this.ms += performance.now() - t0;
    this.calls++;
    this.rows += batch;
    return out;
  }
  reset(): void {
    this.calls = 0;
    this.rows = 0;
    this.ms = 0;
  }
}

const rng = Rng.fromSeed(0);
const diffusion = new DiffusionPolicy({
  spec,
  obsStats: { min: new Float32Array(spec.obsDim).fill(-3), max: new Float32Array(spec.obsDim).fill(3) },
  actionLow: new Array(spec.actDim).fill(-1),
  actionHigh: new Array(spec.actDim).fill(1),
  weights: createDiffusionNetwork(spec, Rng.fromSeed(1)).values,
});
const precisionInUse = diffusion.usePrecision(precision);
const base = new TimedPolicy(diffusion);
const cfg = dsrlNaDefaults(spec.obsDim, chunkDim, { actionMagnitude: 1.5, criticHidden: [criticWidth, criticWidth, criticWidth] });
const agent = new DsrlNA(cfg, base, rng.split(), BATCH);
const buffer = new ReplayBuffer({ capacity: 20_000, obsDim: spec.obsDim, actionDim: chunkDim, fields: { realActions: chunkDim }, rng: rng.split() });
const rows = 20_000;
buffer.addBatch({
  obs: rng.fillNormal(new Float32Array(rows * spec.obsDim)),
  actions: rng.fillNormal(new Float32Array(rows * chunkDim)),
  rewards: rng.fillNormal(new Float32Array(rows)),
  nextObs: rng.fillNormal(new Float32Array(rows * spec.obsDim)),
  terminated: new Uint8Array(rows),
  truncated: new Uint8Array(rows),
  fields: { realActions: rng.fillUniform(new Float32Array(rows * chunkDim), -1, 1) },
});
const batch = buffer.createBatch(BATCH);

console.log(
  `backend=${getBackend().name} cpus=${cpus().length} load=${loadavg()
    .map((l) => l.toFixed(2))
    .join(',')}`,
);
console.log(
  `base policy: ${diffusion.network.size} parameters, ${precisionInUse}; DSRL-NA: actor ${cfg.actorHidden.join('x')}, critics ${cfg.criticHidden.join('x')}, batch ${BATCH}, utd ${cfg.utd}, ${cfg.distillSteps} distill steps per ${cfg.utd} updates`,
);

const obs256 = rng.fillNormal(new Float32Array(BATCH * spec.obsDim));
const noise256 = rng.fillNormal(new Float32Array(BATCH * chunkDim));
const baseMs = (await perCall(() => diffusion.act(obs256, noise256, BATCH), seconds)) * 1e3;
const obs4 = obs256.subarray(0, NUM_ENVS * spec.obsDim);
const base4Ms = (await perCall(() => diffusion.act(obs4, noise256, NUM_ENVS), seconds / 2)) * 1e3;

// One update of Q_A / actor / alpha, without distillation: keep `updates` away from a multiple of utd.
const plainUpdate = async () => {
  if ((agent.updates + 1) % cfg.utd === 0) agent.updates++;
  await agent.update(buffer.sample(batch));
};
const updateMs = (await perCall(plainUpdate, seconds)) * 1e3;
// The update that ends a utd block: + distillSteps distillation steps.
const distillUpdate = async () => {
  agent.updates = cfg.utd * Math.ceil((agent.updates + 1) / cfg.utd) - 1;
  await agent.update(buffer.sample(batch));
};
const distillUpdateMs = (await perCall(distillUpdate, seconds)) * 1e3;
const distillStepMs = (distillUpdateMs - updateMs) / cfg.distillSteps;

// The same updates with a free stand-in for the base policy (returns the noise): the cost of the RL networks alone.
const freeBase: NoisePolicy = {
  ...spec,
  actionLow: diffusion.actionLow,
  actionHigh: diffusion.actionHigh,
  act: (_obs, noise, rows) => noise.subarray(0, rows * chunkDim),
};
const rlOnly = new DsrlNA(cfg, freeBase, Rng.fromSeed(5), BATCH);
const rlUpdateMs =
  (await perCall(async () => {
    if ((rlOnly.updates + 1) % cfg.utd === 0) rlOnly.updates++;
    await rlOnly.update(buffer.sample(batch));
  }, seconds)) * 1e3;
const rlDistillMs =
  ((await perCall(async () => {
    rlOnly.updates = cfg.utd * Math.ceil((rlOnly.updates + 1) / cfg.utd) - 1;
    await rlOnly.update(buffer.sample(batch));
  }, seconds)) *
    1e3 -
    rlUpdateMs) /
  cfg.distillSteps;

// Share of the base policy inside one utd block.
base.reset();
const t0 = performance.now();
for (let u = 0; u < cfg.utd; u++) await agent.update(buffer.sample(batch));
const blockMs = performance.now() - t0;
const blockBaseMs = base.ms;
const blockCalls = base.calls;

// Env: one vector step of 4 chunked envs with the base policy in the loop (rollout cost).
const inner = await makeChunkedVectorEnv(task.env, NUM_ENVS, spec.chunk);
const env = new NoiseActionVectorEnv(inner, diffusion, 1.5);
await env.reset({ seed: 0 });
const noise4 = new Float32Array(NUM_ENVS * chunkDim);
const envStepMs =
  (await perCall(async () => {
    rng.fillNormal(noise4);
    await env.step(noise4);
  }, seconds / 2)) * 1e3;
await inner.close();
const actMs = (await perCall(() => agent.act(obs4, NUM_ENVS, false), seconds / 4)) * 1e3;

const vectorStepMs = envStepMs + actMs + blockMs;
const envStepsPerVectorStep = NUM_ENVS * spec.chunk; // upper bound: a chunk cut by a termination runs fewer steps
const vectorSteps = 100_000 / envStepsPerVectorStep;
const hours = (vectorSteps * vectorStepMs) / 3.6e6;
const f = (x: number) => x.toFixed(2);
console.log(`base policy act, batch ${BATCH}: ${f(baseMs)} ms; batch ${NUM_ENVS}: ${f(base4Ms)} ms`);
console.log(
  `update (Q_A + actor + alpha, 1 base call): ${f(updateMs)} ms, of which the base call ~${f(baseMs)} ms (${((100 * baseMs) / updateMs).toFixed(0)}%)`,
);
console.log(`distillation step (1 base call): ${f(distillStepMs)} ms`);
console.log(`RL networks alone (free base policy): update ${f(rlUpdateMs)} ms, distillation step ${f(rlDistillMs)} ms`);
console.log(
  `utd block (${cfg.utd} updates + ${cfg.distillSteps} distill steps): ${f(blockMs)} ms; ${blockCalls} base calls took ${f(blockBaseMs)} ms (${((100 * blockBaseMs) / blockMs).toFixed(0)}%)`,
);
console.log(
  `env: vector step of ${NUM_ENVS} chunked ${task.env} envs incl. the base policy at batch ${NUM_ENVS}: ${f(envStepMs)} ms; agent act: ${f(actMs)} ms`,
);
console.log(
  `one vector step (${envStepsPerVectorStep} env steps): ${f(vectorStepMs)} ms -> 100k env steps: ${vectorSteps} vector steps, ${hours.toFixed(2)} h (+ evaluations)`,
);
console.log(
  `na-profile base256_ms=${f(baseMs)} update_ms=${f(updateMs)} distill_step_ms=${f(distillStepMs)} rl_update_ms=${f(rlUpdateMs)} rl_distill_ms=${f(rlDistillMs)} vector_step_ms=${f(vectorStepMs)} hours_100k=${hours.toFixed(2)}`,
);
