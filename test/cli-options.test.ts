/** CLI flags come from the config schemas: one name, type, default and help text per option, shared across commands. */
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { registerSteer } from '../src/cli/steer.ts';
import { registerTrain } from '../src/cli/train.ts';
import { flagName } from '../src/cli/schema-options.ts';
import { steerSchema } from '../src/run/steer.ts';
import { sacRunSchema } from '../src/run/train-sac.ts';

function program(): Command {
  const p = new Command().exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  registerSteer(p);
  registerTrain(p);
  return p;
}

const command = (name: string) => program().commands.find((c) => c.name() === name)!;
const flagsOf = (cmd: Command) => new Map(cmd.options.map((o) => [o.long!, o]));

describe('CLI flags from the schemas', () => {
  it("every option of steer and sac has its flag, named after the option, with the schema's default in the help", () => {
    for (const [name, schema] of [
      ['steer', steerSchema],
      ['sac', sacRunSchema],
    ] as const) {
      const flags = flagsOf(command(name));
      for (const key of Object.keys(schema.shape)) {
        if (key === 'stopAfter') continue; // for tests only
        const flag = flagName(key);
        expect(flags.has(flag) || flags.has(`--no-${flag.slice(2)}`), `${name} ${flag}`).toBe(true);
      }
    }
    expect(flagName('batchSize')).toBe('--batch-size');
    const steer = flagsOf(command('steer'));
    const sac = flagsOf(command('sac'));
    // Same option, same flag, each command's own default.
    expect([steer.get('--utd')!.defaultValue, sac.get('--utd')!.defaultValue]).toEqual([20, 1]);
    expect(steer.get('--critic-hidden')!.defaultValueDescription).toBe('128,128,128');
    expect(sac.get('--learning-starts')!.defaultValue).toBe(5000);
    expect(steer.has('--no-normalize-obs') && steer.has('--normalize-obs')).toBe(true);
    expect(command('steer').helpInformation()).toMatch(/--batch-size <n>\s+batch size \(default: 256\)/);
  });

  it('bad values name the flag, and options are checked before any policy or env is loaded', async () => {
    const run = (...args: string[]) => program().parseAsync(['node', 'dsrl', ...args]);
    await expect(run('steer', '--env', 'Hopper-v5', '--policy', 'no/such/policy', '--utd', '2.5')).rejects.toThrow(
      /--utd must be an integer, got "2.5"/,
    );
    await expect(run('steer', '--env', 'Hopper-v5', '--policy', 'no/such/policy', '--algo', 'ppo')).rejects.toThrow(
      /--algo.*Allowed choices are na, sac, residual, base/,
    );
    // The policy path does not exist: these fail on the options first, naming them.
    await expect(run('steer', '--env', 'Hopper-v5', '--policy', 'no/such/policy', '--steps', '1000')).rejects.toThrow(
      /steps \(1000\) <= learningStarts \(4000\)/,
    );
    await expect(run('steer', '--env', 'Hopper-v5', '--policy', 'no/such/policy', '--steps', '9000', '--batch-size', '0')).rejects.toThrow(
      /batchSize: Too small/,
    );
    await expect(run('sac', '--env', 'Hopper-v5', '--steps', '100', '--learning-starts', '200')).rejects.toThrow(
      /steps \(100\) <= learningStarts \(200\)/,
    );
    await expect(run('sac', '--env', 'Hopper-v5', '--steps', '1e10')).rejects.toThrow(/steps: Too big/);
  });
});
