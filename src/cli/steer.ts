/** CLI: `dsrl steer` (DSRL-NA, DSRL-SAC, residual SAC, or the base policy alone, on a base diffusion policy). */
import type { Command } from 'commander';
import { intArg, listArg, loadPolicyForEnv, numArg } from './args.ts';

const ALGOS = ['na', 'sac', 'residual', 'base'] as const;

export function registerSteer(program: Command): void {
  program
    .command('steer')
    .description('steer a diffusion policy with RL in its latent-noise space (DSRL), or run a baseline on it')
    .option('--env <id>', 'env id, e.g. Hopper-v5 (required unless --resume)')
    .option('--policy <spec>', 'base policy: a diffusion checkpoint folder, a model.onnx, or ws://host:port (required unless --resume, which reloads the run\'s)')
    .option('--algo <name>', 'na (DSRL-NA), sac (DSRL-SAC), residual (residual SAC on the base chunks) or base (evaluate the base policy alone)', 'na')
    .option('--steps <n>', 'env steps to train for, chunk steps counted (required unless --algo base or --offline-only; on --resume it may raise the total)', intArg('--steps'))
    .option('--seed <n>', 'random seed', intArg('--seed'), 1)
    .option('--out <dir>', 'run folder (default runs/<algo>-<env>-s<seed>-<time>)')
    .option('--num-envs <n>', 'parallel training envs', intArg('--num-envs'), 4)
    .option('--action-magnitude <M>', 'noise bound M (DSRL)', numArg('--action-magnitude'), 1.5)
    .option('--target-entropy <h>', 'DSRL temperature target: entropy of the noise policy on w / M in [-1, 1] (the reference\'s convention)', numArg('--target-entropy'), 0)
    .option('--residual-scale <beta>', 'residual SAC: correction bound as a fraction of each action dimension\'s range', numArg('--residual-scale'), 0.2)
    .option('--utd <n>', 'gradient updates per vector step', intArg('--utd'), 20)
    .option('--distill-steps <n>', 'DSRL-NA: Q_W distillation steps after every utd updates', intArg('--distill-steps'), 10)
    .option('--learning-starts <n>', 'env steps of the base policy with N(0, I) noise before learning', intArg('--learning-starts'), 4000)
    .option('--hidden <widths>', 'actor and critic widths, comma-separated', listArg('--hidden'), [128, 128, 128])
    .option('--actor-layer-norm', 'LayerNorm in the actor too, as in the DSRL reference configs (the critics always have it)', false)
    .option('--normalize-obs', 'DSRL: the agent sees observations normalized with the base policy\'s statistics, as in the reference (default: on when the policy declares them)')
    .option('--no-normalize-obs', 'DSRL: the agent sees raw observations')
    .option('--batch <n>', 'batch size', intArg('--batch'), 256)
    .option('--lr <x>', 'learning rate (actor, critics, temperature)', numArg('--lr'), 3e-4)
    .option('--gamma <x>', 'discount per chunk', numArg('--gamma'), 0.99)
    .option('--eval-every <n>', 'evaluate every n env steps (updates with --offline-only)', intArg('--eval-every'), 5000)
    .option('--eval-episodes <n>', 'episodes per evaluation', intArg('--eval-episodes'), 10)
    .option('--log-every <n>', 'log training metrics every n env steps', intArg('--log-every'), 1000)
    .option('--offline <file.h5>', 'DSRL-NA: D4RL-layout dataset loaded into the replay buffer before training (chunked with the policy\'s Ta)')
    .option('--offline-only <updates>', 'DSRL-NA: train this many updates on --offline data alone, no env steps, then evaluate', intArg('--offline-only'))
    .option('--checkpoint-every <n>', 'save the whole training state (train-state/) every n env steps, so --resume can continue the run exactly', intArg('--checkpoint-every'), 0)
    .option('--resume', 'continue the run folder --out from its latest checkpoint, with the config it was started with', false)
    .action(async (o, cmd: Command) => {
      if (!ALGOS.includes(o.algo)) throw new Error(`--algo must be one of ${ALGOS.join(', ')}; got "${o.algo}"`);
      let env: string = o.env;
      let policyPath: string = o.policy;
      if (o.resume) {
        if (o.out === undefined) cmd.error('error: --resume needs --out <run folder> (the folder of the run to continue)');
        const { readRunConfig } = await import('../run/run-dir.ts');
        const { existsSync } = await import('node:fs');
        const { join } = await import('node:path');
        if (!existsSync(join(o.out, 'config.json'))) throw new Error(`cannot resume ${o.out}: it has no config.json, so it is not a dsrl run folder`);
        const saved = readRunConfig(o.out) as { env?: string; policy?: string };
        env = saved.env ?? env;
        policyPath ??= saved.policy as string;
        if (policyPath === undefined) cmd.error(`error: ${o.out}/config.json does not say which base policy the run used; pass --policy`);
      } else {
        if (o.env === undefined) cmd.error("error: required option '--env <id>' not specified");
        if (o.policy === undefined) cmd.error("error: required option '--policy <spec>' not specified");
      }
      const policy = await loadPolicyForEnv(policyPath, env);
      const { steer } = await import('../run/train-dsrl.ts');
      // steer config key <- commander option name
      const fromFlags: Array<[string, string]> = [
        ['env', 'env'], ['algo', 'algo'], ['steps', 'steps'], ['seed', 'seed'], ['out', 'out'], ['numEnvs', 'numEnvs'],
        ['actionMagnitude', 'actionMagnitude'], ['targetEntropy', 'targetEntropy'], ['residualScale', 'residualScale'], ['utd', 'utd'], ['distillSteps', 'distillSteps'],
        ['learningStarts', 'learningStarts'], ['actorHidden', 'hidden'], ['criticHidden', 'hidden'], ['actorLayerNorm', 'actorLayerNorm'], ['normalizeObs', 'normalizeObs'], ['batchSize', 'batch'], ['lr', 'lr'],
        ['gamma', 'gamma'], ['evalEvery', 'evalEvery'], ['evalEpisodes', 'evalEpisodes'], ['logEvery', 'logEvery'], ['offline', 'offline'],
        ['offlineOnly', 'offlineOnly'], ['checkpointEvery', 'checkpointEvery'], ['policy', 'policy'],
      ];
      // On resume only the flags typed now count: defaults must not override (or conflict with) the run's config.json.
      const typed = fromFlags.filter(([, flag]) => !o.resume || cmd.getOptionValueSource(flag) === 'cli');
      const options = Object.fromEntries(typed.map(([key, flag]) => [key, o[flag]]).filter(([, value]) => value !== undefined));
      let res: Awaited<ReturnType<typeof steer>>;
      try {
        res = await steer(o.resume ? { ...options, resume: true, out: o.out } : (options as Parameters<typeof steer>[0]), policy);
      } finally {
        await policy.close?.(); // a remote policy's socket would otherwise keep the process alive
      }
      const best = res.best;
      const resumed = res.resumedFrom === null ? '' : ` (resumed from step ${res.resumedFrom})`;
      const unit = o.offlineOnly !== undefined ? 'update' : 'step';
      const outcome = res.algo === 'base' ? 'evaluated the base policy alone' : `best eval return ${best ? `${best.mean.toFixed(1)} at ${unit} ${best.step}` : 'n/a'}`;
      console.log(`base policy return ${res.base.mean.toFixed(1)} ± ${res.base.std.toFixed(1)}; ${outcome}; ${(res.seconds / 60).toFixed(1)} min${resumed}; run folder ${res.dir}`);
    });
}
