/** Config handling shared by the training commands (trainSac, steer). */

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
