/**
 * Node-only run folder: `runs/<algo>-<env>-s<seed>-<YYYYmmdd-HHMMSS>/` (or the user's `--out`)
 * holding config.json, the metrics files, TensorBoard events and checkpoints of one run.
 *
 * A finished or crashed run's folder is never written into by a new run: that would mix two runs'
 * metrics in one curve. Only an explicit resume reopens a folder.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { writeFileAtomic } from '../node/fs.ts';

export const CONFIG_FILE = 'config.json';

export interface RunDirOptions {
  algo: string;
  env: string;
  seed: number;
  /** Written to config.json in a new run folder (left as is when resuming). */
  config: unknown;
  /** Parent of auto-named run folders. Default `runs`. */
  root?: string;
  /** Use exactly this folder instead of an auto-named one. */
  out?: string;
  /** Reopen the existing run folder `out` instead of refusing it. */
  resume?: boolean;
  /** Time in the folder name. Default now. */
  date?: Date;
}

export interface RunDir {
  dir: string;
  resumed: boolean;
  /** Contents of config.json in the folder: the given config for a new run, the original one on resume. */
  config: unknown;
}

const pad2 = (n: number) => String(n).padStart(2, '0');

/** `20260315-140501`, in local time (what the user's clock said when the run started). */
export function formatRunTimestamp(date: Date): string {
  return (
    `${date.getFullYear()}${pad2(date.getMonth() + 1)}${pad2(date.getDate())}-` +
    `${pad2(date.getHours())}${pad2(date.getMinutes())}${pad2(date.getSeconds())}`
  );
}

/** Keep a name part to characters that are safe in a folder name on every OS. */
function safePart(text: string): string {
  const safe = text.replace(/[^A-Za-z0-9._-]+/g, '_');
  return safe.length > 0 ? safe : '_';
}

/** `<algo>-<env>-s<seed>-<YYYYmmdd-HHMMSS>`. */
export function runDirName(algo: string, env: string, seed: number, date: Date): string {
  return `${safePart(algo)}-${safePart(env)}-s${seed}-${formatRunTimestamp(date)}`;
}

/** Make the folder; true if made now or it existed empty, false if it exists with contents. */
/**
 * Refuses a run folder path that cannot hold a run, before anything is made: a path through a regular file,
 * or one in a kernel file system (/proc, /sys, /dev), where a recursive mkdir can spin forever.
 */
export function checkRunFolderPath(dir: string): void {
  const full = resolve(dir);
  if (/^\/(proc|sys|dev)(\/|$)/.test(full))
    throw new Error(`--out ${dir}: a run folder cannot live in ${full.split('/')[1] ? `/${full.split('/')[1]}` : full}; choose a folder on a disk`);
  for (let p = full; ; p = dirname(p)) {
    if (existsSync(p)) {
      if (!statSync(p).isDirectory()) throw new Error(`--out ${dir}: ${p} is a file, not a folder; choose another --out`);
      return;
    }
    if (dirname(p) === p) return;
  }
}

function claimFolder(dir: string): boolean {
  checkRunFolderPath(dir);
  mkdirSync(dirname(dir), { recursive: true });
  try {
    mkdirSync(dir); // not recursive: fails if it exists, so two runs cannot both claim it
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return readdirSync(dir).length === 0;
  }
}

export function createRunDir(options: RunDirOptions): RunDir {
  if (!Number.isSafeInteger(options.seed)) throw new Error(`seed must be an integer, got ${options.seed}`);

  if (options.resume) {
    if (options.out === undefined) throw new Error('resuming needs the run folder to continue (--out <run folder>)');
    const dir = options.out;
    if (!existsSync(join(dir, CONFIG_FILE))) {
      throw new Error(`cannot resume ${dir}: it has no ${CONFIG_FILE}, so it is not a dsrl run folder`);
    }
    return { dir, resumed: true, config: readRunConfig(dir) };
  }

  let dir: string;
  if (options.out !== undefined) {
    dir = options.out;
    if (!claimFolder(dir)) {
      throw new Error(`${dir} already holds a run; choose another --out, or pass --resume to continue it`);
    }
  } else {
    const base = join(options.root ?? 'runs', runDirName(options.algo, options.env, options.seed, options.date ?? new Date()));
    // Same algo, env and seed started in the same second: number the later ones.
    dir = base;
    for (let n = 2; !claimFolder(dir); n++) {
      if (n > 1000) throw new Error(`cannot find a free run folder name near ${base}`);
      dir = `${base}-${n}`;
    }
  }
  writeRunConfig(dir, options.config);
  return { dir, resumed: false, config: options.config };
}

export function writeRunConfig(dir: string, config: unknown): void {
  writeFileAtomic(join(dir, CONFIG_FILE), JSON.stringify(config, null, 2) + '\n');
}

export function readRunConfig(dir: string): unknown {
  return JSON.parse(readFileSync(join(dir, CONFIG_FILE), 'utf8'));
}
