/** Config handling shared by the training commands (trainSac, steer). */
import { z } from 'zod';

/** Options every training run has for checkpoints and resume (spread into each command's schema). */
export const runControlShape = {
  /** Save the whole training state (train-state/step-N) every this many env steps and at the end; 0: never. */
  checkpointEvery: z.number().int().nonnegative().default(0),
  /** Continue the run folder `out` from its latest checkpoint, with the config saved in its config.json. */
  resume: z.boolean().default(false),
  /** Stop once this many env steps are done, as a killed process would (no checkpoint at the stop). For tests. */
  stopAfter: z.number().int().positive().optional(),
};

/**
 * The config a resumed run continues with: its config.json, plus the options given now that may
 * change (`overridable`); any other option that differs from config.json is refused, naming both values.
 * `notCarried` are overridable options that are accepted but not copied into the config (e.g. a policy path).
 */
export function resumedConfig<T>(
  input: Record<string, unknown>, stored: unknown, dir: string, overridable: ReadonlySet<string>,
  parse: (raw: unknown, what: string) => T, what: string, notCarried: readonly string[] = [],
): T {
  const saved = parse(stored, `${dir}/config.json`) as Record<string, unknown>;
  for (const [key, value] of Object.entries(input)) {
    if (value === undefined || overridable.has(key)) continue;
    const was = saved[key];
    if (JSON.stringify(value) !== JSON.stringify(was)) {
      throw new Error(`cannot resume ${dir} with ${key} = ${JSON.stringify(value)}: the run was started with ${JSON.stringify(was)} (config.json); only ${[...overridable].join(', ')} may change`);
    }
  }
  const overrides = Object.fromEntries(
    Object.entries(input).filter(([key, value]) => value !== undefined && overridable.has(key) && !notCarried.includes(key)),
  );
  return parse({ ...saved, ...overrides, resume: true }, what);
}
