/**
 * `dsrl pack`: a finished run's agent as a small folder to ship or share (models/<task>-dsrl/): its config,
 * its saved agents (best/, last/), its summary, metrics and curve, and its recorded evaluation episodes (for
 * `dsrl view`). Left out: the training state (replay buffer, optimizers: gigabytes, only for --resume) and the
 * TensorBoard events (metrics.csv holds the same numbers).
 *
 * The config's base policy (and offline dataset, if any) becomes a path relative to the packed folder, so the
 * folder and the policy can move together (`dsrl eval --run` resolves a relative policy against the run folder).
 * Written atomically: a temporary folder next to `out`, renamed into place; an existing `out` is never overwritten.
 */
import { cpSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { readConfigFile } from './run-config.ts';
import { isWebSocketUrl } from '../core/url.ts';

/** What a packed folder holds, besides config.json (rewritten); the agents' folders are required, the rest copied when present. */
const AGENT_DIRS = ['best', 'last'] as const;
const FILES = ['summary.json', 'metrics.csv', 'curve.svg'] as const;
const EPISODES_DIR = 'episodes';

export interface PackResult {
  out: string;
  /** Paths relative to `out`. */
  files: string[];
  bytes: number;
}

/** A path in a run's config (its `policy`, its `offline` dataset), resolved against the run folder; ws:// policy servers as they are. */
export function resolveRunPath(run: string, path: string): string {
  return isWebSocketUrl(path) || isAbsolute(path) ? path : resolve(run, path);
}

export function packRun(run: string, out: string): PackResult {
  const config = readConfigFile(run);
  if (!existsSync(join(run, 'best'))) throw new Error(`${run}: no best/ agent yet (a run saves its agent at each evaluation); nothing to pack`);
  if (existsSync(out)) throw new Error(`${out} already exists; pack into a new folder (remove it first to replace it)`);
  const target = resolve(out);
  mkdirSync(dirname(target), { recursive: true });
  const tmp = join(dirname(target), `.${basename(target)}.${process.pid}.tmp`);
  rmSync(tmp, { recursive: true, force: true });
  try {
    mkdirSync(tmp);
    const packed: Record<string, unknown> = { ...config };
    delete packed.out; // the run folder it was trained in; the packed folder is wherever it is read from
    // The base policy and the offline dataset (training provenance) as paths relative to the packed folder.
    for (const key of ['policy', 'offline'] as const) {
      const value = config[key];
      if (typeof value !== 'string') continue;
      const path = resolveRunPath(run, value);
      packed[key] = isWebSocketUrl(path) ? path : relative(target, path) || '.';
    }
    writeFileSync(join(tmp, 'config.json'), `${JSON.stringify(packed, null, 2)}\n`);
    for (const dir of AGENT_DIRS) if (existsSync(join(run, dir))) cpSync(join(run, dir), join(tmp, dir), { recursive: true });
    for (const file of FILES) if (existsSync(join(run, file))) cpSync(join(run, file), join(tmp, file));
    if (existsSync(join(run, EPISODES_DIR))) cpSync(join(run, EPISODES_DIR), join(tmp, EPISODES_DIR), { recursive: true });
    renameSync(tmp, target);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  const files = listFiles(target);
  return { out: target, files, bytes: files.reduce((s, f) => s + statSync(join(target, f)).size, 0) };
}

function listFiles(root: string, sub = ''): string[] {
  return readdirSync(join(root, sub), { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? listFiles(root, join(sub, e.name)) : [join(sub, e.name)]))
    .sort();
}
