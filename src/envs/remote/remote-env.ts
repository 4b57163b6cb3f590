/**
 * A remote env (docs/remote-env.md): one WebSocket connection to a robot-side server whose `step` takes
 * a whole action chunk, as ActionChunk(inner) would, and reports `info.steps`. dsrl's Env is
 * synchronous, so a socket cannot be one; RemoteEnv has the same calls, async, and RemoteVectorEnv (remote-vector-env.ts)
 * puts n of them (n connections) behind the VectorEnv interface makeChunkedVectorEnv returns.
 * This module holds the env's side: episodes, the watchdog, action safety and what a link drop means
 * for an episode; connecting and the request/reply channel are the link layer's (link.ts).
 *
 * Link drops never reach the training loop as exceptions:
 * - reset: reconnect (bounded backoff) and send the same reset again (a reset is safe to repeat).
 * - step: the episode is lost (the robot side may have restarted; dsrl cannot know which actions ran).
 *   The chunk is never re-sent; after reconnecting, step returns the last observation with reward 0,
 *   truncated = true, info.link_lost = true, info.steps = 0, and logs a warning. The vector env's next
 *   step resets that sub-env (NEXT_STEP autoreset).
 * - only when every reconnect attempt fails does the call throw.
 * Malformed, non-finite or unknown replies and adapter errors are not link drops: dsrl sends `stop`
 * and throws one line naming the field.
 *
 * Watchdog: while an episode runs, if no request has been sent for `watchdogMs` after the last reply
 * (the learner stalled), dsrl sends `stop`; a request that gets no reply in `timeoutMs` (link silent)
 * sends `stop` and drops the link. Browser-safe: the socket comes from an injected `open`.
 */
import type { Info, ResetResult, StepResult } from '../env.ts';
import { Box } from '../spaces.ts';
import { dial, LinkLost, RequestChannel, unref, type EnvLink, type LinkOptions } from './link.ts';
import {
  encodeReset,
  encodeStep,
  encodeStop,
  parseExecutedActions,
  RemoteEnvProtocolError,
  type RemoteEnvHello,
  type RemoteServerMessage,
} from './protocol.ts';
import { ActionSafety, type SafetyOptions } from './safety.ts';

export interface RemoteEnvOptions extends LinkOptions {
  /** Learner-stall watchdog (default 1000 ms; 0 turns it off). */
  watchdogMs?: number;
  safety?: SafetyOptions;
  /** The chunk length dsrl sends; must equal the hello's chunk when it declares one. */
  chunk: number;
  /** Warning lines (default console.warn). */
  log?: (line: string) => void;
}

export class RemoteEnv {
  readonly observationSpace: Box;
  /** The chunk space [chunk * actDim], as ActionChunk's. */
  readonly actionSpace: Box;
  readonly chunk: number;
  readonly hello: RemoteEnvHello;
  /** Stops sent by the watchdog or before an error (for tests and info). */
  stopsSent = 0;
  linkDrops = 0;
  private readonly channel: RequestChannel;
  private episodeRunning = false;
  private watchdog: ReturnType<typeof setTimeout> | null = null;
  private lastObs: Float32Array;
  private closed = false;
  private readonly safety: ActionSafety;
  private readonly log: (line: string) => void;

  private constructor(
    readonly url: string,
    private readonly options: RemoteEnvOptions,
    link: EnvLink,
    hello: RemoteEnvHello,
  ) {
    this.hello = hello;
    this.chunk = options.chunk;
    this.log = options.log ?? ((line) => console.warn(line));
    this.observationSpace = hello.observationSpace;
    const single = hello.actionSpace;
    const tile = (v: Float32Array) => Float32Array.from({ length: this.chunk * single.size }, (_, i) => v[i % single.size]);
    this.actionSpace = new Box(tile(single.low), tile(single.high));
    this.safety = new ActionSafety(single, options.safety, hello.workspace);
    this.lastObs = new Float32Array(this.observationSpace.size);
    // A silent link: halt the robot before the channel drops the link.
    this.channel = new RequestChannel(url, this.observationSpace.size, options.timeoutMs ?? 30_000, (why) => this.sendStop(why));
    this.channel.attach(link);
  }

  /** Connects (with the reconnect policy's retries) and checks the hello against `options.chunk`. */
  static async connect(url: string, options: RemoteEnvOptions): Promise<RemoteEnv> {
    const { link, hello } = await dial(url, options, null);
    if (hello.chunk !== null && hello.chunk !== options.chunk) {
      link.close();
      throw new Error(`${url}: the robot side executes chunks of ${hello.chunk} actions, the policy's chunk is ${options.chunk}`);
    }
    return new RemoteEnv(url, options, link, hello);
  }

  /** A request is the learner's sign of life, so it disarms the watchdog when it can go out. */
  private request(kind: 'reset' | 'step', encode: (id: number) => string): Promise<RemoteServerMessage> {
    if (this.channel.connected) this.disarmWatchdog();
    return this.channel.request(kind, encode);
  }

  private async reconnect(why: string): Promise<void> {
    this.linkDrops++;
    this.channel.drop();
    this.log(`${this.url}: link lost (${why}); reconnecting`);
    const { link } = await dial(this.url, this.options, this.hello);
    if (this.closed) {
      link.close();
      throw new Error(`${this.url}: closed while reconnecting`);
    }
    this.channel.attach(link);
    this.log(`${this.url}: reconnected`);
  }

