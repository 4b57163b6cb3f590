/**
 * Seeded, bounded fuzzing of the run layer's loaders: run configs (as options and as a run folder's
 * config.json) and checkpoint folders (manifest.json and state files). Each damaged input must load or
 * give one clear line naming it (see fuzz.ts).
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../../src/core/rng.ts';
import { Reach1D } from '../../src/envs/toy/reach.ts';
import { SyncVectorEnv } from '../../src/envs/vector.ts';
import { TimeLimit } from '../../src/envs/wrappers.ts';
import { latestCheckpoint, MANIFEST_FILE, TRAIN_STATE_DIR } from '../../src/run/checkpoint.ts';
import { readCheckpoint } from '../../src/run/checkpoint-restore.ts';
import { parseSteerConfig } from '../../src/run/steer.ts';
import { parseSacConfig, readSacConfig, trainSac } from '../../src/run/train-sac.ts';
import { fuzz, mutateBytes, mutateJson } from './fuzz.ts';

const dir = mkdtempSync(join(tmpdir(), 'dsrl-fuzz-run-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('fuzz: run configs', () => {
  it('steer and sac options: 600 damaged configs parse or give one line naming the config', async () => {
    const rng = Rng.fromSeed('fuzz-run-config');
    const steer = {
      env: 'Hopper-v5',
      algo: 'na',
      steps: 100_000,
      seed: 1,
      actorHidden: [128, 128],
      criticHidden: [128, 128],
      evalEvery: 5000,
      offline: 'd.h5',
    };
    const sac = { env: 'Hopper-v5', steps: 100_000, seed: 1, actorHidden: [256, 256], criticHidden: [256, 256], utd: 1, batchSize: 256 };
    const r = await fuzz(
      600,
      (i) => (i % 2 === 0 ? 'steer config' : 'sac config'),
      (i) => (i % 2 === 0 ? parseSteerConfig(mutateJson(steer, rng), 'steer config') : parseSacConfig(mutateJson(sac, rng), 'sac config')),
    );
    expect(r.refused).toBeGreaterThan(300);
  });

  it("a run folder's config.json: 200 damaged files read or give one line naming the file", async () => {
    const rng = Rng.fromSeed('fuzz-config-json');
    const base = new TextEncoder().encode(JSON.stringify({ env: 'Reach1D', steps: 600, seed: 5, updatesPerStep: 1, hidden: [32], batchSize: 64 }));
    const run = join(dir, 'config-run');
    mkdirSync(run, { recursive: true });
    const r = await fuzz(
      200,
      () => join(run, 'config.json'),
      () => {
        writeFileSync(join(run, 'config.json'), mutateBytes(base, rng));
        return parseSacConfig(readSacConfig(run), join(run, 'config.json'));
      },
    );
    expect(r.refused).toBeGreaterThan(100);
  });
});

describe('fuzz: checkpoints', () => {
  it('300 damaged checkpoint folders (manifest fields, state-file bytes) read or give one line naming the folder', async () => {
    const run = join(dir, 'sac-run');
    const makeReach = async (n: number) => new SyncVectorEnv(Array.from({ length: n }, () => new TimeLimit(new Reach1D(), 20)));
    await trainSac(
      {
        env: 'Reach1D',
        steps: 60,
        seed: 1,
        learningStarts: 20,
        batchSize: 16,
        actorHidden: [8],
        criticHidden: [8],
        evalEvery: 0,
        evalEpisodes: 2,
        checkpointEvery: 60,
        out: run,
        quiet: true,
      },
      makeReach,
    );
    const source = latestCheckpoint(join(run, TRAIN_STATE_DIR))!;
    const manifest = JSON.parse(readFileSync(join(source, MANIFEST_FILE), 'utf8'));
    const files = ['agent.safetensors', 'replay.safetensors', 'env.safetensors', 'loop.safetensors', 'run.safetensors'];
    const rng = Rng.fromSeed('fuzz-checkpoint');
    const target = join(dir, 'step-000000000060');
    const r = await fuzz(
      300,
      () => target,
      (i) => {
        rmSync(target, { recursive: true, force: true });
        cpSync(source, target, { recursive: true });
        if (i % 3 === 0) {
          const file = files[rng.int(files.length)];
          writeFileSync(join(target, file), mutateBytes(readFileSync(join(target, file)), rng));
        } else {
          writeFileSync(join(target, MANIFEST_FILE), JSON.stringify(mutateJson(manifest, rng)));
        }
        return readCheckpoint(target, { kind: 'sac', obsDim: 2, actDim: 1, numEnvs: 1 });
      },
    );
    expect(r.refused).toBeGreaterThan(200);
  });
});
