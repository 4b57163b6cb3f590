/**
 * `npm run bench:blas`: the native backend's built-in SGEMM kernels (native/gemm.c) against OpenBLAS, in one
 * process: one SAC update (hidden 256, as bench/nn.ts) and one batch-256 DDIM-5 action chunk of the shipped
 * Hopper base policy (models/hopper), plus its batch-1 chunk. The addon switches SGEMM at run time
 * (setNativeGemm), so rounds alternate builtin / OpenBLAS under the same machine conditions; each reports its
 * best round (slower rounds measure interference from other jobs, not the code).
 *
 * BENCH_THREADS (default 1, as the README asks of runs sharing cores) sets the GEMM threads of both.
 * Needs an addon built with OpenBLAS for the ratios; without it, prints the built-in times alone.
 * Last line: blas-bench sac_h256_ratio=A base256_ratio=B base1_ratio=C (built-in speed / OpenBLAS speed).
 */
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { SAC, sacDefaults, type SacBatch } from '../src/algos/sac.ts';
import { Rng } from '../src/core/rng.ts';
import { getBackend } from '../src/nn/backend.ts';
import { nativeGemmInfo, nativeThreads, setNativeGemm, type GemmImpl } from '../src/nn/native-loader.ts';
import { loadDiffusionPolicy } from '../src/policies/diffusion/checkpoint-io.ts';

const seconds = Number(process.env.BENCH_SECONDS ?? 1.5);
const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
const threads = Number(process.env.BENCH_THREADS ?? 1);

if (getBackend().name !== 'native') {
  console.error('bench:blas needs the native backend (run `npm run build:native`; unset DSRL_BACKEND)');
  process.exit(1);
}
const info = nativeGemmInfo()!;
const impls: GemmImpl[] = info.hasOpenblas ? ['builtin', 'openblas'] : ['builtin'];
nativeThreads(threads);

/** Seconds per call: calls fn for `seconds` (after warm-up) and divides. */
function timePerCall(fn: () => void): number {
  for (let i = 0; i < 3; i++) fn();
  let n = 0;
  const t0 = performance.now();
  let dt = 0;
  do {
    fn();
    n++;
    dt = (performance.now() - t0) / 1000;
  } while (dt < seconds || n < 3);
  return dt / n;
}

// SAC update: obs 17, act 6, batch 256, hidden 3 x 256 with LayerNorm critics (bench/nn.ts's setting).
const OBS = 17;
const ACT = 6;
const BATCH = 256;
const rng = Rng.fromSeed(0);
const h = [256, 256, 256];
const sac = new SAC(sacDefaults(OBS, ACT, { actorHidden: h, criticHidden: h, criticLayerNorm: true }), rng, BATCH);
const sacBatch: SacBatch = {
  batchSize: BATCH,
  obs: rng.fillNormal(new Float32Array(BATCH * OBS)) as Float32Array,
  actions: rng.fillUniform(new Float32Array(BATCH * ACT), -1, 1) as Float32Array,
  rewards: rng.fillNormal(new Float32Array(BATCH)) as Float32Array,
  nextObs: rng.fillNormal(new Float32Array(BATCH * OBS)) as Float32Array,
  terminated: new Uint8Array(BATCH).map(() => (rng.uniform() < 0.05 ? 1 : 0)),
};

// The shipped Hopper base policy: batch-256 chunks are DSRL-NA's distillation batches, batch 1 a rollout step.
const policy = loadDiffusionPolicy(fileURLToPath(new URL('../models/hopper', import.meta.url)));
const { obsDim, actDim, chunk } = policy.spec;
const obs256 = rng.fillNormal(new Float32Array(256 * obsDim)) as Float32Array;
const noise256 = rng.fillNormal(new Float32Array(256 * chunk * actDim)) as Float32Array;
const obs1 = obs256.subarray(0, obsDim);
const noise1 = noise256.subarray(0, chunk * actDim);

// The two SGEMMs must produce the same policy (to float rounding) before their times mean anything.
const actions: Float32Array[] = impls.map((impl) => {
  setNativeGemm(impl);
  return policy.act(obs256, noise256, 256).slice();
});
let maxDiff = 0;
if (actions.length === 2) for (let i = 0; i < actions[0].length; i++) maxDiff = Math.max(maxDiff, Math.abs(actions[0][i] - actions[1][i]));

const cases = {
  sac: () => sac.update(sacBatch),
  base256: () => policy.act(obs256, noise256, 256),
  base1: () => policy.act(obs1, noise1, 1),
};
type Case = keyof typeof cases;
const best: Record<GemmImpl, Record<Case, number>> = {
  builtin: { sac: Infinity, base256: Infinity, base1: Infinity },
  openblas: { sac: Infinity, base256: Infinity, base1: Infinity },
};

console.log(
  `cpus=${cpus().length} (${cpus()[0]?.model.trim()}) load=${loadavg()
    .map((l) => l.toFixed(2))
    .join(',')} ` +
    `builtin isa=${info.isa} openblas=${info.hasOpenblas ? 'linked' : 'not in this build'} gemm threads=${threads} rounds=${rounds} seconds=${seconds}`,
);
if (impls.length === 2) console.log(`Hopper base policy, batch 256: max |builtin - openblas| action = ${maxDiff.toExponential(2)}`);
for (let r = 0; r < rounds; r++) {
  const parts: string[] = [];
  // Alternate which goes first so neither always runs right after the other's warm caches.
  const order = r % 2 === 0 ? impls : [...impls].reverse();
  for (const impl of order) {
    setNativeGemm(impl);
    const t = { sac: timePerCall(cases.sac), base256: timePerCall(cases.base256), base1: timePerCall(cases.base1) };
    for (const c of Object.keys(t) as Case[]) best[impl][c] = Math.min(best[impl][c], t[c]);
    parts.push(`${impl} sac ${(t.sac * 1e3).toFixed(2)} ms, base256 ${(t.base256 * 1e3).toFixed(2)} ms, base1 ${(t.base1 * 1e6).toFixed(0)} us`);
  }
  console.log(`round ${r + 1}: ${parts.join(' | ')}`);
}
setNativeGemm(info.impl);
for (const impl of impls) {
  const b = best[impl];
  console.log(
    `${impl.padEnd(8)} (best): SAC update h256 ${(b.sac * 1e3).toFixed(2)} ms  base policy batch 256 ${(b.base256 * 1e3).toFixed(2)} ms  batch 1 ${(b.base1 * 1e6).toFixed(0)} us`,
  );
}
console.log(
  `load after: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(',')}`,
);
const ratio = (c: Case) => (impls.length === 2 ? (best.openblas[c] / best.builtin[c]).toFixed(2) : 'na');
console.log(
  `blas-bench sac_h256_ratio=${ratio('sac')} base256_ratio=${ratio('base256')} base1_ratio=${ratio('base1')} (built-in speed / OpenBLAS speed; bar >= 0.7)`,
);
