/**
 * `npm run bench:nn`: one real SAC update (twin critics of 3 hidden layers with LayerNorm and target
 * copies, tanh-Gaussian actor with 3 hidden layers, learned temperature; obs 17, action 6, batch 256)
 * at hidden 256 and 1024, and the batch-1 latency of a 3x256 MLP. The same update runs in PyTorch
 * (bench/reference/sac_update.py, Debian python3-torch) in the same run when it is present.
 * Last line: nn-bench h256_updates_per_s=A h1024_updates_per_s=B torch_ratio_h256=X torch_ratio_h1024=Y infer_us=Z
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { SAC, sacDefaults, type SacBatch } from '../src/algos/sac.ts';
import { Rng } from '../src/core/rng.ts';
import { getBackend } from '../src/nn/backend.ts';
import { mlp } from '../src/nn/mlp.ts';

const OBS = 17;
const ACT = 6;
const BATCH = 256;
const seconds = Number(process.env.BENCH_SECONDS ?? 3);

function batch(rng: Rng): SacBatch {
  const obs = rng.fillNormal(new Float32Array(BATCH * OBS)) as Float32Array;
  const nextObs = rng.fillNormal(new Float32Array(BATCH * OBS)) as Float32Array;
  const actions = rng.fillUniform(new Float32Array(BATCH * ACT), -1, 1) as Float32Array;
  const rewards = rng.fillNormal(new Float32Array(BATCH)) as Float32Array;
  const terminated = new Uint8Array(BATCH).map(() => (rng.uniform() < 0.05 ? 1 : 0));
  return { batchSize: BATCH, obs, actions, rewards, nextObs, terminated };
}

function benchUpdate(hidden: number): number {
  const rng = Rng.fromSeed(0);
  const h = [hidden, hidden, hidden];
  const sac = new SAC(sacDefaults(OBS, ACT, { actorHidden: h, criticHidden: h, criticLayerNorm: true }), rng, BATCH);
  const b = batch(rng);
  for (let i = 0; i < 3; i++) sac.update(b);
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    sac.update(b);
    n++;
  }
  return n / ((performance.now() - t0) / 1000);
}

function benchInfer(): number {
  const net = mlp({ in: OBS, hidden: [256, 256, 256], out: ACT }, Rng.fromSeed(0));
  const x = Rng.fromSeed(1).fillNormal(new Float32Array(OBS)) as Float32Array;
  for (let i = 0; i < 1000; i++) net.forward(x, 1);
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    for (let i = 0; i < 100; i++) net.forward(x, 1);
    n += 100;
  }
  return ((performance.now() - t0) * 1000) / n;
}

function torchReference(): Record<string, number> | null {
  const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  const script = new URL('./reference/sac_update.py', import.meta.url).pathname;
  const res = spawnSync(python, [script, String(seconds)], { encoding: 'utf8' });
  if (res.status !== 0) {
    const why = (res.stderr || '').trim().split('\n').pop();
    console.log(`torch reference unavailable (${why || `exit ${res.status}`}); ratios reported as na`);
    return null;
  }
  return JSON.parse(res.stdout.trim().split('\n').pop()!);
}

// Rounds alternate ours and torch so both see the same machine conditions; each reports its best round
// (the usual timeit convention: slower rounds measure interference, not the code).
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
console.log(
  `backend=${getBackend().name} cpus=${cpus().length} load=${loadavg()
    .map((l) => l.toFixed(2))
    .join(',')} rounds=${rounds} seconds=${seconds}`,
);
const ours = { h256: 0, h1024: 0, infer: Infinity };
let torch: Record<string, number> | null = null;
for (let r = 0; r < rounds; r++) {
  const round = { h256: benchUpdate(256), h1024: benchUpdate(1024), infer: benchInfer() };
  ours.h256 = Math.max(ours.h256, round.h256);
  ours.h1024 = Math.max(ours.h1024, round.h1024);
  ours.infer = Math.min(ours.infer, round.infer);
  let line = `round ${r + 1}: ours h256 ${(1000 / round.h256).toFixed(2)} ms, h1024 ${(1000 / round.h1024).toFixed(1)} ms, infer ${round.infer.toFixed(2)} us`;
  if (!process.env.BENCH_NO_TORCH && (r === 0 || torch)) {
    const t = torchReference();
    if (t) {
      torch = torch
        ? {
            ...t,
            h256_updates_per_s: Math.max(torch.h256_updates_per_s, t.h256_updates_per_s),
            h1024_updates_per_s: Math.max(torch.h1024_updates_per_s, t.h1024_updates_per_s),
            infer_us: Math.min(torch.infer_us, t.infer_us),
          }
        : t;
      line += ` | torch h256 ${(1000 / t.h256_updates_per_s).toFixed(2)} ms, h1024 ${(1000 / t.h1024_updates_per_s).toFixed(1)} ms, infer ${t.infer_us.toFixed(2)} us`;
    }
  }
  console.log(line);
}
console.log(
  `ours (best):  h256 ${ours.h256.toFixed(1)} upd/s (${(1000 / ours.h256).toFixed(2)} ms)  h1024 ${ours.h1024.toFixed(2)} upd/s (${(1000 / ours.h1024).toFixed(1)} ms)  infer ${ours.infer.toFixed(2)} us`,
);
if (torch) {
  console.log(
    `torch ${torch.torch} (best): h256 ${torch.h256_updates_per_s.toFixed(1)} upd/s (${(1000 / torch.h256_updates_per_s).toFixed(2)} ms)  h1024 ${torch.h1024_updates_per_s.toFixed(2)} upd/s (${(1000 / torch.h1024_updates_per_s).toFixed(1)} ms)  infer ${torch.infer_us.toFixed(2)} us`,
  );
}
const ratio = (ourRate: number, key: string) => (torch ? (ourRate / torch[key]).toFixed(2) : 'na');
console.log(
  `load after: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(',')}`,
);
console.log(
  `nn-bench h256_updates_per_s=${ours.h256.toFixed(1)} h1024_updates_per_s=${ours.h1024.toFixed(2)} ` +
    `torch_ratio_h256=${ratio(ours.h256, 'h256_updates_per_s')} torch_ratio_h1024=${ratio(ours.h1024, 'h1024_updates_per_s')} infer_us=${ours.infer.toFixed(2)}`,
);
