/**
 * A recorded evaluation episode, as the viewer replays it: the scene (MuJoCo geoms in their bodies'
 * frames) and, per frame, every body's world pose. One safetensors file (`poses` [frames, nbody, 7]:
 * x, y, z, qw, qx, qy, qz; `rewards` [frames - 1]) whose metadata `dsrl_episode` holds the JSON header
 * below, so Python's safetensors reads it too. Frame 0 is the reset; frame f > 0 follows the f-th step of
 * the evaluation env, which for steer runs is one action chunk (`frameSteps[f]` env steps, fewer on the
 * episode's last chunk). Node-free: the browser decodes it with the same code.
 */
import { decodeSafetensors, encodeSafetensors } from '../nn/safetensors.ts';

export const EPISODE_FORMAT_VERSION = 1;

export interface EpisodeGeom {
  body: number;
  type: string;
  size: number[];
  pos: number[];
  quat: number[];
  rgba: number[];
}

export interface EpisodeHeader {
  version: number;
  /** Env id, e.g. Hopper-v5. */
  env: string;
  /** What acted, e.g. "base policy" or "DSRL-NA". */
  label: string;
  /** Evaluation seed and episode index (evaluate.ts): the episode started from reset seed seed * 100003 + episode. */
  seed: number;
  episode: number;
  /** Env steps the agent had trained for when evaluated (0 for a reference such as the base policy; null: not from a run). */
  trainedSteps: number | null;
  /** Seconds of simulated time per env step. */
  dt: number;
  nbody: number;
  geoms: EpisodeGeom[];
  /** Env steps between frame f - 1 and f (0 for frame 0). */
  frameSteps: number[];
  return: number;
  length: number;
  /** For envs that report `info.success`: whether the episode succeeded, and the first frame that did. */
  success?: boolean;
  successFrame?: number;
}

export interface RecordedEpisode extends EpisodeHeader {
  /** [frames * nbody * 7]. */
  poses: Float32Array;
  /** [frames - 1]: reward of each step (summed over a chunk). */
  rewards: Float32Array;
}

export function frameCount(ep: Pick<RecordedEpisode, 'poses' | 'nbody'>): number {
  return ep.poses.length / (ep.nbody * 7);
}

export function encodeEpisode(ep: RecordedEpisode): Uint8Array {
  const { poses, rewards, ...header } = ep;
  const frames = frameCount(ep);
  return encodeSafetensors(
    { poses: { shape: [frames, ep.nbody, 7], data: poses }, rewards: { shape: [rewards.length], data: rewards } },
    { dsrl_episode: JSON.stringify(header) },
  );
}

/** Parses and checks a recorded episode; `source` names it in errors. */
export function decodeEpisode(bytes: Uint8Array, source = 'episode'): RecordedEpisode {
  const { tensors, metadata } = decodeSafetensors(bytes, source);
  const fail = (why: string): never => {
    throw new Error(`${source}: not a dsrl episode recording: ${why}`);
  };
  if (typeof metadata.dsrl_episode !== 'string') fail('no dsrl_episode metadata');
  let header: EpisodeHeader;
  try {
    header = JSON.parse(metadata.dsrl_episode) as EpisodeHeader;
  } catch {
    return fail('dsrl_episode metadata is not JSON');
  }
  if (typeof header !== 'object' || header === null) fail('dsrl_episode metadata is not an object');
  if (header.version !== EPISODE_FORMAT_VERSION) fail(`format version ${String(header.version)}, this reader knows ${EPISODE_FORMAT_VERSION}`);
  const { poses, rewards } = tensors;
  if (!poses || !rewards) fail('needs tensors "poses" and "rewards"');
  const [frames, nbody, seven] = poses.shape;
  if (poses.shape.length !== 3 || seven !== 7 || nbody !== header.nbody || frames < 1) fail(`poses has shape [${poses.shape}]`);
  if (rewards.shape.length !== 1 || rewards.shape[0] !== frames - 1) fail(`rewards has shape [${rewards.shape}], expected [${frames - 1}]`);
  if (!Array.isArray(header.frameSteps) || header.frameSteps.length !== frames) fail(`frameSteps does not have ${frames} entries`);
  if (!Array.isArray(header.geoms) || !(header.dt > 0)) fail('needs geoms and a positive dt');
  return { ...header, poses: poses.data, rewards: rewards.data };
}
