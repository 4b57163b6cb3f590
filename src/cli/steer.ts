/** CLI: `dsrl steer` (DSRL-NA, DSRL-SAC, residual SAC, or the base policy alone, on a base policy). Flags come from the steer schema. */
import type { Command } from 'commander';
import { loadPolicyForEnv } from './args.ts';
import { addHiddenShorthand, addSchemaOptions, applyHiddenShorthand, typedOptions } from './schema-options.ts';
import { steerSchema } from '../run/steer.ts';

export function registerSteer(program: Command): void {
  const cmd = program.command('steer').description('steer a diffusion policy with RL in its latent-noise space (DSRL), or run a baseline on it');
  addSchemaOptions(cmd, steerSchema, ['stopAfter']);
  addHiddenShorthand(cmd);
  cmd.action(async (_o, command: Command) => {
    const o = command.opts();
    const options = applyHiddenShorthand(command, typedOptions(command, steerSchema));
    const { parseSteerConfig, steer } = await import('../run/steer.ts');
    const { checkRunFolderPath } = await import('../run/run-dir.ts');
    let env: string;
    let policySpec: string;
    if (o.resume) {
      if (o.out === undefined) command.error('error: --resume needs --out <run folder> (the folder of the run to continue)');
      const { readConfigFile } = await import('../run/run-config.ts');
      const saved = readConfigFile(o.out);
      if (typeof saved.env !== 'string') throw new Error(`${o.out}/config.json names no env`);
      env = saved.env;
      if (options.policy === undefined && typeof saved.policy !== 'string')
        command.error(`error: ${o.out}/config.json does not say which base policy the run used; pass --policy`);
      const { resolveRunPath } = await import('../run/pack-run.ts');
      policySpec = typeof options.policy === 'string' ? options.policy : resolveRunPath(o.out, saved.policy as string);
    } else {
      if (o.env === undefined) command.error("error: required option '--env <id>' not specified");
      if (o.policy === undefined) command.error("error: required option '--policy <spec>' not specified");
      // Every option is checked before the policy and the envs are loaded.
      parseSteerConfig(options, 'dsrl steer');
      if (o.out !== undefined) checkRunFolderPath(o.out);
      env = o.env;
      policySpec = o.policy;
    }
    const policy = await loadPolicyForEnv(policySpec, env);
    let res: Awaited<ReturnType<typeof steer>>;
    try {
      res = await steer(o.resume ? { ...options, resume: true, out: o.out } : (options as Parameters<typeof steer>[0]), policy);
    } finally {
      await policy.close?.(); // a remote policy's socket would otherwise keep the process alive
    }
    const { summaryLine } = await import('./report.ts');
    console.log(summaryLine(res, res.base, o.offlineOnly !== undefined ? 'update' : 'step'));
  });
}
