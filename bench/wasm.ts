/**
 * `npm run bench:wasm`: the WebAssembly SIMD backend against the native one (and the TypeScript one it replaces
 * where nothing native builds), side by side in one process:
 *   sac      one SAC update at hidden 256, batch 256 (twin LayerNorm critics, 3 hidden layers each, as bench/nn.ts)
 *   base256  the shipped Hopper base policy's DDIM chunk (models/hopper) at batch 256
 *   gemm256  one 256 x 256 x 256 product x W^T, the SGEMM alone (also in GFLOP/s)
 * Rounds rotate the backends' order so all see the same machine; each side reports the median of its rounds,
 * and a ratio is the median of the rounds' ratios (each round's sides ran back to back, under about the same
 * load). js, 30-40x slower than wasm, runs in the first 3 rounds only; BENCH_JS=0 leaves it out. Then a last pass counts what the wasm backend's copies in and out of its memory cost.
 * Both run one thread (DSRL_NUM_THREADS is not read here: the native GEMM is set to 1 thread).
 * BENCH_SECONDS (per case per side per round, default 1) and BENCH_ROUNDS (default 7) trade time for noise.
 *
 * Last line:
 *   wasm-bench sac_update_ratio=… base256_ratio=… sac_native_ms=… sac_wasm_ms=… base256_native_ms=… base256_wasm_ms=… copy_share_sac=… copy_share_base256=… sac_vs_js=… base256_vs_js=… gemm256_ratio=…
 * ratio = native time / wasm time (1: as fast as native; the issue's goal for sac is >= 0.25); copy_share = the
 * part of the wasm time spent copying; vs_js = js time / wasm time (na with BENCH_JS=0).
 */
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { SAC, sacDefaults, type SacBatch } from '../src/algos/sac.ts';
import { Rng } from '../src/core/rng.ts';
import { getBackend, jsBackend, setBackend, type Backend } from '../src/nn/backend.ts';
import { nativeGemmInfo, nativeThreads } from '../src/nn/native-loader.ts';
import { loadWasmBackend } from '../src/nn/wasm-loader.ts';
import { loadDiffusionPolicy } from '../src/policies/diffusion/checkpoint-io.ts';

const seconds = Number(process.env.BENCH_SECONDS ?? 1);
const rounds = Number(process.env.BENCH_ROUNDS ?? 7);
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(',');

const native = getBackend();
if (native.name !== 'native') {
  console.error('bench:wasm compares against the native backend: run `npm run build:native` and unset DSRL_BACKEND');
  process.exit(1);
}
const loaded = loadWasmBackend();
if (!loaded.backend) {
  console.error(`bench:wasm: the WebAssembly backend cannot load: ${loaded.reason}`);
  process.exit(1);
}
const wasm = loaded.backend;
nativeThreads(1);

// ---- the cases ------------------------------------------------------------------------------------------
const OBS = 17;
const ACT = 6;
const BATCH = 256;
function sacBatch(rng: Rng): SacBatch {
  return {
    batchSize: BATCH,
    obs: rng.fillNormal(new Float32Array(BATCH * OBS)) as Float32Array,
    actions: rng.fillUniform(new Float32Array(BATCH * ACT), -1, 1) as Float32Array,
    rewards: rng.fillNormal(new Float32Array(BATCH)) as Float32Array,
    nextObs: rng.fillNormal(new Float32Array(BATCH * OBS)) as Float32Array,
    terminated: new Uint8Array(BATCH).map(() => (rng.uniform() < 0.05 ? 1 : 0)),
  };
}
const h = [256, 256, 256];
const sacCfg = sacDefaults(OBS, ACT, { actorHidden: h, criticHidden: h, criticLayerNorm: true });
// One agent per backend (same seed): each keeps its own optimizer state and buffers.
const sides: [string, Backend][] = [
  ['native', native],
  ['wasm', wasm],
];
if (process.env.BENCH_JS !== '0') sides.push(['js', jsBackend]);
const agents = new Map<Backend, SAC>(sides.map(([, be]) => [be, new SAC(sacCfg, Rng.fromSeed(0), BATCH)]));
const batch = sacBatch(Rng.fromSeed(1));

const policy = loadDiffusionPolicy(fileURLToPath(new URL('../models/hopper', import.meta.url)));
const { obsDim, actDim, chunk } = policy.spec;
const rng = Rng.fromSeed(17);
const obs256 = new Float32Array(BATCH * obsDim);
for (let i = 0; i < BATCH; i++) {
  for (let j = 0; j < obsDim; j++) {
    const lo = policy.obsStats.min[j];
    obs256[i * obsDim + j] = lo + (policy.obsStats.max[j] - lo) * rng.uniform();
  }
}
const noise256 = rng.fillNormal(new Float32Array(BATCH * chunk * actDim)) as Float32Array;

// A dense layer's product x W^T at 256 x 256 x 256: the SGEMM alone.
const gA = rng.fillNormal(new Float32Array(256 * 256)) as Float32Array;
const gB = rng.fillNormal(new Float32Array(256 * 256)) as Float32Array;
const gC = new Float32Array(256 * 256);

