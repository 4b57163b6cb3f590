/**
 * `npm run bench:envs`: env steps per second with uniform random actions, resetting on termination or
 * truncation (1000-step TimeLimit), for Hopper-v5, Walker2d-v5 and HalfCheetah-v5 (single env, this thread)
 * and Hopper-v5 on a 2-worker WorkerVectorEnv (counts env steps): with 2 envs (one per worker, bound by the
 * message round trip) and with 8 envs (4 per worker; the vec2_hopper_sps figure). The manipulation tasks
 * (Lift-v0, PickPlaceCan-v0, NutAssemblySquare-v0: 20 Hz control, 25 physics steps of 2 ms per env step, their own
 * 300/400-step limits) are stepped the same way, single env, wasm only.
 * When a C compiler and Debian's libmujoco-dev are present, bench/native/step_env.c is compiled into a
 * temporary folder and steps the same MJCF natively with the same per-step work; Hopper's wasm/native
 * ratio is measured in alternating rounds (best of each) to damp noise from other processes.
 * BENCH_SECONDS (default 1.5) sets the time per measurement.
 * Last line: env-bench hopper_sps=A walker_sps=B cheetah_sps=C vec2_hopper_sps=D native_ratio_hopper=R lift_sps=L can_sps=C2 square_sps=S
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng } from '../src/core/rng.ts';
import { makeEnv } from '../src/envs/registry.ts';
import { WorkerVectorEnv } from '../src/envs/vector-worker.ts';
import { HALF_CHEETAH_XML } from '../src/envs/mujoco/models/half-cheetah.ts';
import { HOPPER_XML } from '../src/envs/mujoco/models/hopper.ts';
import { WALKER2D_XML } from '../src/envs/mujoco/models/walker2d.ts';

const seconds = Number(process.env.BENCH_SECONDS ?? 1.5);
/** Sub-envs in the 2-worker vector measurement (4 per worker). */
const VEC_ENVS = 8;

type Task = { id: string; native: string; xml: string };
const TASKS: Task[] = [
  { id: 'Hopper-v5', native: 'hopper', xml: HOPPER_XML },
  { id: 'Walker2d-v5', native: 'walker2d', xml: WALKER2D_XML },
  { id: 'HalfCheetah-v5', native: 'halfcheetah', xml: HALF_CHEETAH_XML },
];
/** Manipulation tasks (no native run: their MJCF uses the implicitfast integrator and multiccd, newer than the native MuJoCo 2.2.2). */
const MANIPULATION = ['Lift-v0', 'PickPlaceCan-v0', 'NutAssemblySquare-v0'] as const;

async function benchSingle(id: string, durationS: number): Promise<number> {
  const env = await makeEnv(id);
  const rng = Rng.fromSeed(0);
  const action = new Float32Array(env.actionSpace.size);
  env.reset({ seed: 0 });
  const run = (limitMs: number): number => {
    let steps = 0;
    const t0 = performance.now();
    for (;;) {
      env.actionSpace.sample(rng, action);
      const r = env.step(action);
      if (r.terminated || r.truncated) env.reset();
      if ((++steps & 255) === 0 && performance.now() - t0 >= limitMs) return steps / ((performance.now() - t0) / 1000);
    }
  };
  run(200); // warm up the JIT
  const sps = run(durationS * 1000);
  env.close();
  return sps;
}

async function benchVector(id: string, numEnvs: number, durationS: number): Promise<number> {
  const venv = await WorkerVectorEnv.create(id, numEnvs, { numWorkers: 2 });
  try {
    const rng = Rng.fromSeed(0);
    const actions = new Float32Array(venv.actionSpace.size);
    await venv.reset({ seed: 0 });
    const run = async (limitMs: number): Promise<number> => {
      let steps = 0;
      const t0 = performance.now();
      while (performance.now() - t0 < limitMs) {
        venv.actionSpace.sample(rng, actions);
        await venv.step(actions);
        steps += venv.numEnvs;
      }
      return steps / ((performance.now() - t0) / 1000);
    };
    await run(200);
    return await run(durationS * 1000);
  } finally {
    await venv.close();
  }
}

/** Compiles bench/native/step_env.c against the system MuJoCo; null (with the reason printed) when unavailable. */
function buildNative(dir: string): string | null {
  const header = '/usr/include/mujoco/mujoco.h';
  if (!existsSync(header)) {
    console.log(`native: skipped (${header} not found; apt-get install libmujoco-dev)`);
    return null;
  }
  const compiler = ['cc', 'gcc', 'clang'].find((c) => spawnSync(c, ['--version'], { stdio: 'ignore' }).status === 0);
  if (!compiler) {
    console.log('native: skipped (no C compiler)');
    return null;
  }
  const source = fileURLToPath(new URL('./native/step_env.c', import.meta.url));
  const exe = join(dir, 'step_env');
  const res = spawnSync(compiler, ['-O2', '-o', exe, source, '-lmujoco', '-lm'], { encoding: 'utf8' });
  if (res.status !== 0) {
    console.log(`native: skipped (compile failed: ${res.stderr.trim().split('\n')[0]})`);
    return null;
  }
  return exe;
}

