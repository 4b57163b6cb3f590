/**
 * `npm run bench:speed`: every engine dsrl can run its base policy on, side by side in one run (issue 17):
 * the shipped Hopper base policy's DDIM-5 chunk (models/hopper) at batch 1 and 256 with
 *   fp32     the native backend as shipped (OpenBLAS where the build linked it, else the built-in kernels)
 *   builtin  the built-in kernels (native/gemm.c) forced
 *   packed   the built-in kernels with the frozen weights packed once (PackedWeightsBackend, src/nn/bf16.ts)
 *   bf16     bf16 products with fp32 sums (src/nn/bf16.ts) on AMX or AVX512-BF16, where the CPU has them
 *   onnx     onnxruntime-node on the model `dsrl export` writes
 *   torch    PyTorch fp32 and bf16 (`.to(torch.bfloat16)`) on the same weights (bench/reference/speed.py,
 *            Debian's /usr/bin/python3 with python3-torch, or BENCH_PYTHON), in a child process that times its
 *            rounds in turn
 * and one DSRL-NA utd block (20 updates of Q_A / actor / alpha at batch 256 + the 10 Q_W distillation steps,
 * as experiments/profile-na-update.ts builds it) on the same base policy, fp32 / builtin / bf16.
 *
 * Rounds alternate the engines' order; each engine reports its best round (slower rounds measure the other
 * jobs on the machine, not the code). Every engine runs on 1 thread unless BENCH_THREADS says otherwise
 * (ours: GEMM threads; onnxruntime: intra-op threads; torch stays at 1). BENCH_SECONDS (per case per round,
 * default 0.5) and BENCH_ROUNDS (default 5) trade time for noise; the default run takes about a minute.
 *
 * Last line:
 *   speed-bench base256_ms=… base256_bf16_ms=… torch_bf16_ms=… ratio_vs_torch_bf16=… na_block_ms=… builtin_vs_openblas=…
 * ratio_vs_torch_bf16 = torch bf16 time / our bf16 time at batch 256 (>= 1: we are at least as fast);
 * builtin_vs_openblas = OpenBLAS time / built-in time, the lower of the base policy at batch 256 and the NA
 * block (the issue's bar: >= 0.7); na where an engine is missing.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { DsrlNA, dsrlNaDefaults } from '../src/algos/dsrl/dsrl-na.ts';
import { Rng } from '../src/core/rng.ts';
import { ReplayBuffer } from '../src/data/replay-buffer.ts';
import { getBackend, setBackend } from '../src/nn/backend.ts';
import { PackedWeightsBackend } from '../src/nn/bf16.ts';
import { nativeBf16Kernel, nativeGemmInfo, nativeThreads, setNativeGemm, type GemmImpl } from '../src/nn/native-loader.ts';
import { modelTensors } from '../src/nn/safetensors.ts';
import { saveSafetensors } from '../src/node/safetensors-io.ts';
import { loadDiffusionPolicy } from '../src/policies/diffusion/checkpoint-io.ts';
import type { DiffusionPolicy } from '../src/policies/diffusion/policy.ts';
import type { OnnxPolicy } from '../src/policies/onnx.ts';

const seconds = Number(process.env.BENCH_SECONDS ?? 0.5);
const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
const threads = Number(process.env.BENCH_THREADS ?? 1);
const modelDir = fileURLToPath(new URL('../models/hopper', import.meta.url));
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(',');

if (getBackend().name !== 'native') {
  console.error('bench:speed needs the native backend (run `npm run build:native`; unset DSRL_BACKEND)');
  process.exit(1);
}
const info = nativeGemmInfo()!;
const shipped: GemmImpl = info.impl;
nativeThreads(threads);

/** Seconds per call, best of `windows` windows of `total / windows` seconds each (after one warm-up call). */
async function bestPerCall(fn: () => unknown, total: number, windows = 3): Promise<number> {
  await fn();
  let best = Infinity;
  for (let w = 0; w < windows; w++) {
    let n = 0;
    const t0 = performance.now();
    let dt = 0;
    do {
      await fn();
      n++;
      dt = (performance.now() - t0) / 1000;
    } while (dt < total / windows || n < 2);
    best = Math.min(best, dt / n);
  }
  return best;
}

