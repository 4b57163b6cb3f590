/**
 * The DSRL comparison (issues #7 and #19): for each task and seed, the base policy alone (w ~ N(0, I) and w = 0), DSRL-NA, DSRL-NA with
 * the demonstrations in its buffer (manipulation), DSRL-SAC, residual SAC (all `dsrl steer`) and SAC from scratch
 * (`dsrl sac`), each trained to the largest budget with evaluations on a fixed schedule; then a markdown table
 * of the eval metric (success rate in % on manipulation, return on Gym) at each budget and one curve SVG per task.
 *
 *   npx tsx experiments/steer-table.ts --policy Hopper-v5=models/hopper --seeds 1,2,3 [--budgets 25000,50000,100000] [--jobs 2]
 *   npx tsx experiments/steer-table.ts --policy Lift-v0=models/lift --data Lift-v0=data/lift-mh.hdf5 --seeds 1,2,3 \
 *     --budgets 10000,25000,50000 --eval-episodes 100
 *
 * Each run is its own process with its own run folder, `<out>/runs/<env>/<algo>-s<seed>/`, and log,
 * `<out>/logs/`. Steered and SAC runs save resumable checkpoints, so running the script again continues
 * unfinished runs exactly, skips finished ones, and moves aside (never deletes) a started run that left no
 * checkpoint. `--report-only` rebuilds `<out>/results.md` and the SVGs from whatever runs exist.
 *
 * Settings: DSRL's reference configs per task (shared/reference/dsrl.md; PRESETS below), utd 20, 4 envs, batch
 * 256. Residual SAC uses the same networks, utd and envs, with corrections up to `--residual-scale` (default 0.2)
 * of the action range. SAC from scratch uses `dsrl sac`'s defaults (CleanRL: 1 env, utd 1, 256 x 256), on
 * manipulation with the dense shaped reward (it does not start on the sparse one). `--steer-args` / `--sac-args`
 * append flags to every run of that command (e.g. "--utd 2" for a quick check). `--width <env>=<n>` /
 * `--magnitude <env>=<M>` replace a task's preset (the reference widths 1024-2048 cost hours per 100k steps on 2
 * cores). `--obs raw` shows DSRL-NA and DSRL-SAC raw observations (`--no-normalize-obs`: the protocol of the
 * README's Gym table); the default is the base policy's normalized observations, steer's default.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readdirSync, renameSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import { writeFileAtomic } from '../src/node/fs.ts';
import { latestCheckpoint, TRAIN_STATE_DIR } from '../src/run/checkpoint.ts';
import { ALGO_KEYS, collectRuns, evalOnly, curveFileName, envCurvesSvg, readRun, resultsMarkdown, runFolder, type AlgoKey } from './report.ts';

/**
 * Reference DSRL-NA settings per task (shared/reference/dsrl.md): noise bound M and network width (3 layers;
 * `width`: actor and critics, `criticWidth`: critics only, the actor keeping steer's default), and flags of
 * the task's own. Manipulation: critics of 256 where the reference has 2048 (64x fewer multiply-adds per
 * update; 2048 would cost hours per 10k env steps here), LayerNorm in the actor as in the reference configs,
 * gamma 0.999 on Square; DSRL-SAC and residual SAC at initial temperature 0.01; SAC from scratch on the dense shaped reward.
 */
export interface Preset {
  actionMagnitude: number;
  width?: number;
  criticWidth?: number;
  steerArgs?: string[];
  /** Flags for the SAC learners on the base policy (DSRL-SAC and residual SAC). */
  steerSacArgs?: string[];
  sacArgs?: string[];
}
// DSRL-SAC (and residual SAC, for a fair baseline) at initial temperature 0.01: at the reference's 1.0 the
// entropy bonus swamps the sparse -1/0 reward and no DSRL-SAC run on Lift learned (docs/results/manipulation.md).
const MANIPULATION: Preset = {
  actionMagnitude: 1.5,
  criticWidth: 256,
  steerArgs: ['--actor-layer-norm'],
  steerSacArgs: ['--init-temperature', '0.01'],
  sacArgs: ['--reward', 'dense'],
};
export const PRESETS: Record<string, Preset> = {
  'Hopper-v5': { actionMagnitude: 1.5, width: 128 },
  'Walker2d-v5': { actionMagnitude: 2.5, width: 2048 },
  'HalfCheetah-v5': { actionMagnitude: 1.5, width: 1024 },
  'Lift-v0': MANIPULATION,
  'PickPlaceCan-v0': MANIPULATION,
  'NutAssemblySquare-v0': { ...MANIPULATION, steerArgs: [...MANIPULATION.steerArgs!, '--gamma', '0.999'] },
};
const DEFAULT_ENVS = Object.keys(PRESETS);

