/**
 * Issue 21's bar: `dsrl steer --env ws://...` against the Python adapter serving a dsrl task reaches the
 * same success / return as the in-process env for the same budget. For each seed, DSRL-NA with the same
 * options in each mode:
 *
 *   in-process   the task in this process, the synchronous loop (steer's default)
 *   ws-sync      the task behind docs/examples/remote_env_adapter.py (test/fixtures/dsrl_env.py: the same
 *                dsrl code in a Node child), the adapter as fast as it steps (--rate 0), the synchronous loop:
 *                every number should equal in-process's exactly (same code, same seeds, floats bit for bit)
 *   ws-async     the same adapter at --rate HZ (a robot's control rate), steer --async: updates follow the
 *                wall clock (at most utd per chunk), so only the success rate is expected to match, within seeds
 *
 * The evaluations of the ws modes go through the protocol too (their own connections to the same adapter).
 *
 * Default: the Fork toy task (test/helpers/fork-env.ts: base policy cloned in-process, about 40% success),
 * small networks, utd 4. Any registered task instead: `--env <id> --policy <checkpoint folder>`, optionally
 * `--offline <dataset>` and `--steer-args "<dsrl steer flags>"`; steer's defaults apply to the rest.
 *
 *   DSRL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 npx tsx experiments/remote-vs-inprocess.ts [--seeds 1,2,3,4,5]
 *     [--steps 1000] [--utd 4] [--rate 200] [--eval-episodes 100] [--modes in-process,ws-sync,ws-async]
 *     [--out tmp/remote-vs-inprocess]
 *   ... --env Lift-v0 --policy models/lift --offline data/lift-mh.hdf5 --steps 5000 --rate 20 \
 *     --steer-args "--critic-hidden 256,256,256 --actor-layer-norm --base-precision bf16"
 *
 * Prints one line per seed and mode (base and final success rate and mean return, updates, seconds, load
 * average) and a summary (mean and standard deviation over seeds). Needs /usr/bin/python3 with websockets
 * and numpy.
 */
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { loadPolicyForEnv } from '../src/cli/args.ts';
import type { NoisePolicy } from '../src/policies/policy.ts';
import { parseSteerConfig, steer, type SteerInput } from '../src/run/steer.ts';
import { FORK_ENV_MODULE, FORK_ID, forkBasePolicy } from '../test/helpers/fork-env.ts';
import { freePort, pythonProblem, startAdapter, type Adapter } from '../test/helpers/remote-adapter.ts';
import { parseSteerArgs } from './steer-args.ts';

const MODES = ['in-process', 'ws-sync', 'ws-async'] as const;
type Mode = (typeof MODES)[number];

const opts = new Command()
  .option('--env <id>', 'registered env id', FORK_ID)
  .option('--policy <folder>', 'base policy checkpoint (required unless the env is the Fork default, whose policy is cloned here)')
  .option('--offline <dataset>', 'HDF5 demonstrations loaded into the buffer (DSRL-NA)')
  .option('--steer-args <flags>', 'more dsrl steer flags, as one string (e.g. "--critic-hidden 256,256,256 --actor-layer-norm")', '')
  .option('--env-options <json>', "the task's options (DSRL_ENV_OPTIONS for the adapter; the in-process env uses the registry's defaults)")
  .option('--seeds <list>', 'seeds', '1,2,3,4,5')
  .option('--steps <n>', 'env steps per run', '1000')
  .option('--utd <n>', "updates per vector step (the cap, with async); default 4 on Fork, else steer's")
  .option('--rate <hz>', "the async adapter's control rate", '200')
  .option('--eval-episodes <n>', 'episodes of the base and final evaluations', '100')
  .option('--modes <list>', `modes to run, of ${MODES.join(',')}`, MODES.join(','))
  .option('--out <dir>', 'run folders', 'tmp/remote-vs-inprocess')
  .parse()
  .opts();
const problem = pythonProblem();
if (problem) throw new Error(problem);
const seeds = String(opts.seeds).split(',').map(Number);
const modes = String(opts.modes).split(',') as Mode[];
for (const m of modes) if (!MODES.includes(m)) throw new Error(`--modes: unknown mode '${m}' (expected ${MODES.join(', ')})`);
const envId = String(opts.env);
const fork = envId === FORK_ID;
if (!fork && opts.policy === undefined) throw new Error(`--env ${envId} needs --policy <checkpoint folder>`);
if (fork && opts.envOptions !== undefined) throw new Error('--env-options is for tasks other than the Fork default');