// ---- the base policy in each engine -------------------------------------------------------------------
const policy = loadDiffusionPolicy(modelDir);
const policy16 = loadDiffusionPolicy(modelDir);
const hasBf16 = policy16.usePrecision('bf16') === 'bf16';
/** At batch 256; batch 1 runs on AVX512-BF16 on every CPU (native/bf16.c). */
const bf16Kernel = nativeBf16Kernel();
const { obsDim, actDim, chunk } = policy.spec;
const xDim = chunk * actDim;
const rng = Rng.fromSeed(17);
/** Observations uniform over the box the policy was trained on (its normalization range), noise N(0, I). */
function observations(n: number): Float32Array {
  const o = new Float32Array(n * obsDim);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < obsDim; j++) {
      const lo = policy.obsStats.min[j];
      o[i * obsDim + j] = lo + (policy.obsStats.max[j] - lo) * rng.uniform();
    }
  }
  return o;
}
const obs256 = observations(256);
const noise256 = rng.fillNormal(new Float32Array(256 * xDim)) as Float32Array;
const obs1 = obs256.subarray(0, obsDim);
const noise1 = noise256.subarray(0, xDim);

const tmp = mkdtempSync(join(tmpdir(), 'dsrl-speed-bench-'));
let onnx: OnnxPolicy | null = null;
let onnxNote = '';
try {
  // Loaded here so that a machine without onnxruntime-node still runs the other engines.
  const { runExport } = await import('../src/cli/export.ts');
  const { loadOnnxPolicy } = await import('../src/policies/onnx.ts');
  const exported = await runExport({ policy: modelDir, out: join(tmp, 'hopper.onnx'), verify: true });
  onnx = await loadOnnxPolicy(exported.out, { threads });
  onnxNote = `exported ${exported.bytes} bytes, max |onnx - ours| = ${exported.maxDiff?.toExponential(2)}`;
} catch (err) {
  onnxNote = `unavailable (${(err as Error).message.split('\n')[0]})`;
}

type Engine = 'fp32' | 'builtin' | 'packed' | 'bf16' | 'onnx';
const act = (p: DiffusionPolicy, impl: GemmImpl) => (o: Float32Array, w: Float32Array, n: number) => {
  setNativeGemm(impl);
  return p.act(o, w, n);
};
const engines: Partial<Record<Engine, (o: Float32Array, w: Float32Array, n: number) => unknown>> = {
  fp32: act(policy, shipped),
  builtin: act(policy, 'builtin'),
};
const fp32Backend = getBackend();
const packedBackend = new PackedWeightsBackend(fp32Backend, policy.network.values);
if (packedBackend.active) {
  engines.packed = (o, w, n) => {
    setNativeGemm('builtin');
    setBackend(packedBackend);
    try {
      return policy.act(o, w, n);
    } finally {
      setBackend(fp32Backend);
    }
  };
}
if (hasBf16) engines.bf16 = act(policy16, shipped);
if (onnx) engines.onnx = (o, w, n) => onnx!.act(o, w, n);
const names = Object.keys(engines) as Engine[];

// Each engine's actions against fp32's on the same inputs, before any time means anything.
const ref = policy.act(obs256, noise256, 256).slice();
const diffs: string[] = [];
for (const e of names) {
  const a = (await engines[e]!(obs256, noise256, 256)) as Float32Array;
  let d = 0;
  for (let i = 0; i < ref.length; i++) d = Math.max(d, Math.abs(a[i] - ref[i]));
  diffs.push(`${e} ${d.toExponential(2)}`);
}
setNativeGemm(shipped);