export interface ExperimentOptions {
  policies: Record<string, string>;
  /** Demonstrations per env for 'na-demos' (an HDF5 dataset, D4RL or robomimic layout). */
  datasets?: Record<string, string>;
  envs: string[];
  algos: AlgoKey[];
  seeds: number[];
  budgets: number[];
  evalEvery: number;
  evalEpisodes: number;
  checkpointEvery: number;
  residualScale: number;
  /** What the DSRL agents (na, sac) see: raw observations (this table's runs) or the policy's normalized ones (steer's default). */
  obs: 'raw' | 'normalized';
  /** Per-env changes to PRESETS (e.g. a smaller width where the reference one does not fit the budget). */
  presetOverrides?: Record<string, Partial<Preset>>;
  steerArgs: string[];
  sacArgs: string[];
  out: string;
}

export interface PlannedRun {
  env: string;
  algo: AlgoKey;
  seed: number;
  dir: string;
  /** CLI arguments after `dsrl`; null when the run is finished. */
  args: string[] | null;
  status: 'new' | 'resume' | 'restart' | 'done';
}

const CLI = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'dsrl.js');

/** Has the run's last scheduled evaluation (at `steps`) been logged? */
function finished(dir: string, algo: AlgoKey, steps: number): boolean {
  const evals = readRun(dir);
  if (!evals) return false;
  return evalOnly(algo) ? evals.length > 0 : evals.some(([step]) => step >= steps);
}

function freshArgs(o: ExperimentOptions, env: string, algo: AlgoKey, seed: number, dir: string): string[] {
  const steps = String(Math.max(...o.budgets));
  const evalFlags = ['--eval-every', String(o.evalEvery), '--eval-episodes', String(o.evalEpisodes)];
  const preset: Partial<Preset> = { ...PRESETS[env], ...o.presetOverrides?.[env] };
  if (algo === 'scratch') {
    const run = ['sac', '--env', env, '--steps', steps, '--seed', String(seed), '--out', dir, ...evalFlags];
    return [...run, '--checkpoint-every', String(o.checkpointEvery), ...(preset.sacArgs ?? []), ...o.sacArgs];
  }
  const cliAlgo = algo === 'na-demos' ? 'na' : algo === 'base-zero' ? 'base' : algo;
  const common = ['steer', '--env', env, '--policy', o.policies[env], '--algo', cliAlgo, '--seed', String(seed), '--out', dir, ...evalFlags];
  if (preset.actionMagnitude !== undefined) common.push('--action-magnitude', String(preset.actionMagnitude));
  if (preset.width !== undefined) common.push('--hidden', [preset.width, preset.width, preset.width].join(','));
  if (preset.criticWidth !== undefined) common.push('--critic-hidden', [preset.criticWidth, preset.criticWidth, preset.criticWidth].join(','));
  common.push(...(preset.steerArgs ?? []));
  if (algo === 'base') return [...common, ...o.steerArgs];
  if (algo === 'base-zero') return [...common, '--base-noise', 'zero', ...o.steerArgs];
  if (algo === 'residual') common.push('--residual-scale', String(o.residualScale));
  if (algo === 'sac' || algo === 'residual') common.push(...(preset.steerSacArgs ?? []));
  if (algo === 'na-demos') common.push('--offline', o.datasets![env]);
  if (algo === 'na' || algo === 'na-demos' || algo === 'sac') common.push(o.obs === 'raw' ? '--no-normalize-obs' : '--normalize-obs');
  return [...common, '--steps', steps, '--checkpoint-every', String(o.checkpointEvery), ...o.steerArgs];
}

