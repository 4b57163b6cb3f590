/**
 * A remote env (docs/remote-env.md): one WebSocket connection to a robot-side server whose `step` takes
 * a whole action chunk, as ActionChunk(inner) would, and reports `info.steps`. dsrl's Env is
 * synchronous, so a socket cannot be one; RemoteEnv has the same calls, async, and RemoteVectorEnv (remote-vector-env.ts)
 * puts n of them (n connections) behind the VectorEnv interface makeChunkedVectorEnv returns.
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
import {
  encodeReset,
  encodeStep,
  encodeStop,
  parseExecutedActions,
  parseServerMessage,
  RemoteEnvProtocolError,
  type RemoteEnvHello,
  type RemoteServerMessage,
} from './protocol.ts';
import { ActionSafety, type SafetyOptions } from './safety.ts';

/** One open connection, as the transport gives it (text messages only). */
export interface EnvLink {
  send(text: string): void;
  /**
   * Set by RemoteEnv; called per message and once when the link closes. A transport holds what arrives
   * before they are set (a hello can arrive in the same tick as the open) and delivers it when they are.
   */
  onMessage: (text: string) => void;
  onClose: (reason: string) => void;
  close(): void;
}

/** Opens a connection (token sent as `Authorization: Bearer`); rejects when it cannot. */
export type LinkOpener = (url: string, token: string | undefined) => Promise<EnvLink>;

export interface ReconnectOptions {
  /** Attempts after a drop before giving up (default 20). */
  retries?: number;
  /** First wait, doubled each attempt (default 100 ms). */
  backoffMs?: number;
  /** Longest wait (default 2000 ms). */
  maxBackoffMs?: number;
}

export interface RemoteEnvOptions {
  open: LinkOpener;
  token?: string;
  /** Hello and per-reply timeout (default 30 s; a chunk runs at the robot's rate, so leave room). */
  timeoutMs?: number;
  reconnect?: ReconnectOptions;
  /** Learner-stall watchdog (default 1000 ms; 0 turns it off). */
  watchdogMs?: number;
  safety?: SafetyOptions;
  /** The chunk length dsrl sends; must equal the hello's chunk when it declares one. */
  chunk: number;
  /** Warning lines (default console.warn). */
  log?: (line: string) => void;
}

class LinkLost extends Error {}

