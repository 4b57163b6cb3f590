/**
 * A one-robot vector env run with an operator (operator.ts, docs/operator.md): every episode waits for
 * the person's "scene reset done", no chunk is sent while paused or e-stopped, and the person's labels
 * give the reward and end the episode. Sits between the chunked remote env and the agent's wrapper
 * (NoiseActionVectorEnv), so the loop and the evaluation see an ordinary VectorEnv. Browser-safe.
 *
 * Reward (the reference's sparse manipulation reward, -1 per step and 0 on the success step): a chunk
 * of `steps` executed actions earns -steps, or -(steps - 1) when the episode succeeds on it. The robot
 * side's own reward is kept in `info.env_reward`, and `info.success` is the operator's verdict, so an
 * evaluation's success rate counts labelled successes.
 *
 * How an episode ends:
 * - success (s): terminated. The robot side's own `terminated` counts as success too (the sparse
 *   convention terminates on success only).
 * - failure (f): truncated, not terminated. With -1 per step, a terminal failure would be worth more
 *   than going on trying (its return stops falling), so the agent would learn to fail fast; truncated,
 *   the transition still bootstraps from where the attempt was given up, as the reference's failures
 *   (time limits) do.
 * - a label that arrives while no chunk runs (the learner is updating, or the run is paused) ends the
 *   episode without sending another chunk: for success, one zero-step row (s, a, 0, s, terminated)
 *   records that the state reached is the goal; for failure, the row is discarded (a truncation only
 *   ends the episode, and the previous row already leads to this state).
 * - another owner's episode (an evaluation between training chunks) interrupts this one: truncated,
 *   discarded, like the failure above.
 *
 * Rows marked `info.discard` are not stored by the training loop: the zero-step rows above, a chunk cut
 * short (an e-stop) without ending the episode, which is no transition of the chunk MDP, and, when the
 * agent cannot learn from real actions (`storesRealActions` false: DSRL-SAC's and residual SAC's action
 * is not the robot's), a chunk the operator took over. DSRL-NA keeps those: NoiseActionVectorEnv stores
 * the executed actions the remote env reports (info.executed_actions), and its Q_A is on real actions.
 *
 * A takeover from the page (Operator.takeoverAction) replaces the agent's chunk: the teleop action,
 * repeated for each step, goes to the inner env's step like any chunk (a remote env's safety limits,
 * watchdog and stop apply to it), and the step reports it as an intervention of all its steps with the
 * executed actions, exactly as a takeover the robot side reports.
 */
import type { Info } from '../env.ts';
import type { Box } from '../spaces.ts';
import type { VectorEnv, VectorResetOptions, VectorResetResult, VectorStepResult } from '../vector.ts';
import type { EpisodeEnd, Operator } from './operator.ts';
import { teleopChunk } from './teleop.ts';

/** The robot behind the env, as the operator needs it (a remote env's connection). */
export interface OperatorRobot {
  /** Halts the robot now. */
  stop(reason: string): void;
  /** Ends the running episode on dsrl's side (halts the robot; the next call is a reset). */
  endEpisode(reason: string): void;
}

export interface OperatorEnvOptions {
  operator: Operator;
  /** 'train' or 'eval': episodes of different owners interrupt each other. */
  owner: string;
  /** Whether this is the training env (its steps and interventions are counted). */
  training: boolean;
  /** Actions per chunk: a chunk that ran fewer without ending the episode was cut short. */
  chunk: number;
  /** Whether the agent learns from the executed real actions (DSRL-NA); otherwise taken-over chunks are discarded. */
  storesRealActions: boolean;
  robot?: OperatorRobot;
}

export class OperatorVectorEnv implements VectorEnv {
  readonly numEnvs = 1;
  readonly autoresetMode = 'next_step' as const;
  readonly singleObservationSpace: Box;
  readonly singleActionSpace: Box;
  readonly observationSpace: Box;
  readonly actionSpace: Box;
  private hasReset = false;
  /** The last step ended the episode: the next step resets (NEXT_STEP autoreset). */
  private needsReset = false;
  private lastObs = new Float32Array(0);
  private window = { steps: 0, interventionSteps: 0 };
  private readonly removeHooks: () => void;
  private readonly actDim: number;

  constructor(
    readonly inner: VectorEnv,
    private readonly options: OperatorEnvOptions,
  ) {
    if (inner.numEnvs !== 1) throw new Error(`operator: one person runs one robot, so the env needs 1 sub-env, got ${inner.numEnvs}`);
    this.singleObservationSpace = inner.singleObservationSpace;
    this.singleActionSpace = inner.singleActionSpace;
    this.observationSpace = inner.observationSpace;
    this.actionSpace = inner.actionSpace;
    const actDim = (this.actDim = inner.singleActionSpace.size / options.chunk);
    if (!Number.isInteger(actDim))
      throw new Error(`operator: the env's action has ${inner.singleActionSpace.size} values, not a chunk of ${options.chunk}`);
    options.operator.setActionSpace(inner.singleActionSpace.low.subarray(0, actDim), inner.singleActionSpace.high.subarray(0, actDim));
    const robot = options.robot;
    if (robot) {
      const removeHalt = options.operator.addHalt((reason) => robot.stop(reason));
      // Ended on the robot side at once: its watchdogs must not stop the robot later, during the other episode.
      const removeInterrupt = options.operator.onInterrupt(options.owner, (reason) => robot.endEpisode(reason));
      this.removeHooks = () => (removeHalt(), removeInterrupt());
    } else this.removeHooks = () => {};
  }

