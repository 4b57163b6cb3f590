/** The `dsrl` command line. Each subcommand lives in its own module and registers itself here. */
import { Command } from 'commander';
import { intArg } from './args.ts';
import { registerEval } from './eval.ts';
import { registerExport } from './export.ts';
import { registerPack } from './pack.ts';
import { registerPretrain } from './pretrain.ts';
import { registerServe } from './serve.ts';
import { registerSteer } from './steer.ts';
import { registerTrain } from './train.ts';
import { registerView } from './view.ts';

const program = new Command();
program.name('dsrl').description('Steer a diffusion policy with RL in its latent-noise space (DSRL).').version('0.1.0');

program
  .command('demo')
  .description('DSRL end to end: steer the shipped Hopper-v5 diffusion policy with DSRL-NA for 15k env steps (about 6 min on 2 cores)')
  .option('--toy', 'instead: clone a bimodal diffusion policy and steer it to the rewarded mode (under a minute)', false)
  .option('--seed <n>', 'random seed of the Hopper demo', intArg('--seed'), 1)
  .action(async (o) => {
    const { runToyDemo, runHopperDemo } = await import('./demo.ts');
    if (o.toy) await runToyDemo();
    else await runHopperDemo({ seed: o.seed });
  });

registerTrain(program);
registerSteer(program);
registerPretrain(program);
registerEval(program);
registerServe(program);
registerExport(program);
registerPack(program);
registerView(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  // User errors (bad flags, files, configs) get one clean line; DSRL_DEBUG=1 shows the stack.
  const message = err instanceof Error ? err.message : String(err);
  console.error(`dsrl: error: ${message}`);
  if (process.env.DSRL_DEBUG === '1' && err instanceof Error) console.error(err.stack);
  process.exitCode = 1;
}
