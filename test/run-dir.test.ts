import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkRunFolderPath, createRunDir, formatRunTimestamp, readRunConfig, runDirName } from '../src/run/run-dir.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'dsrl-rundir-'));
  dirs.push(d);
  return d;
}

// Local time, as the folder name uses.
const date = new Date(2026, 2, 5, 14, 7, 9);
const config = { algo: 'dsrl-na', env: 'hopper-medium-v2', seed: 3, lr: 3e-4 };

describe('run folder', () => {
  it('names folders <algo>-<env>-s<seed>-<YYYYmmdd-HHMMSS>', () => {
    expect(formatRunTimestamp(date)).toBe('20260305-140709');
    expect(runDirName('dsrl-na', 'hopper-medium-v2', 3, date)).toBe('dsrl-na-hopper-medium-v2-s3-20260305-140709');
    expect(runDirName('sac', 'robomimic/lift ph', 0, date)).toBe('sac-robomimic_lift_ph-s0-20260305-140709');
  });

  it('creates an auto-named folder with config.json, numbering a same-second twin', () => {
    const root = tempDir();
    const a = createRunDir({ algo: 'dsrl-na', env: 'hopper-medium-v2', seed: 3, config, root, date });
    expect(a).toEqual({ dir: join(root, 'dsrl-na-hopper-medium-v2-s3-20260305-140709'), resumed: false, config });
    expect(JSON.parse(readFileSync(join(a.dir, 'config.json'), 'utf8'))).toEqual(config);
    expect(readdirSync(a.dir)).toEqual(['config.json']); // no temp file left behind
    const b = createRunDir({ algo: 'dsrl-na', env: 'hopper-medium-v2', seed: 3, config, root, date });
    expect(b.dir).toBe(`${a.dir}-2`);
  });

  it('uses --out, creating parents, but refuses a folder that already holds a run', () => {
    const out = join(tempDir(), 'nested', 'my-run');
    createRunDir({ algo: 'a', env: 'e', seed: 1, config, out });
    expect(readRunConfig(out)).toEqual(config);
    expect(() => createRunDir({ algo: 'a', env: 'e', seed: 1, config: { other: true }, out })).toThrow(/already holds a run/);
    expect(readRunConfig(out)).toEqual(config);

    const stray = join(tempDir(), 'has-files');
    mkdirSync(stray);
    writeFileSync(join(stray, 'notes.txt'), 'mine');
    expect(() => createRunDir({ algo: 'a', env: 'e', seed: 1, config, out: stray })).toThrow(/already holds a run/);
    expect(existsSync(join(stray, 'config.json'))).toBe(false);

    const empty = join(tempDir(), 'empty');
    mkdirSync(empty);
    expect(createRunDir({ algo: 'a', env: 'e', seed: 1, config, out: empty }).dir).toBe(empty);
  });

  it('resumes an existing run folder and keeps its original config', () => {
    const out = join(tempDir(), 'run');
    createRunDir({ algo: 'a', env: 'e', seed: 1, config, out });
    const resumed = createRunDir({ algo: 'a', env: 'e', seed: 1, config: { changed: true }, out, resume: true });
    expect(resumed).toEqual({ dir: out, resumed: true, config });
    expect(readRunConfig(out)).toEqual(config);
    expect(() => createRunDir({ algo: 'a', env: 'e', seed: 1, config, resume: true })).toThrow(/--out/);
    expect(() => createRunDir({ algo: 'a', env: 'e', seed: 1, config, out: join(tempDir(), 'nope'), resume: true })).toThrow(/not a dsrl run folder/);
  });

  it('rejects a non-integer seed', () => {
    expect(() => createRunDir({ algo: 'a', env: 'e', seed: 1.5, config, root: tempDir() })).toThrow(/seed/);
  });

  it('refuses a folder path through a file or in a kernel file system at once, making nothing', () => {
    const root = tempDir();
    const file = join(root, 'file.txt');
    writeFileSync(file, 'x');
    expect(() => createRunDir({ algo: 'a', env: 'e', seed: 1, config, out: join(file, 'run') })).toThrow(
      /file\.txt is a file, not a folder; choose another --out/,
    );
    const t0 = performance.now();
    expect(() => checkRunFolderPath('/proc/x/y')).toThrow(/a run folder cannot live in \/proc/);
    expect(performance.now() - t0).toBeLessThan(1000);
  });
});
