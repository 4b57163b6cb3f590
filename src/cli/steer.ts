/** CLI: `dsrl steer` (DSRL-NA or DSRL-SAC on a base policy). */
import type { Command } from 'commander';
import { intArg, listArg, numArg } from './args.ts';

export function registerSteer(program: Command): void {
  program
    .command('steer')
    .description('steer a diffusion policy with RL in its latent-noise space (DSRL)')
    .requiredOption('--env <id>', 'env id, e.g. Hopper-v5')
    .requiredOption('--policy <path>', 'base policy: a diffusion checkpoint folder')
    .option('--algo <na|sac>', 'DSRL-NA (noise aliasing) or DSRL-SAC', 'na')
    .requiredOption('--steps <n>', 'env steps to train for (chunk steps counted)', intArg('--steps'))
    .option('--seed <n>', 'random seed', intArg('--seed'), 1)
    .option('--out <dir>', 'run folder (default runs/dsrl-<algo>-<env>-s<seed>-<time>)')
    .option('--num-envs <n>', 'parallel training envs', intArg('--num-envs'), 4)
    .option('--action-magnitude <M>', 'noise bound M', numArg('--action-magnitude'), 1.5)
    .option('--utd <n>', 'gradient updates per vector step', intArg('--utd'), 20)
    .option('--learning-starts <n>', 'env steps of the base policy with N(0, I) noise before learning', intArg('--learning-starts'), 4000)
    .option('--hidden <widths>', 'actor and critic widths, comma-separated', listArg('--hidden'), [128, 128, 128])
    .option('--batch <n>', 'batch size', intArg('--batch'), 256)
    .option('--eval-every <n>', 'evaluate every n env steps', intArg('--eval-every'), 5000)
    .option('--eval-episodes <n>', 'episodes per evaluation', intArg('--eval-episodes'), 10)
    .action(async (o) => {
      if (o.algo !== 'na' && o.algo !== 'sac') throw new Error(`--algo must be "na" or "sac", got "${o.algo}"`);
      const { makeEnv } = await import('../envs/registry.ts');
      const probe = await makeEnv(o.env);
      const expect = { obsDim: probe.observationSpace.size, actDim: probe.actionSpace.size };
      probe.close();
      const { loadDiffusionPolicy } = await import('../policies/diffusion/checkpoint-io.ts');
      const policy = loadDiffusionPolicy(o.policy, { expect });
      const { steer } = await import('../run/train-dsrl.ts');
      const res = await steer({
        env: o.env, algo: o.algo, steps: o.steps, seed: o.seed, out: o.out, numEnvs: o.numEnvs, actionMagnitude: o.actionMagnitude,
        utd: o.utd, learningStarts: o.learningStarts, actorHidden: o.hidden, criticHidden: o.hidden, batchSize: o.batch,
        evalEvery: o.evalEvery, evalEpisodes: o.evalEpisodes,
      }, policy);
      const best = res.best as { mean: number; step: number } | null;
      console.log(`base policy return ${res.base.mean.toFixed(1)}; best steered return ${best ? `${best.mean.toFixed(1)} at step ${best.step}` : 'n/a'}; ${(res.seconds / 60).toFixed(1)} min; run folder ${res.dir}`);
    });
}
