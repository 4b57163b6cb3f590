/**
 * Records one evaluation episode for the viewer (`dsrl view`) into a file: the recorder (episode-recorder.ts)
 * watches the evaluation, and the file is written atomically, so a viewer never reads half an episode. Node
 * only (the file write).
 */
import { join } from 'node:path';
import type { VectorEnv } from '../envs/vector.ts';
import { writeFileAtomic } from '../node/fs.ts';
import { encodeEpisode } from './episode-format.ts';
import { EpisodeRecorder, mujocoSubEnvs, type RecordMeta } from './episode-recorder.ts';
import { evaluate, type EpisodeStats, type EvalActor } from './evaluate.ts';

/** Where a run keeps its recorded episodes: `agent.safetensors` (newest evaluation) and `base.safetensors`. */
export const EPISODES_DIR = 'episodes';

/**
 * evaluate(), also recording the evaluation's first episode into `file` (atomically). When the env cannot
 * be recorded, `required` makes that an error naming the file; otherwise the evaluation just runs.
 */
export async function evaluateRecording(
  actor: EvalActor,
  env: VectorEnv,
  opts: { episodes: number; seed: number },
  file: string,
  meta: Omit<RecordMeta, 'seed'>,
  required = false,
): Promise<EpisodeStats> {
  const envs = mujocoSubEnvs(env);
  if (!envs) {
    if (required) throw new Error(`${file}: cannot record episodes of ${meta.env}: only MuJoCo envs stepped in this process can be recorded`);
    return evaluate(actor, env, opts);
  }
  const recorder = new EpisodeRecorder(envs, { ...meta, seed: opts.seed });
  const stats = await evaluate(actor, env, { ...opts, observer: recorder });
  writeFileAtomic(file, encodeEpisode(recorder.result()));
  return stats;
}

/** The file a run folder keeps an episode in (`name`: agent, or a reference's metric name such as base). */
export const runEpisodeFile = (dir: string, name: string): string => join(dir, EPISODES_DIR, `${name}.safetensors`);