interface Pending {
  id: number;
  kind: 'reset' | 'step';
  resolve: (m: RemoteServerMessage) => void;
  reject: (err: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

function unref(t: ReturnType<typeof setTimeout>): void {
  (t as { unref?: () => void }).unref?.();
}

const sleep = (ms: number) => new Promise<void>((resolve) => unref(setTimeout(resolve, ms)));

export class RemoteEnv {
  readonly observationSpace: Box;
  /** The chunk space [chunk * actDim], as ActionChunk's. */
  readonly actionSpace: Box;
  readonly chunk: number;
  readonly hello: RemoteEnvHello;
  /** Stops sent by the watchdog or before an error (for tests and info). */
  stopsSent = 0;
  linkDrops = 0;
  private link: EnvLink | null;
  private pending: Pending | null = null;
  private nextId = 1;
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
    this.link = null;
    this.attach(link);
  }

  /** Connects (with the reconnect policy's retries) and checks the hello against `options.chunk`. */
  static async connect(url: string, options: RemoteEnvOptions): Promise<RemoteEnv> {
    const { link, hello } = await RemoteEnv.dial(url, options, null);
    if (hello.chunk !== null && hello.chunk !== options.chunk) {
      link.close();
      throw new Error(`${url}: the robot side executes chunks of ${hello.chunk} actions, the policy's chunk is ${options.chunk}`);
    }
    return new RemoteEnv(url, options, link, hello);
  }

  /** Opens a link and waits for its hello, retrying with backoff; `previous` must match a reconnect's hello. */
  private static async dial(
    url: string,
    options: RemoteEnvOptions,
    previous: RemoteEnvHello | null,
  ): Promise<{ link: EnvLink; hello: RemoteEnvHello }> {
    const retries = options.reconnect?.retries ?? 20;
    let wait = options.reconnect?.backoffMs ?? 100;
    const maxWait = options.reconnect?.maxBackoffMs ?? 2000;
    const started = Date.now();
    let cause = '';
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0) {
        await sleep(wait);
        wait = Math.min(maxWait, wait * 2);
      }
      try {
        const link = await options.open(url, options.token);
        const hello = await RemoteEnv.awaitHello(url, link, options.timeoutMs ?? 30_000);
        if (previous && !(hello.observationSpace.equals(previous.observationSpace) && hello.actionSpace.equals(previous.actionSpace))) {
          link.close();
          throw new RemoteEnvProtocolError(`${url}: after reconnecting, the robot side declares other spaces than before; refusing it`);
        }
        return { link, hello };
      } catch (err) {
        if (err instanceof RemoteEnvProtocolError) throw err;
        cause = (err as Error).message;
      }
    }
    throw new Error(`${url}: could not connect after ${retries + 1} attempts over ${((Date.now() - started) / 1000).toFixed(1)} s (last: ${cause})`);
  }

  private static awaitHello(url: string, link: EnvLink, timeoutMs: number): Promise<RemoteEnvHello> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        link.close();
        reject(new Error(`no hello within ${timeoutMs} ms`));
      }, timeoutMs);
      unref(timer);
      link.onMessage = (text) => {
        clearTimeout(timer);
        link.onMessage = () => {};
        try {
          const m = parseServerMessage(text, null, `${url} hello`);
          if (m.type === 'error') throw new RemoteEnvProtocolError(`${url}: the robot side refused the connection (${m.code}): ${m.message}`);
          if (m.type !== 'hello') throw new RemoteEnvProtocolError(`${url}: expected a hello first, got a '${m.type}' message`);
          resolve(m.hello);
        } catch (err) {
          link.close();
          reject(err as Error);
        }
      };
      link.onClose = (reason) => {
        clearTimeout(timer);
        reject(new Error(`closed before the hello (${reason})`));
      };
    });
  }

  private attach(link: EnvLink): void {
    this.link = link;
    link.onMessage = (text) => this.receive(text);
    link.onClose = (reason) => {
      if (this.link !== link) return;
      this.link = null;
      this.failPending(new LinkLost(`link closed (${reason})`));
    };
  }

  private receive(text: string): void {
    const pending = this.pending;
    let message: RemoteServerMessage;
    try {
      message = parseServerMessage(text, this.observationSpace.size, `${this.url}: reply${pending ? ` to ${pending.kind}` : ''}`);
    } catch (err) {
      this.failPending(err as Error);
      return;
    }
    if (!pending) return; // nothing asked: a late reply after a timeout
    if (message.type !== 'error' && (message.type !== pending.kind || message.id !== pending.id)) {
      this.failPending(
        new RemoteEnvProtocolError(
          `${this.url}: expected a '${pending.kind}' reply with id ${pending.id}, got '${message.type}' id ${'id' in message ? String(message.id) : '-'}`,
        ),
      );
      return;
    }
    clearTimeout(pending.timer);
    this.pending = null;
    pending.resolve(message);
  }

  private failPending(err: Error): void {
    const pending = this.pending;
    if (!pending) return;
    clearTimeout(pending.timer);
    this.pending = null;
    pending.reject(err);
  }

  private request(kind: 'reset' | 'step', encode: (id: number) => string): Promise<RemoteServerMessage> {
    const link = this.link;
    if (!link) return Promise.reject(new LinkLost('not connected'));
    const id = this.nextId++;
    const timeoutMs = this.options.timeoutMs ?? 30_000;
    this.disarmWatchdog();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        // The link is silent: halt the robot, then treat the link as lost.
        this.sendStop(`no reply to ${kind} ${id} within ${timeoutMs} ms`);
        this.dropLink();
        this.failPending(new LinkLost(`no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      unref(timer);
      this.pending = { id, kind, resolve, reject, timer };
      try {
        link.send(encode(id));
      } catch (err) {
        this.failPending(new LinkLost((err as Error).message));
      }
    });
  }

  private dropLink(): void {
    const link = this.link;
    this.link = null;
    link?.close();
  }

  private async reconnect(why: string): Promise<void> {
    this.linkDrops++;
    this.dropLink();
    this.log(`${this.url}: link lost (${why}); reconnecting`);
    const { link } = await RemoteEnv.dial(this.url, this.options, this.hello);
    if (this.closed) {
      link.close();
      throw new Error(`${this.url}: closed while reconnecting`);
    }
    this.attach(link);
    this.log(`${this.url}: reconnected`);
  }

  /** Sends `stop` (best effort: a dead link cannot carry it, and the robot side's own watchdog covers that). */
  sendStop(reason: string): void {
    this.stopsSent++;
    try {
      this.link?.send(encodeStop(reason));
    } catch {
      // the link is gone; the adapter stops on its own watchdog
    }
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
    this.failPending(new Error(`${this.url}: closed`));
    this.dropLink();
  }

  private assertOpen(): void {
    if (this.closed) throw new Error(`${this.url}: the remote env is closed`);
    if (this.pending) throw new Error(`${this.url}: a previous reset()/step() has not finished; await each call`);
  }
}