// ---- PyTorch, in a child process -------------------------------------------------------------------------
interface TorchRound {
  fp32_b256_ms: number;
  fp32_b1_us: number;
  bf16_b256_ms: number;
  bf16_b1_us: number;
}
let torch: { ask(line: string): Promise<Record<string, unknown>>; close(): void } | null = null;
let torchNote = '';
{
  const python = process.env.BENCH_PYTHON ?? '/usr/bin/python3';
  saveSafetensors(join(tmp, 'model.safetensors'), modelTensors(policy.network, 'ema.'));
  const obs64 = obs256.subarray(0, 64 * obsDim);
  const noise64 = noise256.subarray(0, 64 * xDim);
  saveSafetensors(join(tmp, 'io.safetensors'), {
    obs: { shape: [64, obsDim], data: obs64 },
    noise: { shape: [64, xDim], data: noise64 },
    actions: { shape: [64, xDim], data: ref.subarray(0, 64 * xDim) },
    obs256: { shape: [256, obsDim], data: obs256 },
    noise256: { shape: [256, xDim], data: noise256 },
    obs_min: { shape: [obsDim], data: policy.obsStats.min },
    obs_max: { shape: [obsDim], data: policy.obsStats.max },
    low: { shape: [actDim], data: policy.actionLow },
    high: { shape: [actDim], data: policy.actionHigh },
  });
  writeFileSync(join(tmp, 'config.json'), JSON.stringify({ ...policy.spec, T: policy.spec.denoisingSteps, S: policy.spec.ddimSteps }));
  if (process.env.BENCH_NO_TORCH) {
    torchNote = 'skipped (BENCH_NO_TORCH)';
  } else if (!existsSync(python)) {
    torchNote = `unavailable (no ${python}; apt install python3-torch)`;
  } else {
    const script = fileURLToPath(new URL('./reference/speed.py', import.meta.url));
    const child = spawn(python, [script, tmp], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, OMP_NUM_THREADS: '1' } });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const lines = createInterface({ input: child.stdout });
    const pending: ((v: Record<string, unknown>) => void)[] = [];
    const failed = new Promise<never>((_, reject) =>
      child.once('exit', (code) => reject(new Error(`exit ${code}: ${stderr.trim().split('\n').pop()}`))),
    );
    lines.on('line', (l) => pending.shift()?.(JSON.parse(l)));
    const next = () => Promise.race([new Promise<Record<string, unknown>>((r) => pending.push(r)), failed]);
    const ready = next();
    try {
      const r = await ready;
      torchNote =
        `torch ${r.torch}: max |torch fp32 - ours fp32| = ${Number(r.max_diff_fp32).toExponential(2)}, ` +
        `max |torch bf16 - ours fp32| = ${Number(r.max_diff_bf16).toExponential(2)} (batch 64)`;
      torch = {
        ask: (line) => {
          const p = next();
          child.stdin.write(`${line}\n`);
          return p;
        },
        close: () => {
          child.stdin.end('quit\n');
        },
      };
    } catch (err) {
      torchNote = `unavailable (${(err as Error).message})`;
    }
  }
}

// ---- the DSRL-NA utd block -----------------------------------------------------------------------------
const BATCH = 256;
const cfg = dsrlNaDefaults(obsDim, xDim, { actionMagnitude: 1.5 });
const buffer = new ReplayBuffer({ capacity: 20_000, obsDim, actionDim: xDim, fields: { realActions: xDim }, rng: rng.split() });
{
  const rows = 20_000;
  buffer.addBatch({
    obs: observations(rows),
    actions: rng.fillNormal(new Float32Array(rows * xDim)),
    rewards: rng.fillNormal(new Float32Array(rows)),
    nextObs: observations(rows),
    terminated: new Uint8Array(rows),
    truncated: new Uint8Array(rows),
    fields: { realActions: rng.fillUniform(new Float32Array(rows * xDim), -1, 1) },
  });
}
const batch = buffer.createBatch(BATCH);
const agents = { fp32: new DsrlNA(cfg, policy, Rng.fromSeed(1), BATCH), bf16: new DsrlNA(cfg, policy16, Rng.fromSeed(1), BATCH) };
type Block = 'fp32' | 'builtin' | 'bf16';
const blocks: Block[] = hasBf16 ? ['fp32', 'builtin', 'bf16'] : ['fp32', 'builtin'];
/** ms of one utd block: `utd` updates, exactly one of which runs the distillation steps. */
async function naBlock(which: Block): Promise<number> {
  setNativeGemm(which === 'builtin' ? 'builtin' : shipped);
  const agent = which === 'bf16' ? agents.bf16 : agents.fp32;
  const t0 = performance.now();
  for (let u = 0; u < cfg.utd; u++) await agent.update(buffer.sample(batch));
  const ms = performance.now() - t0;
  setNativeGemm(shipped);
  return ms;
}
for (const b of blocks) await naBlock(b); // warm-up: allocations, packed bf16 weights

