/**
 * Records one evaluation episode for the viewer: the MuJoCo scene and each body's world pose after the reset
 * and after every step of the evaluation env (format: episode-format.ts). For steer runs a step is one action
 * chunk, so frames are chunk steps: Hopper's chunk of 4 at dt 8 ms gives ~31 frames per simulated second,
 * enough to watch, and reading poses from the vector env needs no hook inside ActionChunk. Poses are read
 * from the sub-env in this thread (SyncVectorEnv under any vector wrappers); envs that run in workers or are
 * not MuJoCo cannot be recorded. Node-free: the in-page Hopper training (src/web/hopper-training.ts) records
 * with it too; episode-record.ts writes the files.
 */
import { MujocoEnv } from '../envs/mujoco/mujoco-env.ts';
import { SyncVectorEnv, type VectorEnv } from '../envs/vector.ts';
import { VectorWrapper } from '../envs/vector-wrapper.ts';
import { EPISODE_FORMAT_VERSION, type RecordedEpisode } from './episode-format.ts';
import type { EpisodeObserver } from './evaluate.ts';

/** The MuJoCo env inside each sub-env of a vector env, or null when they are not reachable in this thread. */
export function mujocoSubEnvs(env: VectorEnv): MujocoEnv[] | null {
  let inner: VectorEnv = env;
  while (inner instanceof VectorWrapper) inner = inner.inner;
  if (!(inner instanceof SyncVectorEnv)) return null;
  const envs = inner.subEnvs.map((e) => e.unwrapped);
  return envs.every((e): e is MujocoEnv => e instanceof MujocoEnv) ? envs : null;
}

export interface RecordMeta {
  env: string;
  label: string;
  seed: number;
  trainedSteps: number | null;
}

export class EpisodeRecorder implements EpisodeObserver {
  private readonly frames: Float32Array[] = [];
  private readonly rewards: number[] = [];
  private readonly frameSteps: number[] = [];
  private success: boolean | undefined;
  private successFrame: number | undefined;
  private done = false;

  constructor(
    private readonly envs: MujocoEnv[],
    private readonly meta: RecordMeta,
    readonly episode = 0,
  ) {}

  start(subEnv: number): void {
    this.frames.length = this.rewards.length = this.frameSteps.length = 0;
    this.success = this.successFrame = undefined;
    this.done = false;
    this.frames.push(this.envs[subEnv].bodyPoses());
    this.frameSteps.push(0);
  }

  step(subEnv: number, reward: number, info: Record<string, unknown>, done: boolean): void {
    this.frames.push(this.envs[subEnv].bodyPoses());
    this.rewards.push(reward);
    this.frameSteps.push(typeof info.steps === 'number' && info.steps > 0 ? info.steps : 1);
    if (typeof info.success === 'boolean') {
      this.success = (this.success ?? false) || info.success;
      if (info.success && this.successFrame === undefined) this.successFrame = this.frames.length - 1;
    }
    this.done = done;
  }

  /** The finished episode; throws if the evaluation has not run it to its end. */
  result(): RecordedEpisode {
    if (!this.done) throw new Error(`episode recording: episode ${this.episode} has not ended`);
    const env = this.envs[0];
    const nbody = env.nbody;
    const poses = new Float32Array(this.frames.length * nbody * 7);
    this.frames.forEach((f, i) => poses.set(f, i * nbody * 7));
    return {
      version: EPISODE_FORMAT_VERSION,
      ...this.meta,
      episode: this.episode,
      dt: env.dt,
      nbody,
      geoms: env.geoms(),
      frameSteps: [...this.frameSteps],
      return: this.rewards.reduce((a, b) => a + b, 0),
      length: this.frameSteps.reduce((a, b) => a + b, 0),
      ...(this.success !== undefined ? { success: this.success } : {}),
      ...(this.successFrame !== undefined ? { successFrame: this.successFrame } : {}),
      poses,
      rewards: Float32Array.from(this.rewards),
    };
  }
}
