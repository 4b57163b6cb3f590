/**
 * Config handling shared by every trainer: one `parseConfig` over a zod schema (the one source of each
 * option's name, type, default and help text; the CLI's flags are generated from it, cli/schema-options.ts),
 * the options every run has for checkpoints and resume, and the rules of a resume.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { CONFIG_FILE } from './run-dir.ts';

/** Options every training run has for checkpoints and resume (spread into each trainer's schema). */
export const runControlShape = {
  checkpointEvery: z
    .number()
    .int()
    .nonnegative()
    .default(0)
    .describe('save the whole training state (train-state/) every n env steps and at the end, so --resume can continue the run exactly; 0: never'),
  resume: z.boolean().default(false).describe('continue the run folder --out from its latest checkpoint, with the config it was started with'),
  stopAfter: z
    .number()
    .int()
    .positive()
    .optional()
    .describe('stop once this many env steps are done, as a killed process would (no checkpoint at the stop); for tests of resume'),
  out: z.string().optional().describe('run folder (default runs/<algo>-<env>-s<seed>-<time>)'),
  quiet: z.boolean().default(false).describe('no progress bar'),
};

/** Options a resumed run may change; every other option must equal the run's config.json. */
export const RESUME_OVERRIDABLE: ReadonlySet<string> = new Set(['steps', 'checkpointEvery', 'stopAfter', 'quiet', 'out', 'resume']);
/** Per-invocation options, never written to config.json. */
export const NOT_IN_CONFIG: readonly string[] = ['resume', 'stopAfter', 'quiet'];

function formatIssue(issue: z.core.$ZodIssue, what: string, known: readonly string[]): string {
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.map((k) => JSON.stringify(k)).join(', ');
    return `${what}: unknown option${issue.keys.length > 1 ? 's' : ''} ${keys} (known options: ${known.join(', ')})`;
  }
  return `${what}: ${issue.path.join('.') || '(root)'}: ${issue.message}`;
}

/** Parses a config against its schema; the error names the option (or the unknown key and the known ones). */
export function parseConfig<S extends z.ZodObject>(schema: S, input: unknown, what: string): z.infer<S> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw new Error(formatIssue(parsed.error.issues[0], what, Object.keys(schema.shape)));
  return parsed.data;
}

/** A run folder's config.json as a plain object, with errors that name the file. */
export function readConfigFile(dir: string): Record<string, unknown> {
  const path = join(dir, CONFIG_FILE);
  if (!existsSync(path)) throw new Error(`${dir}: no ${CONFIG_FILE}, so it is not a dsrl run folder`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`${path}: not valid JSON (${(err as Error).message}); a run folder's config.json is written by dsrl, restore it from a copy`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error(`${path}: expected a JSON object of options`);
  return raw as Record<string, unknown>;
}

/**
 * Options renamed since a run was saved: `{ old: new }` or `{ old: [new, new] }` (one old option that
 * became two). A saved config with an old name reads as the new one.
 */
export function renameOptions(stored: Record<string, unknown>, renames: Record<string, string | readonly string[]>): Record<string, unknown> {
  const out = { ...stored };
  for (const [old, names] of Object.entries(renames)) {
    if (!(old in out)) continue;
    for (const name of typeof names === 'string' ? [names] : names) if (!(name in out)) out[name] = out[old];
    delete out[old];
  }
  return out;
}

/**
 * The config a resumed run continues with: its config.json, plus the options given now that may change
 * (`overridable`); any other option that differs from config.json is refused, naming both values.
 * `notCarried` are overridable options that are accepted but not copied into the config (e.g. a policy path).
 */
export function resumedConfig<T>(
  input: Record<string, unknown>,
  stored: unknown,
  dir: string,
  overridable: ReadonlySet<string>,
  parse: (raw: unknown, what: string) => T,
  what: string,
  notCarried: readonly string[] = [],
): T {
  const saved = parse(stored, `${dir}/${CONFIG_FILE}`) as Record<string, unknown>;
  for (const [key, value] of Object.entries(input)) {
    if (value === undefined || overridable.has(key)) continue;
    const was = saved[key];
    if (JSON.stringify(value) !== JSON.stringify(was)) {
      throw new Error(
        `cannot resume ${dir} with ${key} = ${JSON.stringify(value)}: the run was started with ${JSON.stringify(was)} (${CONFIG_FILE}); only ${[...overridable].join(', ')} may change`,
      );
    }
  }
  const overrides = Object.fromEntries(
    Object.entries(input).filter(([key, value]) => value !== undefined && overridable.has(key) && !notCarried.includes(key)),
  );
  return parse({ ...saved, ...overrides, resume: true }, what);
}

/** What config.json holds for a parsed config: all but the per-invocation options. */
export function storedConfig(cfg: Record<string, unknown>): Record<string, unknown> {
  const stored = { ...cfg };
  for (const key of NOT_IN_CONFIG) delete stored[key];
  return stored;
}
