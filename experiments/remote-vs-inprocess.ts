/**
 * Issue 21's bar: `dsrl steer --env ws://...` against the Python adapter serving a dsrl task reaches the
 * same success / return as the in-process env for the same budget. For each seed, DSRL-NA on the Fork toy
 * task (test/helpers/fork-env.ts: base policy cloned in-process, about 40% success), with the same options:
 *
 *   in-process   the task in this process, the synchronous loop (steer's default)
 *   ws sync      the task behind docs/examples/remote_env_adapter.py (test/fixtures/dsrl_env.py: the same
 *                dsrl code in a Node child), the adapter as fast as it steps (--rate 0), the synchronous loop:
 *                every number should equal in-process's exactly (same code, same seeds, floats bit for bit)
 *   ws async     the same adapter at --rate HZ (a robot's control rate), steer --async: updates follow the
 *                wall clock (at most utd per chunk), so only the success rate is expected to match, within seeds
 *
 *   DSRL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 npx tsx experiments/remote-vs-inprocess.ts [--seeds 1,2,3,4,5]
 *     [--steps 1000] [--utd 4] [--rate 200] [--eval-episodes 100] [--out tmp/remote-vs-inprocess]
 *
 * Prints one line per seed and mode (base and final success rate and mean return, updates, seconds) and a
 * summary (mean and standard deviation over seeds). Needs /usr/bin/python3 with websockets and numpy.
 */
import { join } from 'node:path';
import { Command } from 'commander';
import { steer, type SteerInput } from '../src/run/steer.ts';
import { FORK_ENV_MODULE, FORK_ID, forkBasePolicy } from '../test/helpers/fork-env.ts';
import { freePort, pythonProblem, startAdapter, type Adapter } from '../test/helpers/remote-adapter.ts';

const opts = new Command()
  .option('--seeds <list>', 'seeds', '1,2,3,4,5')
  .option('--steps <n>', 'env steps per run', '1000')
  .option('--utd <n>', 'updates per vector step (the cap, with async)', '4')
  .option('--rate <hz>', "the async adapter's control rate", '200')
  .option('--eval-episodes <n>', 'episodes of the base and final evaluations', '100')
  .option('--out <dir>', 'run folders', 'tmp/remote-vs-inprocess')
  .parse()
  .opts();
const problem = pythonProblem();
if (problem) throw new Error(problem);
const seeds = String(opts.seeds).split(',').map(Number);

type Mode = 'in-process' | 'ws sync' | 'ws async';
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

const policy = forkBasePolicy();
const adapterFor = async (rate: number): Promise<Adapter> =>
  startAdapter(await freePort(), ['--rate', String(rate), '--watchdog', '5'], 'dsrl_env:make', {
    DSRL_ENV_ID: FORK_ID,
    DSRL_ENV_PRELOAD: FORK_ENV_MODULE,
  });
const fast = await adapterFor(0);
const timed = await adapterFor(Number(opts.rate));
const rows: Row[] = [];
try {
  for (const seed of seeds) {
    for (const mode of ['in-process', 'ws sync', 'ws async'] as Mode[]) {
      const input: SteerInput = {
        env: mode === 'in-process' ? FORK_ID : mode === 'ws sync' ? fast.url : timed.url,
        algo: 'na',
        async: mode === 'ws async',
        actorSync: 0.25,
        seed,
        steps: Number(opts.steps),
        learningStarts: 100,
        numEnvs: 1,
        utd: Number(opts.utd),
        batchSize: 64,
        distillSteps: 4,
        actorHidden: [64, 64],
        criticHidden: [64, 64],
        lr: 1e-3,
        evalEvery: 0,
        evalEpisodes: Number(opts.evalEpisodes),
        logEvery: 200,
        quiet: true,
        out: join(String(opts.out), `${mode.replace(' ', '-')}-s${seed}-${Date.now()}`),
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
        mode === 'ws sync' && same
          ? ` identical to in-process: ${JSON.stringify(same.returns) === JSON.stringify(row.returns) && same.updates === row.updates}`
          : '';
      console.log(
        `seed ${seed} ${mode.padEnd(10)} base ${row.base.toFixed(2)}  success ${row.success.toFixed(2)}  return ${row.ret.toFixed(3)}  updates ${row.updates}  ${row.seconds.toFixed(1)} s${identical}`,
      );
    }
  }
} finally {
  await fast.kill();
  await timed.kill();
}
const stats = (xs: number[]) => {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  return `${m.toFixed(3)} ± ${Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(xs.length - 1, 1)).toFixed(3)}`;
};
console.log(
  `\n${Number(opts.steps)} env steps, utd ${opts.utd}, ${opts.evalEpisodes} evaluation episodes, seeds ${seeds.join(',')} (mean ± std over seeds)`,
);
for (const mode of ['in-process', 'ws sync', 'ws async'] as Mode[]) {
  const mine = rows.filter((r) => r.mode === mode);
  console.log(
    `${mode.padEnd(10)} base ${stats(mine.map((r) => r.base))}  success ${stats(mine.map((r) => r.success))}  return ${stats(mine.map((r) => r.ret))}  updates ${stats(mine.map((r) => r.updates))}`,
  );
}
