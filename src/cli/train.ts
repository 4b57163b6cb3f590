/** CLI: `dsrl sac` (SAC from scratch; flags come from its schema) and `dsrl collect` (roll out an agent into a D4RL dataset, or scripted demos into robomimic layout). */
import type { Command } from 'commander';
import { sacRunSchema } from '../run/train-sac.ts';
import { intArg, numArg } from './args.ts';
import { addHiddenShorthand, addSchemaOptions, applyHiddenShorthand, typedOptions } from './schema-options.ts';

export function registerTrain(program: Command): void {
  const cmd = program.command('sac').description('train SAC from scratch on an env (the action-space baseline)');
  addSchemaOptions(cmd, sacRunSchema, ['stopAfter']);
  addHiddenShorthand(cmd);
  cmd.action(async (_o, command: Command) => {
    const o = command.opts();
    const options = applyHiddenShorthand(command, typedOptions(command, sacRunSchema));
    if (!o.resume) {
      if (o.env === undefined) command.error("error: required option '--env <id>' not specified");
      if (o.steps === undefined) command.error("error: required option '--steps <n>' not specified");
    } else if (o.out === undefined) {
      command.error('error: --resume needs --out <run folder> (the folder of the run to continue)');
    }
    const { trainSac } = await import('../run/train-sac.ts');
    const res = await trainSac(o.resume ? { ...options, resume: true, out: o.out } : (options as Parameters<typeof trainSac>[0]));
    const { summaryLine } = await import('./report.ts');
    console.log(summaryLine(res, undefined, 'step'));
  });

  program
    .command('collect')
    .description(
      'roll out a trained agent into a D4RL-layout HDF5 dataset, or a scripted multi-human demonstrator (--scripted) into robomimic layout',
    )
    .option('--policy <dir>', 'agent checkpoint folder (e.g. runs/.../best)')
    .option('--env <id>', 'env id (with --policy)')
    .option(
      '--scripted <task>',
      'a scripted multi-human demonstrator instead of --policy: lift (Lift-v0), can (PickPlaceCan-v0), square (NutAssemblySquare-v0); writes robomimic layout',
    )
    .requiredOption('--episodes <n>', 'episodes to record (with --scripted: demos to write)', intArg('--episodes'))
    .option('--noise <sigma>', 'Gaussian action noise, as a fraction of the action half-range', numArg('--noise'), 0)
    .option('--stochastic', 'sample the agent\'s stochastic policy instead of its mean action (as D4RL recorded its "medium" data)', false)
    .option(
      '--failure-share <x>',
      'with --scripted: share of written demos that are failures (0: successes only, as robomimic)',
      numArg('--failure-share'),
      0,
    )
    .option('--valid-share <x>', 'with --scripted: share of demos in mask/valid', numArg('--valid-share'), 0.1)
    .option('--seed <n>', 'random seed', intArg('--seed'), 0)
    .requiredOption('--out <file.h5>', 'output HDF5 file')
    .action(async (o, command: Command) => {
      const line = `dsrl ${process.argv.slice(2).join(' ')}`;
      if (o.scripted !== undefined) {
        if (o.policy !== undefined || o.env !== undefined) command.error('error: --scripted replaces --policy and --env; give one or the other');
        const { collectScripted } = await import('../run/collect.ts');
        const res = await collectScripted({ ...o, command: line });
        console.log(
          `wrote ${o.out}: ${res.dataset.demos.length} demos (${res.successes} successful, ${res.failures} failed; ${res.attempts} episodes run), ` +
            `mean length ${res.meanLength.toFixed(1)} steps`,
        );
        return;
      }
      if (o.policy === undefined) command.error("error: required option '--policy <dir>' not specified (or --scripted <task>)");
      if (o.env === undefined) command.error("error: required option '--env <id>' not specified");
      const { collect } = await import('../run/collect.ts');
      const res = await collect({ ...o, command: line });
      console.log(
        `wrote ${o.out}: ${res.dataset.size} transitions, ${res.returns.length} episodes, return ${res.mean.toFixed(1)} ± ${res.std.toFixed(1)}, sha256 ${res.hash.slice(0, 16)}`,
      );
    });
}