function runNative(exe: string, dir: string, task: Task, durationS: number): number | null {
  const xmlPath = join(dir, `${task.native}.xml`);
  // `<size memory>` only sizes the wasm arena and is unknown to MuJoCo 2.x; the dynamics do not depend on it.
  writeFileSync(xmlPath, task.xml.replace(/ memory="[^"]*"/, ''));
  const res = spawnSync(exe, [xmlPath, task.native, String(durationS)], { encoding: 'utf8' });
  const match = /sps=(\d+)/.exec(res.stdout ?? '');
  if (res.status !== 0 || !match) {
    console.log(`native ${task.native}: failed (${(res.stderr || res.stdout || '').trim().split('\n')[0]})`);
    return null;
  }
  return Number(match[1]);
}

function nativeVersion(): string {
  const res = spawnSync('sh', ['-c', 'ls /usr/lib/*/libmujoco.so.* 2>/dev/null | head -1'], { encoding: 'utf8' });
  return /libmujoco\.so\.([\d.]+)/.exec(res.stdout)?.[1] ?? 'unknown';
}

async function main(): Promise<void> {
  console.log(
    `env bench: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), load avg ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}, ${seconds}s per measurement`,
  );
  const dir = mkdtempSync(join(tmpdir(), 'dsrl-env-bench-'));
  try {
    const exe = buildNative(dir);
    const wasm: Record<string, number> = {};
    const native: Record<string, number | null> = {};
    for (const task of TASKS) {
      wasm[task.id] = await benchSingle(task.id, seconds);
      native[task.id] = exe ? runNative(exe, dir, task, seconds) : null;
      const n = native[task.id];
      const ratio = n ? ` | native (MuJoCo ${nativeVersion()}) ${n.toFixed(0)} steps/s, ratio ${(wasm[task.id] / n).toFixed(2)}` : '';
      console.log(`${task.id.padEnd(15)} wasm (MuJoCo 3.14) ${wasm[task.id].toFixed(0)} steps/s${ratio}`);
    }
    const manip: Record<string, number> = {};
    for (const id of MANIPULATION) {
      manip[id] = await benchSingle(id, seconds);
      console.log(`${id.padEnd(20)} wasm (MuJoCo 3.14) ${manip[id].toFixed(0)} steps/s`);
    }
    // Hopper's ratio gets two more alternating rounds; the best of each side counts.
    const hopper = TASKS[0];
    let hopperWasm = wasm[hopper.id];
    let hopperNative = native[hopper.id];
    if (exe && hopperNative) {
      for (let round = 0; round < 2; round++) {
        hopperWasm = Math.max(hopperWasm, await benchSingle(hopper.id, seconds));
        hopperNative = Math.max(hopperNative, runNative(exe, dir, hopper, seconds) ?? 0);
      }
      console.log(`Hopper-v5 best of 3: wasm ${hopperWasm.toFixed(0)}, native ${hopperNative.toFixed(0)} steps/s`);
    }
    // One env per worker is bound by the message round trip per step; several per worker amortize it.
    const vecLatency = await benchVector(hopper.id, 2, seconds);
    console.log(`Hopper-v5 WorkerVectorEnv, 2 envs on 2 workers: ${vecLatency.toFixed(0)} env steps/s`);
    const vec2 = await benchVector(hopper.id, VEC_ENVS, seconds);
    console.log(`Hopper-v5 WorkerVectorEnv, ${VEC_ENVS} envs on 2 workers: ${vec2.toFixed(0)} env steps/s (vec2_hopper_sps)`);
    const ratio = hopperNative ? (hopperWasm / hopperNative).toFixed(2) : 'na';
    console.log(
      `env-bench hopper_sps=${hopperWasm.toFixed(0)} walker_sps=${wasm['Walker2d-v5'].toFixed(0)} cheetah_sps=${wasm['HalfCheetah-v5'].toFixed(0)} ` +
        `vec2_hopper_sps=${vec2.toFixed(0)} native_ratio_hopper=${ratio} lift_sps=${manip['Lift-v0'].toFixed(0)} ` +
        `can_sps=${manip['PickPlaceCan-v0'].toFixed(0)} square_sps=${manip['NutAssemblySquare-v0'].toFixed(0)}`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