const RESERVED = ['env', 'policy', 'seed', 'steps', 'out', 'async', 'offline'];
const steerArgs = (text: string) => parseSteerArgs(text, RESERVED);

// Fork: the documented table's options. Other tasks: steer's defaults, then --steer-args.
const common: Record<string, unknown> = fork
  ? {
      learningStarts: 100,
      numEnvs: 1,
      utd: 4,
      batchSize: 64,
      distillSteps: 4,
      actorHidden: [64, 64],
      criticHidden: [64, 64],
      lr: 1e-3,
      logEvery: 200,
    }
  : {
      policy: resolve(String(opts.policy)),
      ...(opts.offline !== undefined ? { offline: resolve(String(opts.offline)) } : {}),
      ...steerArgs(String(opts.steerArgs)),
    };
if (fork && opts.steerArgs) Object.assign(common, steerArgs(String(opts.steerArgs)));
if (opts.utd !== undefined) common.utd = Number(opts.utd);
parseSteerConfig({ env: envId, algo: 'na', steps: Number(opts.steps), ...common }, 'remote-vs-inprocess'); // fail before anything starts

const policy: NoisePolicy = fork ? forkBasePolicy() : await loadPolicyForEnv(String(opts.policy), envId);
const adapterEnv: Record<string, string> = {
  DSRL_ENV_ID: envId,
  ...(fork ? { DSRL_ENV_PRELOAD: FORK_ENV_MODULE } : {}),
  ...(opts.envOptions !== undefined ? { DSRL_ENV_OPTIONS: String(opts.envOptions) } : {}),
};
const adapterFor = async (rate: number): Promise<Adapter> =>
  startAdapter(await freePort(), ['--rate', String(rate), '--watchdog', '5'], 'dsrl_env:make', adapterEnv);
const fast = modes.includes('ws-sync') ? await adapterFor(0) : null;
const timed = modes.includes('ws-async') ? await adapterFor(Number(opts.rate)) : null;

interface Row {
  mode: Mode;
  seed: number;
  base: number;
  success: number;
  ret: number;
  returns: number[];
  updates: number;
  seconds: number;
}
const rows: Row[] = [];
try {
  for (const seed of seeds) {
    for (const mode of modes) {
      const input: SteerInput = {
        ...common,
        env: mode === 'in-process' ? envId : mode === 'ws-sync' ? fast!.url : timed!.url,
        algo: 'na',
        async: mode === 'ws-async',
        actorSync: fork ? 0.25 : (common.actorSync as number | undefined),
        seed,
        steps: Number(opts.steps),
        evalEvery: 0,
        evalEpisodes: Number(opts.evalEpisodes),
        quiet: true,
        out: join(String(opts.out), `${mode}-s${seed}-${Date.now()}`),
      };
      const t0 = performance.now();
      const res = await steer(input, policy);
      const last = res.evals.at(-1)!;
      const row: Row = {
        mode,
        seed,
        base: res.base.successRate!,
        success: last.successRate!,
        ret: last.mean,
        returns: last.returns,
        updates: res.updates,
        seconds: (performance.now() - t0) / 1000,
      };
      rows.push(row);
      const same = rows.find((r) => r.seed === seed && r.mode === 'in-process');
      const identical =
        mode === 'ws-sync' && same
          ? `  identical to in-process: ${JSON.stringify(same.returns) === JSON.stringify(row.returns) && same.updates === row.updates}`
          : '';
      console.log(
        `seed ${seed} ${mode.padEnd(10)} base ${row.base.toFixed(2)}  success ${row.success.toFixed(2)}  return ${row.ret.toFixed(3)}  updates ${row.updates}  ` +
          `${row.seconds.toFixed(1)} s  load ${loadavg()
            .map((v) => v.toFixed(2))
            .join(' ')}  ${input.out}${identical}`,
      );
    }
  }
} finally {
  await fast?.kill();
  await timed?.kill();
  await policy.close?.();
}
const stats = (xs: number[]) => {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  return `${m.toFixed(3)} ± ${Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(xs.length - 1, 1)).toFixed(3)}`;
};
console.log(
  `\n${envId}: ${Number(opts.steps)} env steps, ${opts.evalEpisodes} evaluation episodes, seeds ${seeds.join(',')} (mean ± std over seeds); options ${JSON.stringify(common)}`,
);
for (const mode of modes) {
  const mine = rows.filter((r) => r.mode === mode);
  console.log(
    `${mode.padEnd(10)} base ${stats(mine.map((r) => r.base))}  success ${stats(mine.map((r) => r.success))}  return ${stats(mine.map((r) => r.ret))}  updates ${stats(mine.map((r) => r.updates))}`,
  );
}
