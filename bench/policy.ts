/**
 * `npm run bench:policy`: one DDIM action chunk of the diffusion policy at Hopper's dims (obs 11,
 * act 3, Ta 4, T 20, S 5 steps, residual MLP 3 blocks x 512, time_dim 16): batch-1 latency (the
 * cost per env step of a DSRL rollout) and batch-256 time (a critic-distillation batch). The same
 * network and sampler run in PyTorch (bench/reference/diffusion_policy.py, Debian python3-torch) in
 * the same run when available; it also checks that both produce the same actions.
 *
 * Timings are the median over several windows, since the machine is shared.
 * Last line: policy-bench chunk_latency_us=A batch256_ms=B torch_ratio=R
 * (R = torch batch-1 latency / ours, i.e. our speed relative to torch's at batch 1; na without torch).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../src/core/rng.ts';
import { getBackend } from '../src/nn/backend.ts';
import { modelTensors } from '../src/nn/safetensors.ts';
import { saveSafetensors } from '../src/node/safetensors-io.ts';
import { createDiffusionNetwork, DiffusionPolicy, type DiffusionPolicySpec } from '../src/policies/diffusion/policy.ts';

const seconds = Number(process.env.BENCH_SECONDS ?? 3);
// DPPO's Hopper network, "3 x 512" (mlp_dims [512, 512, 512], residual_style): one residual block, depth 1.
const spec: DiffusionPolicySpec = { obsDim: 11, actDim: 3, chunk: 4, denoisingSteps: 20, ddimSteps: 5, timeDim: 16, width: 512, depth: 1 };
const xDim = spec.chunk * spec.actDim;

/** Median seconds per call over `windows` timing windows. */
function perCall(fn: () => void, totalSeconds: number, windows = 7): { median: number; min: number } {
  for (let i = 0; i < 5; i++) fn();
  const times: number[] = [];
  for (let w = 0; w < windows; w++) {
    let n = 0;
    const t0 = performance.now();
    let dt = 0;
    do {
      fn();
      n++;
      dt = (performance.now() - t0) / 1000;
    } while (dt < totalSeconds / windows || n < 2);
    times.push(dt / n);
  }
  times.sort((a, b) => a - b);
  return { median: times[Math.floor(windows / 2)], min: times[0] };
}

function makePolicy(spec: DiffusionPolicySpec): DiffusionPolicy {
  const rng = Rng.fromSeed(1);
  const low = [-1, -1, -1];
  const high = [1, 1, 1];
  return new DiffusionPolicy({
    spec,
    obsStats: {
      min: Float32Array.from({ length: spec.obsDim }, () => -2 - rng.uniform()),
      max: Float32Array.from({ length: spec.obsDim }, () => 2 + rng.uniform()),
    },
    actionLow: low,
    actionHigh: high,
    weights: createDiffusionNetwork(spec, Rng.fromSeed(0)).values,
  });
}

function torchReference(policy: DiffusionPolicy): Record<string, number> | string {
  const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  const dir = mkdtempSync(join(tmpdir(), 'dsrl-policy-bench-'));
  try {
    // Weights, inputs and our actions for the parity check.
    const rng = Rng.fromSeed(2);
    const batch = 64;
    const obs = rng.fillNormal(new Float32Array(batch * spec.obsDim), 0, 2) as Float32Array;
    const noise = rng.fillNormal(new Float32Array(batch * xDim)) as Float32Array;
    const actions = policy.act(obs, noise, batch).slice();
    saveSafetensors(join(dir, 'model.safetensors'), modelTensors(policy.network, 'ema.'));
    saveSafetensors(join(dir, 'io.safetensors'), {
      obs: { shape: [batch, spec.obsDim], data: obs },
      noise: { shape: [batch, xDim], data: noise },
      actions: { shape: [batch, xDim], data: actions },
      obs_min: { shape: [spec.obsDim], data: policy.obsStats.min },
      obs_max: { shape: [spec.obsDim], data: policy.obsStats.max },
      low: { shape: [spec.actDim], data: policy.actionLow },
      high: { shape: [spec.actDim], data: policy.actionHigh },
    });
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...spec, T: spec.denoisingSteps, S: spec.ddimSteps }));
    const script = new URL('./reference/diffusion_policy.py', import.meta.url).pathname;
    const res = spawnSync(python, [script, dir, String(seconds)], { encoding: 'utf8' });
    if (res.status !== 0) return (res.stderr || '').trim().split('\n').pop() || `exit ${res.status}`;
    return JSON.parse(res.stdout.trim().split('\n').pop()!);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const policy = makePolicy(spec);
console.log(
  `backend=${getBackend().name} cpus=${cpus().length} load=${loadavg()
    .map((l) => l.toFixed(2))
    .join(',')}`,
);
console.log(
  `policy: obs ${spec.obsDim}, act ${spec.actDim}, Ta ${spec.chunk}, T ${spec.denoisingSteps}, DDIM ${spec.ddimSteps}, ${spec.depth} blocks x ${spec.width}, ${policy.network.size} parameters`,
);
const rng = Rng.fromSeed(3);
const obs1 = rng.fillNormal(new Float32Array(spec.obsDim)) as Float32Array;
const noise1 = rng.fillNormal(new Float32Array(xDim)) as Float32Array;
const obs256 = rng.fillNormal(new Float32Array(256 * spec.obsDim)) as Float32Array;
const noise256 = rng.fillNormal(new Float32Array(256 * xDim)) as Float32Array;
const b1 = perCall(() => policy.act(obs1, noise1, 1), seconds);
const b256 = perCall(() => policy.act(obs256, noise256, 256), seconds);
const latencyUs = b1.median * 1e6;
const batchMs = b256.median * 1e3;
console.log(
  `ours:  chunk latency ${latencyUs.toFixed(1)} us (min ${(b1.min * 1e6).toFixed(1)}; ${(1 / b1.median).toFixed(0)} chunks/s)  ` +
    `batch 256 ${batchMs.toFixed(2)} ms (min ${(b256.min * 1e3).toFixed(2)}; ${(256 / b256.median).toFixed(0)} chunks/s)`,
);
// A deeper variant for reference: three residual blocks of 512 (6 hidden 512 x 512 layers).
const deep = makePolicy({ ...spec, depth: 3 });
const d3 = perCall(() => deep.act(obs1, noise1, 1), seconds / 2);
console.log(`ours, depth 3 (${deep.network.size} parameters): chunk latency ${(d3.median * 1e6).toFixed(1)} us`);
let ratio = 'na';
const torch = process.env.BENCH_NO_TORCH ? 'BENCH_NO_TORCH set' : torchReference(policy);
if (typeof torch === 'string') {
  console.log(`torch reference unavailable (${torch}); torch_ratio reported as na`);
} else {
  console.log(
    `torch ${torch.torch}: chunk latency ${torch.chunk_latency_us.toFixed(1)} us  batch 256 ${torch.batch256_ms.toFixed(2)} ms  ` +
      `(same weights and inputs: max |ours - torch| = ${torch.max_abs_diff.toExponential(2)})`,
  );
  if (!(torch.max_abs_diff < 1e-3)) console.log('WARNING: torch and ours disagree on the actions');
  ratio = (torch.chunk_latency_us / latencyUs).toFixed(2);
}
console.log(
  `load after: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(',')}; bar: chunk latency <= 500 us -> ${latencyUs <= 500 ? 'met' : 'NOT met'}`,
);
console.log(`policy-bench chunk_latency_us=${latencyUs.toFixed(1)} batch256_ms=${batchMs.toFixed(2)} torch_ratio=${ratio}`);
