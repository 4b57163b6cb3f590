/**
 * CLI flags generated from a config schema, so each option's name, type, default and help text have one
 * source (the zod schema): option `batchSize` is `--batch-size <n>`, a boolean `actorLayerNorm` is
 * `--actor-layer-norm` (and `--no-...` where it defaults to true or has no default), a list of widths takes
 * "256,256". Values are checked by the flag parsers (clear errors naming the flag) and again by the schema.
 */
import { Option, type Command } from 'commander';
import { z } from 'zod';
import { intArg, listArg, numArg } from './args.ts';

interface JsonSchemaField {
  type?: string;
  enum?: unknown[];
  default?: unknown;
  description?: string;
  items?: { type?: string };
}

export const flagName = (key: string) => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/** Adds one flag per schema option (except `skip`). `required` flags are checked by the caller (they are optional on resume). */
export function addSchemaOptions(cmd: Command, schema: z.ZodObject, skip: readonly string[] = []): Command {
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as { properties: Record<string, JsonSchemaField> };
  for (const [key, field] of Object.entries(json.properties)) {
    if (skip.includes(key)) continue;
    const flag = flagName(key);
    const help = field.description ?? key;
    if (field.type === 'boolean') {
      if (field.default === true || field.default === undefined) cmd.addOption(new Option(`--no-${flag.slice(2)}`, `do not: ${help}`));
      if (field.default !== true) cmd.addOption(new Option(flag, help));
      continue;
    }
    let option: Option;
    if (field.type === 'integer') option = new Option(`${flag} <n>`, help).argParser(intArg(flag));
    else if (field.type === 'number') option = new Option(`${flag} <x>`, help).argParser(numArg(flag));
    else if (field.type === 'array' && field.items?.type === 'integer') option = new Option(`${flag} <list>`, help).argParser(listArg(flag));
    else if (field.enum) option = new Option(`${flag} <name>`, help).choices(field.enum.map(String));
    else if (field.type === 'string') option = new Option(`${flag} <value>`, help);
    else throw new Error(`schema option ${key}: no CLI flag for type ${JSON.stringify(field.type)}`);
    // For --help; only flags typed on the command line reach the config (typedOptions), the schema applies defaults.
    if (field.default !== undefined) option.default(field.default, Array.isArray(field.default) ? field.default.join(',') : String(field.default));
    cmd.addOption(option);
  }
  return cmd;
}

/** The options typed on the command line, by schema key (defaults stay the schema's to apply). */
export function typedOptions(cmd: Command, schema: z.ZodObject, skip: readonly string[] = []): Record<string, unknown> {
  const values = cmd.opts();
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(schema.shape)) {
    if (skip.includes(key)) continue;
    if (cmd.getOptionValueSource(key) === 'cli' && values[key] !== undefined) out[key] = values[key];
  }
  return out;
}

/** `--hidden <list>`: one list for both `actorHidden` and `criticHidden` (typed ones win). */
export function addHiddenShorthand(cmd: Command): Command {
  return cmd.addOption(new Option('--hidden <list>', 'actor and critic widths at once, comma-separated').argParser(listArg('--hidden')));
}

export function applyHiddenShorthand(cmd: Command, options: Record<string, unknown>): Record<string, unknown> {
  const hidden = cmd.getOptionValueSource('hidden') === 'cli' ? cmd.opts().hidden : undefined;
  if (hidden === undefined) return options;
  return { actorHidden: hidden, criticHidden: hidden, ...options };
}
