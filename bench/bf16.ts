/**
 * `npm run bench:bf16`: the shipped Hopper base policy (models/hopper) with bf16 products (src/nn/bf16.ts,
 * AVX512-BF16, fp32 sums) against fp32, in one process: the largest action difference over a batch of
 * observations spread over the policy's observation range, and the time of a DDIM-5 chunk at batch 256 and 1,
 * rounds alternating fp32 / bf16, best round each. GEMM threads: BENCH_THREADS (default 1).
 * Last line: bf16-bench max_action_diff=D base256_fp32_ms=A base256_bf16_ms=B speedup256=S base1_speedup=T
 */
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Rng } from '../src/core/rng.ts';
import { getBackend, setBackend } from '../src/nn/backend.ts';
import { Bf16Backend } from '../src/nn/bf16.ts';
import { nativeGemmInfo, nativeThreads } from '../src/nn/native-loader.ts';
import { loadDiffusionPolicy } from '../src/policies/diffusion/checkpoint-io.ts';

const seconds = Number(process.env.BENCH_SECONDS ?? 1.5);
const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
const fp32 = getBackend();
nativeThreads(Number(process.env.BENCH_THREADS ?? 1));
const policy = loadDiffusionPolicy(fileURLToPath(new URL('../models/hopper', import.meta.url)));
const bf16 = new Bf16Backend(fp32, policy.network.values);
if (!bf16.active) {
  console.log(`bf16 unavailable here (backend ${fp32.name}, CPU without AVX512-BF16 or addon not built): nothing to compare`);
  console.log('bf16-bench max_action_diff=na base256_fp32_ms=na base256_bf16_ms=na speedup256=na base1_speedup=na');
  process.exit(0);
}

const { obsDim, actDim, chunk } = policy.spec;
const B = 1024;
const rng = Rng.fromSeed(7);
// Observations uniform over the range the policy was trained on (its min-max normalization statistics, which
// are the dataset's), noise N(0, I) as in DSRL: the states it meets in rollouts lie inside this box.
const obs = new Float32Array(B * obsDim);
for (let i = 0; i < B; i++) {
  for (let j = 0; j < obsDim; j++) {
    const lo = policy.obsStats.min[j];
    const hi = policy.obsStats.max[j];
    obs[i * obsDim + j] = lo + (hi - lo) * rng.uniform();
  }
}
const noise = rng.fillNormal(new Float32Array(B * chunk * actDim)) as Float32Array;
const act = (be: typeof fp32, o: Float32Array, w: Float32Array, n: number) => {
  setBackend(be);
  try {
    return policy.act(o, w, n).slice();
  } finally {
    setBackend(fp32);
  }
};
const a32 = act(fp32, obs, noise, B);
const a16 = act(bf16, obs, noise, B);
let maxDiff = 0;
let sumDiff = 0;
for (let i = 0; i < a32.length; i++) {
  const d = Math.abs(a32[i] - a16[i]);
  maxDiff = Math.max(maxDiff, d);
  sumDiff += d;
}
const range = Math.max(...policy.actionHigh.map((h, j) => h - policy.actionLow[j]));

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
const obs256 = obs.subarray(0, 256 * obsDim);
const noise256 = noise.subarray(0, 256 * chunk * actDim);
const best = { fp32: { b256: Infinity, b1: Infinity }, bf16: { b256: Infinity, b1: Infinity } };
const info = nativeGemmInfo();
console.log(
  `cpus=${cpus().length} (${cpus()[0]?.model.trim()}) load=${loadavg()
    .map((l) => l.toFixed(2))
    .join(',')} fp32 gemm=${info?.impl ?? fp32.name} threads=${nativeThreads()} rounds=${rounds}`,
);
console.log(
  `Hopper base policy, ${B} observations x ${chunk} x ${actDim} actions: max |bf16 - fp32| = ${maxDiff.toExponential(2)}, mean ${(sumDiff / a32.length).toExponential(2)} (action range ${range})`,
);
for (let r = 0; r < rounds; r++) {
  const order = r % 2 === 0 ? (['fp32', 'bf16'] as const) : (['bf16', 'fp32'] as const);
  const parts: string[] = [];
  for (const which of order) {
    setBackend(which === 'fp32' ? fp32 : bf16);
    const t256 = timePerCall(() => policy.act(obs256, noise256, 256));
    const t1 = timePerCall(() => policy.act(obs256.subarray(0, obsDim), noise256.subarray(0, chunk * actDim), 1));
    setBackend(fp32);
    best[which].b256 = Math.min(best[which].b256, t256);
    best[which].b1 = Math.min(best[which].b1, t1);
    parts.push(`${which} batch256 ${(t256 * 1e3).toFixed(2)} ms, batch1 ${(t1 * 1e6).toFixed(0)} us`);
  }
  console.log(`round ${r + 1}: ${parts.join(' | ')}`);
}
console.log(
  `best: fp32 ${(best.fp32.b256 * 1e3).toFixed(2)} ms / ${(best.fp32.b1 * 1e6).toFixed(0)} us, bf16 ${(best.bf16.b256 * 1e3).toFixed(2)} ms / ${(best.bf16.b1 * 1e6).toFixed(0)} us (batch 256 / batch 1)`,
);
console.log(
  `load after: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(',')}`,
);
console.log(
  `bf16-bench max_action_diff=${maxDiff.toExponential(2)} base256_fp32_ms=${(best.fp32.b256 * 1e3).toFixed(2)} base256_bf16_ms=${(best.bf16.b256 * 1e3).toFixed(2)} ` +
    `speedup256=${(best.fp32.b256 / best.bf16.b256).toFixed(2)} base1_speedup=${(best.fp32.b1 / best.bf16.b1).toFixed(2)}`,
);