/** What to run for each (env, algo, seed), given what the run folders hold now. */
export function planRuns(o: ExperimentOptions): PlannedRun[] {
  const root = join(o.out, 'runs');
  const steps = Math.max(...o.budgets);
  const plan: PlannedRun[] = [];
  for (const env of o.envs) {
    for (const algo of o.algos) {
      for (const seed of o.seeds) {
        const dir = runFolder(root, env, algo, seed);
        let status: PlannedRun['status'];
        let args: string[] | null;
        if (!existsSync(dir) || readdirSync(dir).length === 0) {
          status = 'new';
          args = freshArgs(o, env, algo, seed, dir);
        } else if (finished(dir, algo, steps)) {
          status = 'done';
          args = null;
        } else if (!evalOnly(algo) && latestCheckpoint(join(dir, TRAIN_STATE_DIR))) {
          status = 'resume';
          args = [algo === 'scratch' ? 'sac' : 'steer', '--resume', '--out', dir, '--steps', String(steps)];
        } else {
          status = 'restart'; // started, never checkpointed: its folder is moved aside first
          args = freshArgs(o, env, algo, seed, dir);
        }
        plan.push({ env, algo, seed, dir, args, status });
      }
    }
  }
  return plan;
}

/**
 * OpenBLAS threads per run: the cores shared among the parallel runs. At these sizes (batch 256, width <= 2048)
 * one thread is about as fast as two (sgemm 256 x 512 x 512: 1.40 vs 1.36 ms on the 2-core dev box), so on a
 * 2-core machine two runs at one thread each give about twice the throughput of one run at two threads, and
 * oversubscribed threads only slow everyone down. Results do not depend on the thread count (OpenBLAS splits
 * the output, not the sums; checked bit for bit). An OPENBLAS_NUM_THREADS set by the user wins: set it to 1 when
 * two drivers run side by side (each counts only its own jobs).
 */
function childEnv(jobs: number): NodeJS.ProcessEnv {
  return { ...process.env, OPENBLAS_NUM_THREADS: process.env.OPENBLAS_NUM_THREADS ?? String(Math.max(1, Math.floor(cpus().length / jobs))) };
}

/** Run one planned run as a child process, output appended to its log; resolves with the exit code. */
function execute(run: PlannedRun, logDir: string, env: NodeJS.ProcessEnv): Promise<number> {
  if (run.status === 'restart') renameSync(run.dir, `${run.dir}.stale-${Date.now()}`);
  mkdirSync(logDir, { recursive: true });
  const log = createWriteStream(join(logDir, `${run.env}-${run.algo}-s${run.seed}.log`), { flags: 'a' });
  log.write(`\n$ dsrl ${run.args!.join(' ')}\n`);
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, [CLI, ...run.args!], { stdio: ['ignore', 'pipe', 'pipe'], env });
    child.stdout.pipe(log, { end: false });
    child.stderr.pipe(log, { end: false });
    child.on('close', (code) => {
      log.end();
      resolvePromise(code ?? 1);
    });
  });
}

/** Rebuild results.md and the curve SVGs from the run folders. */
export function writeReport(o: ExperimentOptions): string {
  // Only the seeds asked for: the folder may hold other seeds' runs (e.g. a third seed still training).
  const records = collectRuns(join(o.out, 'runs')).filter((r) => o.seeds.includes(r.seed));
  const markdown = resultsMarkdown(records, { envs: o.envs, algos: o.algos, budgets: o.budgets, seeds: o.seeds });
  writeFileAtomic(join(o.out, 'results.md'), markdown);
  for (const env of o.envs) writeFileAtomic(join(o.out, curveFileName(env)), envCurvesSvg(records, env, o.algos));
  return markdown;
}

/** Commander collector for an option given once per item. */
export const repeated = (value: string, acc: string[]): string[] => [...acc, value];

const positiveInts =
  (flag: string) =>
  (value: string): number[] => {
    const parts = value.split(',').map((v) => Number(v.trim()));
    if (parts.some((n) => !Number.isSafeInteger(n) || n < 0))
      throw new InvalidArgumentError(`${flag} must be comma-separated non-negative integers, got "${value}"`);
    return parts;
  };