type Case = 'sac' | 'base256' | 'gemm256';
const run: Record<Case, (be: Backend) => void> = {
  sac: (be) => agents.get(be)!.update(batch),
  base256: () => policy.act(obs256, noise256, BATCH),
  gemm256: (be) => be.gemm(false, true, 256, 256, 256, 1, gA, 256, gB, 256, 0, gC, 256),
};

/** ms per call of `c` on `be` over one window of `seconds` (after one warm-up call). */
function msPerCall(c: Case, be: Backend): number {
  setBackend(be);
  try {
    run[c](be);
    let n = 0;
    const t0 = performance.now();
    let dt = 0;
    do {
      run[c](be);
      n++;
      dt = performance.now() - t0;
    } while (dt < seconds * 1000 || n < 3);
    return dt / n;
  } finally {
    setBackend(native);
  }
}

// Same inputs, same outputs (within float32 reordering): the times below are of equal work.
setBackend(wasm);
const aw = policy.act(obs256, noise256, BATCH).slice();
setBackend(native);
const an = policy.act(obs256, noise256, BATCH);
let diff = 0;
for (let i = 0; i < an.length; i++) diff = Math.max(diff, Math.abs(an[i] - aw[i]));

const info = nativeGemmInfo()!;
console.log(
  `cpus=${cpus().length} (${cpus()[0]?.model.trim()}) load=${load()} rounds=${rounds} seconds=${seconds} native gemm=${info.impl} isa=${info.isa}, 1 thread`,
);
console.log(
  `base policy: ${policy.network.size} parameters, DDIM ${policy.spec.ddimSteps} steps, chunk ${chunk} x ${actDim}; batch 256 actions wasm vs native: max |diff| ${diff.toExponential(2)}`,
);

// ---- rounds ----------------------------------------------------------------------------------------------
const cases: Case[] = ['sac', 'base256', 'gemm256'];
const times: Record<string, number[]> = {};
for (let r = 0; r < rounds; r++) {
  const order = sides.map((_, i) => sides[(i + r) % sides.length]);
  if (r % 2 === 1) order.reverse();
  const parts: string[] = [];
  for (const c of cases) {
    for (const [name, be] of order) {
      if (name === 'js' && r >= 3) continue;
      const ms = msPerCall(c, be);
      (times[`${c}_${name}`] ??= []).push(ms);
      parts.push(`${c} ${name} ${ms.toFixed(2)} ms`);
    }
  }
  console.log(`round ${r + 1}: ${parts.join(' | ')}  load ${load()}`);
}
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) >> 1] : 0.5 * (s[s.length / 2 - 1] + s[s.length / 2]);
};
const med = (k: string) => median(times[k]);
/** Median over the rounds of `over`'s time / wasm's time. */
const ratio = (c: Case, over = 'native') => (times[`${c}_${over}`] ? median(times[`${c}_${over}`].map((t, i) => t / times[`${c}_wasm`][i])) : NaN);

// ---- what the copies cost -------------------------------------------------------------------------------
const copyShare: Record<Case, number> = { sac: NaN, base256: NaN, gemm256: NaN };
const copyMiB: Record<Case, number> = { sac: NaN, base256: NaN, gemm256: NaN };
for (const c of cases) {
  setBackend(wasm);
  run[c](wasm);
  Object.assign(wasm.copies, { enabled: true, ms: 0, bytes: 0 });
  const n = 10;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) run[c](wasm);
  const total = performance.now() - t0;
  wasm.copies.enabled = false;
  setBackend(native);
  copyShare[c] = wasm.copies.ms / total;
  copyMiB[c] = wasm.copies.bytes / n / 2 ** 20;
}

// ---- results ---------------------------------------------------------------------------------------------
const fmt = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : 'na');
for (const c of cases) {
  console.log(
    `${c.padEnd(8)} native ${fmt(med(`${c}_native`))} ms  wasm ${fmt(med(`${c}_wasm`))} ms  js ${times[`${c}_js`] ? fmt(med(`${c}_js`)) : 'na'} ms ` +
      `(medians of ${rounds})  native/wasm ${fmt(ratio(c))}  js/wasm ${fmt(ratio(c, 'js'))}  ` +
      `wasm copies ${fmt(copyMiB[c], 1)} MiB per call, ${fmt(100 * copyShare[c], 1)}% of its time`,
  );
}
const gflops = (k: string) => fmt((2 * 256 ** 3) / (med(k) * 1e6), 1);
console.log(
  `gemm256 GFLOP/s: native ${gflops('gemm256_native')}, wasm ${gflops('gemm256_wasm')}${times.gemm256_js ? `, js ${gflops('gemm256_js')}` : ''}`,
);
console.log(`load after: ${load()}`);
console.log(
  `wasm-bench sac_update_ratio=${fmt(ratio('sac'))} base256_ratio=${fmt(ratio('base256'))} ` +
    `sac_native_ms=${fmt(med('sac_native'))} sac_wasm_ms=${fmt(med('sac_wasm'))} base256_native_ms=${fmt(med('base256_native'))} ` +
    `base256_wasm_ms=${fmt(med('base256_wasm'))} copy_share_sac=${fmt(copyShare.sac)} copy_share_base256=${fmt(copyShare.base256)} ` +
    `sac_vs_js=${fmt(ratio('sac', 'js'))} base256_vs_js=${fmt(ratio('base256', 'js'))} gemm256_ratio=${fmt(ratio('gemm256'))}`,
);