  /** Sends `stop` (best effort: a dead link cannot carry it, and the robot side's own watchdog covers that). */
  sendStop(reason: string): void {
    this.stopsSent++;
    this.channel.sendBestEffort(encodeStop(reason));
  }

  private armWatchdog(): void {
    this.disarmWatchdog();
    const ms = this.options.watchdogMs ?? 1000;
    if (ms <= 0 || !this.episodeRunning) return;
    this.watchdog = setTimeout(() => {
      this.watchdog = null;
      this.sendStop(`watchdog: no request for ${ms} ms`);
      this.log(`${this.url}: watchdog: no request for ${ms} ms while an episode runs; sent stop`);
    }, ms);
    unref(this.watchdog);
  }

  private disarmWatchdog(): void {
    if (this.watchdog) clearTimeout(this.watchdog);
    this.watchdog = null;
  }

  private remoteError(m: RemoteServerMessage, kind: string): never {
    const e = m as Extract<RemoteServerMessage, { type: 'error' }>;
    this.sendStop(`error on ${kind}`);
    throw new Error(`${this.url}: the robot side answered ${kind} with an error (${e.code}): ${e.message}`);
  }

  async reset(options: { seed?: number } = {}): Promise<ResetResult> {
    this.assertOpen();
    // Bounded: a robot side that drops every reset is an error, not a loop.
    for (let attempt = 0; ; attempt++) {
      try {
        const m = await this.request('reset', (id) => encodeReset(id, options.seed));
        if (m.type === 'error') this.remoteError(m, 'reset');
        const r = m as Extract<RemoteServerMessage, { type: 'reset' }>;
        this.episodeRunning = true;
        this.safety.resetEpisode();
        this.lastObs = r.obs;
        this.armWatchdog();
        return { obs: Float32Array.from(r.obs), info: { ...r.info, safety: { ...this.safety.counters } } };
      } catch (err) {
        if (!(err instanceof LinkLost)) throw this.fatal(err as Error);
        if (attempt >= (this.options.reconnect?.retries ?? 20)) throw new Error(`${this.url}: reset failed ${attempt + 1} times: ${err.message}`);
        await this.reconnect(err.message); // then the same reset again: repeating a reset is safe
      }
    }
  }

  async step(chunk: ArrayLike<number>): Promise<StepResult> {
    this.assertOpen();
    if (!this.episodeRunning) throw new Error(`${this.url}: step() after the episode ended; call reset() first`);
    let filtered: ReturnType<ActionSafety['filter']>;
    try {
      filtered = this.safety.filter(chunk, this.chunk);
    } catch (err) {
      throw this.fatal(new Error(`${this.url}: ${(err as Error).message}`));
    }
    if (filtered.changes.length) this.log(`${this.url}: safety: ${filtered.changes.join('; ')}`);
    try {
      const m = await this.request('step', (id) => encodeStep(id, filtered.actions));
      if (m.type === 'error') this.remoteError(m, 'step');
      const r = m as Extract<RemoteServerMessage, { type: 'step' }>;
      if (r.steps > this.chunk)
        throw new RemoteEnvProtocolError(`${this.url}: reply to step: field 'steps' is ${r.steps}, more than the ${this.chunk} actions sent`);
      const ran = parseExecutedActions(r.info, r.steps, this.hello.actionSpace.size, `${this.url}: reply to step`);
      this.lastObs = r.obs;
      this.episodeRunning = !(r.terminated || r.truncated);
      this.armWatchdog();
      return {
        obs: Float32Array.from(r.obs),
        reward: r.reward,
        terminated: r.terminated,
        truncated: r.truncated,
        info: {
          ...r.info,
          steps: r.steps,
          safety: { ...this.safety.counters },
          // What ran: the robot side's rows (an operator's takeover) or the safe rows sent, then the rows that did not run.
          executed_actions: Float32Array.from(filtered.actions.flatMap((sent, i) => (ran.rows && i < r.steps ? ran.rows[i] : sent))),
          intervention: ran.intervention,
          intervention_steps: ran.interventionSteps,
        },
      };
    } catch (err) {
      if (!(err instanceof LinkLost)) throw this.fatal(err as Error);
      // The episode is lost: never re-send the chunk (it may have run, partly or wholly).
      await this.reconnect(err.message);
      this.episodeRunning = false;
      this.log(`${this.url}: the episode was lost with the link; it ends here as truncated (info.link_lost), the chunk was not sent again`);
      const info: Info = { steps: 0, link_lost: true, safety: { ...this.safety.counters } };
      return { obs: Float32Array.from(this.lastObs), reward: 0, terminated: false, truncated: true, info };
    }
  }

  /**
   * Ends the running episode on dsrl's side (an operator's label or a takeover by another connection):
   * halts the robot and disarms the watchdog; the next call must be reset().
   */
  endEpisode(reason: string): void {
    if (!this.episodeRunning) return;
    this.episodeRunning = false;
    this.disarmWatchdog();
    this.sendStop(reason);
  }

  /** An error that ends the run: halt the robot first. */
  private fatal(err: Error): Error {
    this.disarmWatchdog();
    if (this.episodeRunning) this.sendStop(`dsrl error: ${err.message}`);
    return err;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.disarmWatchdog();
    if (this.episodeRunning) this.sendStop('closed');
    this.channel.failPending(new Error(`${this.url}: closed`));
    this.channel.drop();
  }

  private assertOpen(): void {
    if (this.closed) throw new Error(`${this.url}: the remote env is closed`);
    if (this.channel.busy) throw new Error(`${this.url}: a previous reset()/step() has not finished; await each call`);
  }
}
