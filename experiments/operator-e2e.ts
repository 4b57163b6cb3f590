/**
 * Issue 21, item 5 on a manipulation task: test/operator-e2e.test.ts's loop (a robot without hardware, a
 * scripted person, `dsrl steer --operator` with DSRL-NA) at a scale too slow for the test suite. The task
 * (default Lift-v0) runs in a separate process behind the remote env protocol: the Python adapter
 * (docs/examples/remote_env_adapter.py) serves it through test/fixtures/dsrl_env.py's make_operated at
 * --rate HZ, with terminateOnSuccess false, so the robot does not know when it succeeded. The scripted
 * person (test/helpers/scripted-person.ts) resets the scene whenever asked, labels success --label-delay-ms
 * after the robot side's `success` line, and takes over with the robot's teleop for --takeover-ms at the
 * start of every --takeover-every-th training episode, driving --takeover-action. Evaluations are the
 * person's labels too (one robot: one sub-env).
 *
 *   DSRL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 npx tsx experiments/operator-e2e.ts --policy models/lift \
 *     --offline data/lift-mh.hdf5 --steps 5000 --rate 20 --eval-episodes 50 \
 *     --steer-args "--critic-hidden 256,256,256 --actor-layer-norm --base-precision bf16"
 *
 * `--steer-args` takes any other `dsrl steer` flag (`--no-async` for acting and learning in turns, `--utd`).
 * Prints per seed: the labelled success rate of the base policy and after training, updates, training
 * episodes, takeovers, labels, the largest intervention rate logged, seconds and the load average.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { loadPolicyForEnv } from '../src/cli/args.ts';
import { steer } from '../src/run/steer.ts';
import { freePort, pythonProblem, startAdapter } from '../test/helpers/remote-adapter.ts';
import { startScriptedPerson } from '../test/helpers/scripted-person.ts';
import { parseSteerArgs } from './steer-args.ts';

const opts = new Command()
  .option('--env <id>', 'registered env id (one whose options take terminateOnSuccess: the manipulation tasks)', 'Lift-v0')
  .requiredOption('--policy <folder>', 'base policy checkpoint')
  .option('--offline <dataset>', 'HDF5 demonstrations loaded into the buffer (DSRL-NA)')
  .option('--steer-args <flags>', 'more dsrl steer flags, as one string', '')
  .option('--seeds <list>', 'seeds', '1')
  .option('--steps <n>', 'env steps per run', '5000')
  .option('--rate <hz>', "the robot's control rate", '20')
  .option('--eval-episodes <n>', 'labelled episodes of the base and final evaluations', '50')
  .option('--label-delay-ms <ms>', "the person's delay from the robot reaching the goal to the success label", '200')
  .option('--takeover-every <n>', 'the person takes over in every n-th training episode', '5')
  .option('--takeover-ms <ms>', 'for this long from its start', '300')
  .option('--takeover-action <json>', "the teleop's action (default: no motion, gripper open: [0, 0, 0, 0, 0, 0, -1])", '[0,0,0,0,0,0,-1]')
  .option('--out <dir>', 'run folders', 'tmp/operator-e2e')
  .parse()
  .opts();
const problem = pythonProblem();
if (problem) throw new Error(problem);
const envId = String(opts.env);
const extra = parseSteerArgs(String(opts.steerArgs), ['env', 'policy', 'seed', 'steps', 'out', 'offline', 'operator', 'operatorPort', 'numEnvs']);
const takeoverAction = JSON.parse(String(opts.takeoverAction)) as number[];
const policy = await loadPolicyForEnv(String(opts.policy), envId);
if (!Array.isArray(takeoverAction) || takeoverAction.length !== policy.actDim || !takeoverAction.every(Number.isFinite))
  throw new Error(`--takeover-action must be a JSON list of ${policy.actDim} finite numbers, got ${String(opts.takeoverAction)}`);

try {
  for (const seed of String(opts.seeds).split(',').map(Number)) {
    const teleopFile = join(mkdtempSync(join(tmpdir(), 'dsrl-operator-e2e-')), 'teleop.json');
    const adapter = await startAdapter(await freePort(), ['--rate', String(opts.rate), '--watchdog', '5'], 'dsrl_env:make_operated', {
      DSRL_ENV_ID: envId,
      DSRL_ENV_OPTIONS: JSON.stringify({ terminateOnSuccess: false }),
      DSRL_TELEOP_FILE: teleopFile,
    });
    const port = await freePort();
    const person = startScriptedPerson({
      port,
      adapter,
      teleopFile,
      takeoverAction,
      labelDelayMs: Number(opts.labelDelayMs),
      takeoverEvery: Number(opts.takeoverEvery),
      takeoverMs: Number(opts.takeoverMs),
    });
    const out = join(String(opts.out), `s${seed}-${Date.now()}`);
    const t0 = performance.now();
    let res: Awaited<ReturnType<typeof steer>>;
    try {
      res = await steer(
        {
          ...extra,
          env: adapter.url,
          policy: resolve(String(opts.policy)),
          ...(opts.offline !== undefined ? { offline: resolve(String(opts.offline)) } : {}),
          algo: 'na',
          operator: true,
          operatorPort: port,
          numEnvs: 1,
          seed,
          steps: Number(opts.steps),
          evalEvery: 0,
          evalEpisodes: Number(opts.evalEpisodes),
          quiet: true,
          out,
        },
        policy,
      );
    } finally {
      await person.stop();
      await adapter.kill();
    }
    const seconds = (performance.now() - t0) / 1000;
    const metrics = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, number>);
    const rates = metrics.map((m) => m['charts/intervention_rate']).filter((v) => v !== undefined);
    const { trainEpisodes, takeovers, labels } = person.counts;
    console.log(
      `seed ${seed}: base ${res.base.successRate!.toFixed(2)}, DSRL-NA ${res.evals.at(-1)!.successRate!.toFixed(2)} ` +
        `(${res.evals.at(-1)!.returns.length} labelled episodes each) after ${res.step} env steps, ${res.updates} updates, ` +
        `${trainEpisodes} training episodes, ${takeovers} takeovers, ${labels} success labels, ` +
        `intervention rate up to ${Math.max(0, ...rates).toFixed(3)}, ${seconds.toFixed(1)} s, load ${loadavg()
          .map((v) => v.toFixed(2))
          .join(' ')}  ${out}`,
    );
  }
} finally {
  await policy.close?.();
}