// ---- rounds ----------------------------------------------------------------------------------------------
console.log(
  `cpus=${cpus().length} (${cpus()[0]?.model.trim()}) load=${load()} threads=${threads} rounds=${rounds} seconds=${seconds} ` +
    `fp32 gemm=${shipped} (OpenBLAS ${info.hasOpenblas ? 'linked' : 'not in this build'}), built-in isa=${info.isa}, bf16 ${hasBf16 ? bf16Kernel : 'unavailable on this CPU'}`,
);
console.log(`Hopper base policy (${policy.network.size} parameters), batch 256 actions vs fp32: max |diff| ${diffs.join(', ')}`);
console.log(`onnxruntime: ${onnxNote}`);
console.log(`pytorch: ${torchNote}`);
const best: Record<string, number> = {};
const keep = (k: string, v: number) => (best[k] = Math.min(best[k] ?? Infinity, v));
for (let r = 0; r < rounds; r++) {
  const parts: string[] = [];
  const order = names.map((_, i) => names[(i + r) % names.length]);
  if (r % 2 === 1) order.reverse();
  for (const e of order) {
    const f = engines[e]!;
    keep(`${e}_b256`, await bestPerCall(() => f(obs256, noise256, 256), seconds));
    keep(`${e}_b1`, await bestPerCall(() => f(obs1, noise1, 1), seconds));
    parts.push(`${e} ${(best[`${e}_b256`] * 1e3).toFixed(2)}/${(best[`${e}_b1`] * 1e6).toFixed(0)}`);
  }
  setNativeGemm(shipped);
  if (torch) {
    const t = (await torch.ask(`round ${seconds}`)) as unknown as TorchRound;
    keep('torch_fp32_b256', t.fp32_b256_ms / 1e3);
    keep('torch_fp32_b1', t.fp32_b1_us / 1e6);
    keep('torch_bf16_b256', t.bf16_b256_ms / 1e3);
    keep('torch_bf16_b1', t.bf16_b1_us / 1e6);
    parts.push(`torch fp32 ${t.fp32_b256_ms.toFixed(2)}/${t.fp32_b1_us.toFixed(0)} bf16 ${t.bf16_b256_ms.toFixed(2)}/${t.bf16_b1_us.toFixed(0)}`);
  }
  const blockOrder = r % 2 === 0 ? blocks : [...blocks].reverse();
  for (const b of blockOrder) {
    const ms = await naBlock(b);
    keep(`na_${b}`, ms / 1e3);
    parts.push(`na ${b} ${ms.toFixed(0)} ms`);
  }
  console.log(`round ${r + 1} (ours: best so far, batch 256 ms / batch 1 us; torch and NA blocks: this round): ${parts.join(' | ')}  load ${load()}`);
}
torch?.close();
await onnx?.close();
rmSync(tmp, { recursive: true, force: true });

// ---- results ---------------------------------------------------------------------------------------------
const ms = (k: string) => (best[k] !== undefined ? (best[k] * 1e3).toFixed(2) : 'na');
const us = (k: string) => (best[k] !== undefined ? (best[k] * 1e6).toFixed(0) : 'na');
const rows: [string, string][] = [
  [`dsrl fp32 (${shipped})`, 'fp32'],
  ['dsrl fp32 (built-in kernels)', 'builtin'],
  ['dsrl fp32 (built-in, prepacked weights)', 'packed'],
  [`dsrl bf16 (${bf16Kernel})`, 'bf16'],
  ['onnxruntime-node fp32', 'onnx'],
  ['PyTorch fp32', 'torch_fp32'],
  ['PyTorch bf16', 'torch_bf16'],
];
console.log(`${'engine'.padEnd(40)} batch 256 (ms)  batch 1 (us)`);
for (const [label, k] of rows) console.log(`${label.padEnd(40)} ${ms(`${k}_b256`).padStart(14)}  ${us(`${k}_b1`).padStart(12)}`);
console.log(
  `DSRL-NA utd block (${cfg.utd} updates + ${cfg.distillSteps} distillation steps, batch ${BATCH}): ` +
    blocks.map((b) => `${b} ${ms(`na_${b}`)} ms`).join(', '),
);
const ratio = (a: string, b: string) => (best[a] !== undefined && best[b] !== undefined ? best[a] / best[b] : NaN);
const fmt = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : 'na');
const base = ratio('fp32_b256', 'builtin_b256');
const block = ratio('na_fp32', 'na_builtin');
const builtinVsOpenblas = shipped === 'openblas' ? Math.min(base, block) : NaN;
if (shipped === 'openblas') {
  console.log(
    `built-in / OpenBLAS speed: base policy batch 256 ${fmt(base)} (prepacked weights ${fmt(ratio('fp32_b256', 'packed_b256'))}), ` +
      `NA block ${fmt(block)}, batch 1 ${fmt(ratio('fp32_b1', 'builtin_b1'))}`,
  );
}
console.log(`load after: ${load()}`);
console.log(
  `speed-bench base256_ms=${ms('fp32_b256')} base256_bf16_ms=${ms('bf16_b256')} torch_bf16_ms=${ms('torch_bf16_b256')} ` +
    `ratio_vs_torch_bf16=${fmt(ratio('torch_bf16_b256', 'bf16_b256'))} na_block_ms=${ms('na_fp32')} builtin_vs_openblas=${fmt(builtinVsOpenblas)}`,
);
