import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NoiseActionVectorEnv } from '../src/algos/dsrl/noise-action-env.ts';
import type { MujocoEnv } from '../src/envs/mujoco/mujoco-env.ts';
import { makeChunkedVectorEnv, makeEnv } from '../src/envs/registry.ts';
import { SyncVectorEnv } from '../src/envs/vector.ts';
import { ActionChunk, TimeLimit } from '../src/envs/wrappers.ts';
import { Reach1D } from '../src/envs/toy/reach.ts';
import { encodeSafetensors } from '../src/nn/safetensors.ts';
import { loadDiffusionPolicy } from '../src/policies/diffusion/checkpoint-io.ts';
import { runEval } from '../src/cli/eval.ts';
import { decodeEpisode, encodeEpisode, frameCount } from '../src/run/episode-format.ts';
import { EPISODES_DIR, evaluateRecording } from '../src/run/episode-record.ts';
import { EpisodeRecorder, mujocoSubEnvs } from '../src/run/episode-recorder.ts';
import { episodeResetSeed, evaluate, gaussianNoiseActor } from '../src/run/evaluate.ts';
import { steer } from '../src/run/steer.ts';

const tmp = mkdtempSync(join(tmpdir(), 'dsrl-episodes-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const policy = loadDiffusionPolicy('models/hopper');
const chunkDim = policy.chunk * policy.actDim;

describe('episode recording', () => {
  it('records every chunk step of episode 0 without changing the evaluation, whatever the number of sub-envs', async () => {
    const opts = { episodes: 3, seed: 7 };
    const recorded: ReturnType<EpisodeRecorder['result']>[] = [];
    for (const n of [1, 3]) {
      const inner = await makeChunkedVectorEnv('Hopper-v5', n, policy.chunk);
      const env = new NoiseActionVectorEnv(inner, policy, 1);
      try {
        const plain = await evaluate(gaussianNoiseActor(chunkDim), env, opts);
        const recorder = new EpisodeRecorder(mujocoSubEnvs(env)!, { env: 'Hopper-v5', label: 'base policy', seed: 7, trainedSteps: null });
        const watched = await evaluate(gaussianNoiseActor(chunkDim), env, { ...opts, observer: recorder });
        expect(watched).toEqual(plain);
        const ep = recorder.result();
        expect(ep.return).toBe(plain.returns[0]);
        expect(ep.length).toBe(plain.lengths[0]);
        // One frame per chunk step plus the reset; a chunk runs `chunk` env steps except possibly the last.
        expect(frameCount(ep)).toBe(1 + Math.ceil(plain.lengths[0] / policy.chunk));
        expect(ep.frameSteps.slice(1, -1).every((s) => s === policy.chunk)).toBe(true);
        recorded.push(ep);
      } finally {
        await inner.close();
      }
    }
    const ep = recorded[0];
    // The same episode with 1 or 3 sub-envs: the same start, and the same motion up to the BLAS rounding that the
    // policy's batch size changes (last bits, which Hopper's contacts amplify only slowly).
    const head = ep.nbody * 7 * 10;
    expect(recorded[1].poses.subarray(0, ep.nbody * 7)).toEqual(ep.poses.subarray(0, ep.nbody * 7));
    recorded[1].poses.subarray(0, head).forEach((v, i) => expect(v).toBeCloseTo(ep.poses[i], 3));
    // Frame 0 is the pose of the episode's own reset.
    const fresh = (await makeEnv('Hopper-v5')).unwrapped as MujocoEnv;
    fresh.reset({ seed: episodeResetSeed(7, 0) });
    expect(ep.poses.subarray(0, ep.nbody * 7)).toEqual(fresh.bodyPoses());
    expect(ep.geoms).toEqual(fresh.geoms());
    fresh.close();
    // The torso (body 1) moves and its quaternion stays a unit quaternion.
    const torso = (f: number) => Array.from(ep.poses.subarray((f * ep.nbody + 1) * 7, (f * ep.nbody + 2) * 7));
    const last = frameCount(ep) - 1;
    expect(Math.abs(torso(last)[0] - torso(0)[0])).toBeGreaterThan(0.1);
    expect(Math.hypot(...torso(last).slice(3))).toBeCloseTo(1, 5);
    expect(ep.geoms.map((g) => g.type)).toEqual(['plane', 'capsule', 'capsule', 'capsule', 'capsule']);

    const back = decodeEpisode(encodeEpisode(ep), 'x');
    expect(back).toEqual(ep);
  });

  it('rejects files that are not recordings, naming them', () => {
    const tensors = { poses: { shape: [2, 1, 7], data: new Float32Array(14) }, rewards: { shape: [1], data: new Float32Array(1) } };
    expect(() => decodeEpisode(encodeSafetensors(tensors), 'a.safetensors')).toThrow(/^a.safetensors: not a dsrl episode recording: no dsrl_episode/);
    const header = { version: 1, nbody: 2, frameSteps: [0, 4], geoms: [], dt: 0.008 };
    expect(() => decodeEpisode(encodeSafetensors(tensors, { dsrl_episode: JSON.stringify(header) }), 'b')).toThrow(/b: .*poses has shape \[2,1,7\]/);
    expect(() => decodeEpisode(encodeSafetensors(tensors, { dsrl_episode: JSON.stringify({ ...header, nbody: 1, version: 9 }) }), 'c')).toThrow(
      /format version 9/,
    );
    expect(() => decodeEpisode(new Uint8Array(3), 'd')).toThrow(/^d: not a valid safetensors file/);
  });

  it('dsrl eval --record-episodes writes the first episode; an env that cannot be recorded is an error only when asked for', async () => {
    const file = join(tmp, 'eval.safetensors');
    const res = await runEval({ policy: 'models/hopper', episodes: 2, seed: 3, recordEpisodes: file }, { log: () => {} });
    const ep = decodeEpisode(readFileSync(file), file);
    expect([ep.env, ep.label, ep.seed, ep.episode, ep.trainedSteps]).toEqual(['Hopper-v5', 'base policy', 3, 0, null]);
    expect(ep.return).toBeCloseTo(res.returns[0], 6);

    const toy = new SyncVectorEnv([new ActionChunk(new TimeLimit(new Reach1D(), 5), 1)]);
    const actor = { act: (_o: Float32Array, rows: number) => new Float32Array(rows) };
    const toyFile = join(tmp, 'toy.safetensors');
    await expect(
      evaluateRecording(actor, toy, { episodes: 1, seed: 0 }, toyFile, { env: 'Reach1D', label: 'x', trainedSteps: null }, true),
    ).rejects.toThrow(/toy.safetensors: cannot record episodes of Reach1D/);
    const stats = await evaluateRecording(actor, toy, { episodes: 1, seed: 0 }, toyFile, { env: 'Reach1D', label: 'x', trainedSteps: null });
    expect(stats.lengths).toEqual([5]);
    expect(existsSync(toyFile)).toBe(false);
    await toy.close();
  });

  it("a steer run keeps its newest evaluation's first episode and the base policy's", async () => {
    const run = await steer(
      {
        env: 'Hopper-v5',
        algo: 'na',
        steps: 96,
        learningStarts: 48,
        numEnvs: 2,
        batchSize: 16,
        utd: 1,
        distillSteps: 1,
        actorHidden: [16],
        criticHidden: [16],
        evalEvery: 48,
        evalEpisodes: 1,
        quiet: true,
        out: join(tmp, 'run'),
      },
      policy,
    );
    const read = (name: string) => decodeEpisode(readFileSync(join(run.dir, EPISODES_DIR, `${name}.safetensors`)), name);
    const agent = read('agent');
    const last = run.evals.at(-1)!;
    expect([agent.label, agent.trainedSteps, agent.return, agent.length]).toEqual(['DSRL-NA', last.step, last.returns[0], last.lengths[0]]);
    const base = read('base');
    expect([base.label, base.trainedSteps, base.return, base.seed]).toEqual(['base policy', 0, run.base.returns[0], 10_000]);
  });
});
