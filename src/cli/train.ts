/** CLI: `dsrl sac` (SAC from scratch) and `dsrl collect` (roll out an agent into a D4RL dataset). */
import type { Command } from 'commander';
import { intArg, listArg, numArg } from './args.ts';

export function registerTrain(program: Command): void {
  program
    .command('sac')
    .description('train SAC from scratch on an env (the action-space baseline)')
    .option('--env <id>', 'env id, e.g. Hopper-v5 (required unless --resume)')
    .option('--steps <n>', 'env steps to train for (required unless --resume, where it may raise the total)', intArg('--steps'))
    .option('--seed <n>', 'random seed', intArg('--seed'), 1)
    .option('--out <dir>', 'run folder (default runs/sac-<env>-s<seed>-<time>)')
    .option('--num-envs <n>', 'parallel training envs', intArg('--num-envs'), 1)
    .option('--learning-starts <n>', 'env steps of uniform random actions before learning', intArg('--learning-starts'), 5000)
    .option('--utd <n>', 'gradient updates per vector-env step', intArg('--utd'), 1)
    .option('--batch <n>', 'batch size', intArg('--batch'), 256)
    .option('--hidden <widths>', 'hidden layer widths, comma-separated', listArg('--hidden'), [256, 256])
    .option('--layer-norm', 'LayerNorm in the critics', false)
    .option('--lr <x>', 'learning rate (actor, critics, temperature)', numArg('--lr'), 3e-4)
    .option('--eval-every <n>', 'evaluate every n env steps', intArg('--eval-every'), 10_000)
    .option('--eval-episodes <n>', 'episodes per evaluation', intArg('--eval-episodes'), 10)
    .option('--keep-snapshots', 'keep a checkpoint of every evaluation (checkpoints/step-N)', false)
    .option('--checkpoint-every <n>', 'save the whole training state (train-state/) every n env steps, so --resume can continue the run exactly', intArg('--checkpoint-every'), 0)
    .option('--resume', 'continue the run folder --out from its latest checkpoint, with the config it was started with', false)
    .action(async (o, cmd: Command) => {
      if (!o.resume) {
        if (o.env === undefined) cmd.error("error: required option '--env <id>' not specified");
        if (o.steps === undefined) cmd.error("error: required option '--steps <n>' not specified");
      } else if (o.out === undefined) {
        cmd.error('error: --resume needs --out <run folder> (the folder of the run to continue)');
      }
      const { trainSac } = await import('../run/train-sac.ts');
      // sac config key <- commander option name
      const fromFlags: Array<[string, string]> = [
        ['env', 'env'], ['steps', 'steps'], ['seed', 'seed'], ['out', 'out'], ['numEnvs', 'numEnvs'], ['learningStarts', 'learningStarts'],
        ['updatesPerStep', 'utd'], ['batchSize', 'batch'], ['hidden', 'hidden'], ['criticLayerNorm', 'layerNorm'], ['lr', 'lr'],
        ['evalEvery', 'evalEvery'], ['evalEpisodes', 'evalEpisodes'], ['keepSnapshots', 'keepSnapshots'], ['checkpointEvery', 'checkpointEvery'],
      ];
      // On resume only the flags typed now count: defaults must not override (or conflict with) the run's config.json.
      const typed = fromFlags.filter(([, flag]) => !o.resume || cmd.getOptionValueSource(flag) === 'cli');
      const options = Object.fromEntries(typed.map(([key, flag]) => [key, o[flag]]));
      const res = await trainSac(o.resume ? { ...options, resume: true, out: o.out } : (options as Parameters<typeof trainSac>[0]));
      const best = res.best as { mean: number; step: number } | null;
      const resumed = res.resumedFrom === null ? '' : ` (resumed from step ${res.resumedFrom})`;
      console.log(`done in ${(res.seconds / 60).toFixed(1)} min${resumed}: best eval return ${best ? `${best.mean.toFixed(1)} at step ${best.step}` : 'n/a'}; run folder ${res.dir}`);
    });

  program
    .command('collect')
    .description('roll out a trained agent into a D4RL-layout HDF5 dataset')
    .requiredOption('--policy <dir>', 'agent checkpoint folder (e.g. runs/.../best)')
    .requiredOption('--env <id>', 'env id')
    .requiredOption('--episodes <n>', 'episodes to record', intArg('--episodes'))
    .option('--noise <sigma>', 'Gaussian action noise, as a fraction of the action half-range', numArg('--noise'), 0)
    .option('--stochastic', 'sample the agent\'s stochastic policy instead of its mean action (as D4RL recorded its "medium" data)', false)
    .option('--seed <n>', 'random seed', intArg('--seed'), 0)
    .requiredOption('--out <file.h5>', 'output HDF5 file')
    .action(async (o) => {
      const { collect } = await import('../run/collect.ts');
      const res = await collect({ ...o, command: `dsrl ${process.argv.slice(2).join(' ')}` });
      console.log(`wrote ${o.out}: ${res.dataset.size} transitions, ${res.returns.length} episodes, return ${res.mean.toFixed(1)} ± ${res.std.toFixed(1)}, sha256 ${res.hash.slice(0, 16)}`);
    });
}
