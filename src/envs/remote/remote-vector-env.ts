/** The vector env of remote envs (remote-env.ts) that makeChunkedVectorEnv returns for a ws:// env id. Browser-safe. */
import type { StepResult } from '../env.ts';
import { Box } from '../spaces.ts';
import { batchSpace, vectorResetSeeds, type VectorEnv, type VectorResetOptions, type VectorResetResult, type VectorStepResult } from '../vector.ts';
import { RemoteEnv, type RemoteEnvOptions } from './remote-env.ts';

/** n RemoteEnvs (n connections) as a VectorEnv, with the NEXT_STEP autoreset of vector.ts. */
export class RemoteVectorEnv implements VectorEnv {
  readonly numEnvs: number;
  readonly singleObservationSpace: Box;
  readonly singleActionSpace: Box;
  readonly observationSpace: Box;
  readonly actionSpace: Box;
  readonly autoresetMode = 'next_step' as const;
  private readonly autoresetPending: boolean[];
  private seededBefore = false;
  private hasReset = false;

  constructor(readonly envs: RemoteEnv[]) {
    if (envs.length === 0) throw new Error('RemoteVectorEnv needs at least one env');
    this.numEnvs = envs.length;
    this.singleObservationSpace = envs[0].observationSpace;
    this.singleActionSpace = envs[0].actionSpace;
    this.observationSpace = batchSpace(this.singleObservationSpace, this.numEnvs);
    this.actionSpace = batchSpace(this.singleActionSpace, this.numEnvs);
    this.autoresetPending = new Array<boolean>(this.numEnvs).fill(false);
  }

  static async connect(url: string, n: number, options: RemoteEnvOptions): Promise<RemoteVectorEnv> {
    const envs: RemoteEnv[] = [];
    try {
      for (let i = 0; i < n; i++) envs.push(await RemoteEnv.connect(url, options));
    } catch (err) {
      envs.forEach((e) => e.close());
      throw err;
    }
    return new RemoteVectorEnv(envs);
  }

  async reset(options: VectorResetOptions = {}): Promise<VectorResetResult> {
    const seeds = vectorResetSeeds(options.seed, this.numEnvs, this.seededBefore);
    if (seeds.some((s) => s !== undefined)) this.seededBefore = true;
    const results = await Promise.all(this.envs.map((env, i) => env.reset({ seed: seeds[i] })));
    const obsDim = this.singleObservationSpace.size;
    const obs = new Float32Array(this.numEnvs * obsDim);
    results.forEach((r, i) => obs.set(r.obs, i * obsDim));
    this.autoresetPending.fill(false);
    this.hasReset = true;
    return { obs, infos: results.map((r) => r.info) };
  }

  async step(actions: ArrayLike<number>): Promise<VectorStepResult> {
    if (!this.hasReset) throw new Error('RemoteVectorEnv: call reset() before step()');
    const d = this.singleActionSpace.size;
    if (actions.length !== this.numEnvs * d)
      throw new Error(`RemoteVectorEnv: actions have ${actions.length} values, expected ${this.numEnvs} x ${d}`);
    const results = await Promise.all(
      this.envs.map(async (env, i): Promise<StepResult> => {
        if (this.autoresetPending[i]) {
          const r = await env.reset();
          return { obs: r.obs, reward: 0, terminated: false, truncated: false, info: r.info };
        }
        return env.step(Array.prototype.slice.call(actions, i * d, (i + 1) * d) as number[]);
      }),
    );
    const obsDim = this.singleObservationSpace.size;
    const obs = new Float32Array(this.numEnvs * obsDim);
    const rewards = new Float64Array(this.numEnvs);
    results.forEach((r, i) => {
      obs.set(r.obs, i * obsDim);
      rewards[i] = r.reward;
      this.autoresetPending[i] = r.terminated || r.truncated;
    });
    return {
      obs,
      rewards,
      terminated: results.map((r) => r.terminated),
      truncated: results.map((r) => r.truncated),
      infos: results.map((r) => r.info),
    };
  }

  async close(): Promise<void> {
    this.envs.forEach((e) => e.close());
  }
}
