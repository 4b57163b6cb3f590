/**
 * `--steer-args "<flags>"` of the experiments: `dsrl steer` flags in one string, read by steer's own
 * schema-generated flags (src/cli/schema-options.ts), so they mean exactly what they mean on the CLI.
 */
import { Command } from 'commander';
import { addHiddenShorthand, addSchemaOptions, applyHiddenShorthand, typedOptions } from '../src/cli/schema-options.ts';
import { steerSchema } from '../src/run/steer.ts';

/** The typed options, by schema key; `reserved`: keys the experiment sets itself (refused with a clear error). */
export function parseSteerArgs(text: string, reserved: readonly string[]): Record<string, unknown> {
  const cmd = new Command('steer-args').exitOverride();
  addSchemaOptions(cmd, steerSchema, ['stopAfter']);
  addHiddenShorthand(cmd);
  cmd.parse(text.split(/\s+/).filter(Boolean), { from: 'user' });
  const typed = applyHiddenShorthand(cmd, typedOptions(cmd, steerSchema));
  for (const key of reserved) if (key in typed) throw new Error(`--steer-args: '${key}' is set by the experiment (use its own flag, if any)`);
  return typed;
}