const intOption =
  (flag: string) =>
  (value: string): number => {
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError(`${flag} must be a non-negative integer, got "${value}"`);
    return n;
  };

async function main(argv: string[]): Promise<void> {
  const program = new Command()
    .name('steer-table')
    .description('DSRL comparison: base, DSRL-NA (+ demonstrations), DSRL-SAC, residual SAC and SAC from scratch')
    .option('--policy <env=path>', 'base policy checkpoint for an env (repeat per env)', repeated, [] as string[])
    .option('--data <env=path>', "an env's demonstrations for na-demos (repeat per env)", repeated, [] as string[])
    .requiredOption('--seeds <list>', 'seeds, comma-separated', positiveInts('--seeds'))
    .option('--envs <list>', `envs (default: those with a --policy; known presets: ${DEFAULT_ENVS.join(', ')})`)
    .option('--algos <list>', `algorithms out of ${ALGO_KEYS.join(', ')} (default: all; na-demos only with --data)`)
    .option('--budgets <list>', 'env-step budgets, comma-separated; runs train to the largest', positiveInts('--budgets'), [25_000, 50_000, 100_000])
    .option('--eval-every <n>', 'evaluation every n env steps (each budget should be a multiple)', intOption('--eval-every'), 5000)
    .option('--eval-episodes <n>', 'episodes per evaluation', intOption('--eval-episodes'), 10)
    .option('--checkpoint-every <n>', 'resumable checkpoint every n env steps', intOption('--checkpoint-every'), 10_000)
    .option('--width <env=n>', 'network width for an env instead of its preset (repeat per env)', repeated, [] as string[])
    .option('--magnitude <env=M>', 'noise bound M for an env instead of its preset (repeat per env)', repeated, [] as string[])
    .option('--residual-scale <beta>', 'residual SAC correction bound, fraction of the action range', '0.2')
    .option(
      '--obs <raw|normalized>',
      "what DSRL-NA and DSRL-SAC see: raw observations (the protocol of the README table) or the base policy's normalized ones (dsrl steer's default)",
      'normalized',
    )
    .option('--steer-args <flags>', 'extra flags for every dsrl steer run', '')
    .option('--sac-args <flags>', 'extra flags for every dsrl sac run', '')
    .option('--jobs <n>', 'runs at the same time', intOption('--jobs'), 1)
    .option('--out <dir>', 'results folder', 'runs/experiments/steer')
    .option('--dry-run', 'print the plan and exit', false)
    .option('--report-only', 'only rebuild results.md and the SVGs from existing runs', false);
  program.parse(argv);
  const flags = program.opts();

  const envPairs = (flag: string, specs: string[]): Array<[string, string]> =>
    specs.map((spec) => {
      const at = spec.indexOf('=');
      if (at <= 0 || at === spec.length - 1) throw new Error(`${flag} must be <env>=<value>, got "${spec}"`);
      return [spec.slice(0, at), spec.slice(at + 1)];
    });
  const policies: Record<string, string> = {};
  for (const [env, path] of envPairs('--policy', flags.policy as string[])) policies[env] = resolve(path);
  const datasets: Record<string, string> = {};
  for (const [env, path] of envPairs('--data', flags.data as string[])) datasets[env] = resolve(path);
  const presetOverrides: NonNullable<ExperimentOptions['presetOverrides']> = {};
  for (const [flag, specs, key] of [
    ['--width', flags.width, 'width'],
    ['--magnitude', flags.magnitude, 'actionMagnitude'],
  ] as const) {
    for (const [env, text] of envPairs(flag, specs as string[])) {
      const value = Number(text);
      const integer = key === 'width';
      if (!(value > 0) || (integer && !Number.isSafeInteger(value)))
        throw new Error(`${flag} ${env}: expected a positive ${integer ? 'integer' : 'number'}, got "${text}"`);
      presetOverrides[env] = { ...presetOverrides[env], [key]: value };
    }
  }
  const algos = (
    flags.algos === undefined ? ALGO_KEYS.filter((a) => a !== 'na-demos' || Object.keys(datasets).length > 0).join(',') : String(flags.algos)
  )
    .split(',')
    .map((a) => a.trim()) as AlgoKey[];
  for (const algo of algos) if (!ALGO_KEYS.includes(algo)) throw new Error(`--algos: unknown algorithm "${algo}" (known: ${ALGO_KEYS.join(', ')})`);
  const envs = flags.envs
    ? String(flags.envs)
        .split(',')
        .map((e) => e.trim())
    : Object.keys(policies);
  if (envs.length === 0) throw new Error('no envs: give --policy <env>=<path> for each env (or --envs for --report-only / scratch-only runs)');
  const needPolicy = algos.some((a) => a !== 'scratch');
  if (needPolicy && !flags.reportOnly) {
    for (const env of envs) if (!policies[env]) throw new Error(`no base policy for ${env}: pass --policy ${env}=<checkpoint folder>`);
  }
  if (algos.includes('na-demos') && !flags.reportOnly) {
    for (const env of envs) if (!datasets[env]) throw new Error(`na-demos needs ${env}'s demonstrations: pass --data ${env}=<dataset.hdf5>`);
  }
  const budgets = [...(flags.budgets as number[])].sort((a, b) => a - b);
  const evalEvery = flags.evalEvery as number;
  if (evalEvery > 0 && budgets.some((b) => b % evalEvery !== 0))
    throw new Error(`every budget must be a multiple of --eval-every ${evalEvery}, got ${budgets.join(', ')}`);
  if (flags.obs !== 'raw' && flags.obs !== 'normalized') throw new Error(`--obs must be raw or normalized, got "${flags.obs}"`);
  const split = (s: string) => s.split(/\s+/).filter((x) => x.length > 0);
  const o: ExperimentOptions = {
    policies,
    datasets,
    envs,
    algos,
    seeds: flags.seeds,
    budgets,
    evalEvery,
    evalEpisodes: flags.evalEpisodes,
    checkpointEvery: flags.checkpointEvery,
    residualScale: Number(flags.residualScale),
    obs: flags.obs,
    presetOverrides,
    steerArgs: split(flags.steerArgs),
    sacArgs: split(flags.sacArgs),
    out: resolve(flags.out),
  };

  if (!flags.reportOnly) {
    const plan = planRuns(o);
    const todo = plan.filter((r) => r.args !== null);
    console.log(
      `${plan.length} runs: ${todo.length} to do (${['new', 'resume', 'restart'].map((s) => `${plan.filter((r) => r.status === s).length} ${s}`).join(', ')}), ${plan.length - todo.length} done`,
    );
    if (flags.dryRun) {
      for (const r of todo) console.log(`[${r.status}] dsrl ${r.args!.join(' ')}`);
      return;
    }
    const env = childEnv(Math.max(1, flags.jobs as number));
    const failures: PlannedRun[] = [];
    let next = 0;
    let done = 0;
    const worker = async () => {
      while (next < todo.length) {
        const run = todo[next++];
        const started = performance.now();
        const code = await execute(run, join(o.out, 'logs'), env);
        done++;
        const minutes = ((performance.now() - started) / 60_000).toFixed(1);
        console.log(
          `[${done}/${todo.length}] ${run.env} ${run.algo} seed ${run.seed}: ${code === 0 ? 'ok' : `FAILED (exit ${code})`} in ${minutes} min`,
        );
        if (code !== 0) failures.push(run);
        writeReport(o); // the table fills in as runs finish
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, flags.jobs as number) }, worker));
    if (failures.length > 0) {
      console.error(
        `${failures.length} run(s) failed; see ${join(o.out, 'logs')}: ${failures.map((r) => `${r.env}/${r.algo}-s${r.seed}`).join(', ')}`,
      );
      process.exitCode = 1;
    }
  }
  console.log(writeReport(o));
  console.log(`wrote ${join(o.out, 'results.md')} and ${o.envs.map(curveFileName).join(', ')}`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv).catch((err: unknown) => {
    console.error(`steer-table: error: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  });
}