  async reset(options?: VectorResetOptions): Promise<VectorResetResult> {
    await this.options.operator.beginEpisode(this.options.owner);
    const r = await this.inner.reset(options);
    this.hasReset = true;
    this.needsReset = false;
    this.lastObs = r.obs.slice();
    return r;
  }

  async step(actions: ArrayLike<number>): Promise<VectorStepResult> {
    if (!this.hasReset) throw new Error('OperatorVectorEnv: call reset() before step()');
    if (this.needsReset) {
      const r = await this.reset();
      return { obs: r.obs, rewards: Float64Array.of(0), terminated: [false], truncated: [false], infos: r.infos };
    }
    const { operator, owner } = this.options;
    await operator.whenClear(owner);
    const early = operator.takeEnd(owner);
    if (early) return this.endWithoutChunk(early);
    const teleop = operator.takeoverAction();
    const sent = teleop ? teleopChunk(teleop, this.options.chunk) : actions;
    const r = await this.inner.step(sent);
    let info = r.infos[0];
    const steps = typeof info.steps === 'number' ? info.steps : 1;
    if (teleop) {
      // The remote env's executed_actions are the rows it sent after its safety limits (or the robot side's own).
      const ran = info.executed_actions instanceof Float32Array ? info.executed_actions : Float32Array.from(sent);
      info = { ...info, intervention: true, intervention_steps: steps, executed_actions: ran, intervention_source: 'page' };
    }
    const interventionSteps = typeof info.intervention_steps === 'number' ? info.intervention_steps : 0;
    const ran = info.executed_actions;
    if (ran instanceof Float32Array && steps > 0 && ran.length >= steps * this.actDim)
      operator.noteAction(ran.subarray((steps - 1) * this.actDim, steps * this.actDim));
    if (this.options.training) {
      this.window.steps += steps;
      this.window.interventionSteps += interventionSteps;
      operator.noteSteps(steps, interventionSteps);
    }
    this.lastObs = r.obs.slice();
    const end = operator.takeEnd(owner);
    let terminated = r.terminated[0];
    let truncated = r.truncated[0];
    const out: Info = { ...info, env_reward: r.rewards[0] };
    if (end) {
      out.operator_label = end.kind === 'label' ? end.label : 'interrupted';
      terminated = end.kind === 'label' && end.label === 'success';
      truncated = !terminated;
    }
    const ended = terminated || truncated;
    out.success = terminated;
    if (!ended && steps < this.options.chunk) out.discard = 'the chunk was cut short (a stop) and the episode goes on';
    else if (interventionSteps > 0 && !this.options.storesRealActions) out.discard = "an operator's takeover: the agent's action is not what ran";
    if (ended) {
      this.needsReset = true;
      this.options.robot?.endEpisode(`episode ended (${String(out.operator_label ?? (terminated ? 'terminated' : 'truncated'))})`);
      if (!end) operator.episodeEnded(owner, info.link_lost === true ? 'link lost' : terminated ? 'terminated' : 'truncated');
    }
    return {
      obs: r.obs,
      rewards: Float64Array.of(terminated ? -Math.max(steps - 1, 0) : -steps),
      terminated: [terminated],
      truncated: [truncated],
      infos: [out],
    };
  }

  /** An end that came while no chunk ran: no chunk is sent (see the module comment). */
  private endWithoutChunk(end: EpisodeEnd): VectorStepResult {
    const success = end.kind === 'label' && end.label === 'success';
    const label = end.kind === 'label' ? end.label : 'interrupted';
    this.needsReset = true;
    this.options.robot?.endEpisode(`episode ended (${label})`);
    const info: Info = { steps: 0, env_reward: 0, operator_label: label, success };
    if (!success) info.discard = `the episode ended (${label}) with no chunk run`;
    return {
      obs: this.lastObs.slice(),
      rewards: Float64Array.of(0),
      terminated: [success],
      truncated: [!success],
      infos: [info],
    };
  }

  /** The training metrics since the last call: the fraction of env steps an operator drove. */
  metrics(): Record<string, number> {
    const { steps, interventionSteps } = this.window;
    this.window = { steps: 0, interventionSteps: 0 };
    return steps > 0 ? { 'charts/intervention_rate': interventionSteps / steps } : {};
  }

  async close(): Promise<void> {
    this.removeHooks();
    await this.inner.close();
  }
}
