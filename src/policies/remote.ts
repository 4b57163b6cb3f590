/**
 * A remote policy over WebSocket (Node only; protocol in remote-protocol.ts and docs/remote-protocol.md):
 * connectRemotePolicy(url, {timeoutMs, retries, expect}) is a NoisePolicy backed by a policy server
 * (remote-server.ts, `dsrl serve`). A dropped connection is re-opened with exponential backoff and the request
 * re-sent (act is pure, so a repeat is harmless); a request that gets no answer in time fails, and so do server
 * errors and replies whose shapes are wrong.
 */
import { WebSocket } from 'ws';
import { checkBounds, checkPolicyMatches, type PolicyExpectation } from './expect.ts';
import type { NoisePolicy } from './policy.ts';
import { checkPolicyInputs } from './policy.ts';
import { decodeServerMessage, encodeActRequest, type PolicyInfo } from './remote-protocol.ts';
import { toBytes, errorText } from './remote-ws.ts';
import { isWebSocketUrl } from '../core/url.ts';

export interface ConnectRemotePolicyOptions {
  /** Limit for connecting (up to the hello) and for each request's answer (default 10 000 ms). */
  timeoutMs?: number;
  /** Extra attempts after a failed connect or a dropped connection (default 3). */
  retries?: number;
  /** First wait before a retry; doubles each time, capped at 5 s (default 200 ms). */
  backoffMs?: number;
  /** What the env needs: the server's dims are checked against it at connect. */
  expect?: PolicyExpectation;
  /** Sent as `Authorization: Bearer <token>` (servers on a non-loopback address require one). */
  token?: string;
}

/** The connection dropped before an answer came: worth reconnecting and sending again. */
class ConnectionLost extends Error {}

interface Pending {
  batch: number;
  resolve: (actions: Float32Array) => void;
  reject: (err: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

/** One open WebSocket to the server, after its hello. */
class Connection {
  private readonly pending = new Map<number, Pending>();
  private lost: Error | null = null;

  private constructor(
    private readonly url: string,
    private readonly socket: WebSocket,
    readonly hello: PolicyInfo,
  ) {
    socket.on('message', (data) => this.onMessage(toBytes(data)));
    socket.on('close', (code, reason) =>
      this.drop(new ConnectionLost(`connection closed (code ${code}${reason.length ? `, ${reason.toString()}` : ''})`)),
    );
    socket.on('error', (err) => this.drop(new ConnectionLost(`connection error (${errorText(err)})`)));
  }

  /** Open a socket and wait for the hello, within timeoutMs. */
  static open(url: string, timeoutMs: number, token?: string): Promise<Connection> {
    return new Promise((resolve, reject) => {
      let socket: WebSocket;
      try {
        socket = new WebSocket(url, {
          handshakeTimeout: timeoutMs,
          maxPayload: 256 * 1024 * 1024,
          ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}),
        });
      } catch (err) {
        reject(new Error(`invalid URL (${errorText(err)})`));
        return;
      }
      let settled = false;
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.removeAllListeners();
        socket.on('error', () => {}); // late errors from the abandoned socket
        socket.terminate();
        reject(err);
      };
      const timer = setTimeout(() => fail(new ConnectionLost(`no hello from the server within ${timeoutMs} ms`)), timeoutMs);
      socket.once('error', (err) => {
        // A refused upgrade (401 wrong token, 503 too many connections) is not worth retrying blindly.
        const status = /Unexpected server response: (\d+)/.exec(err.message)?.[1];
        if (status === '401') fail(new Error("the server refused the token (HTTP 401); pass the server's token (DSRL_TOKEN)"));
        else fail(new ConnectionLost(status === '503' ? 'the server is at its connection limit (HTTP 503)' : errorText(err)));
      });
      socket.once('close', (code) => fail(new ConnectionLost(`connection closed before the hello (code ${code})`)));
      socket.once('message', (data) => {
        if (settled) return;
        let msg;
        try {
          msg = decodeServerMessage(toBytes(data));
        } catch (err) {
          fail(new Error(`the server's first message is not a valid hello: ${errorText(err)}`));
          return;
        }
        if (msg.type !== 'hello') {
          fail(new Error(`the server's first message is ${msg.type === 'error' ? `an error: ${msg.message}` : `"${msg.type}"`}, expected a hello`));
          return;
        }
        settled = true;
        clearTimeout(timer);
        socket.removeAllListeners();
        resolve(new Connection(url, socket, msg.hello));
      });
    });
  }

  get open(): boolean {
    return this.lost === null && this.socket.readyState === WebSocket.OPEN;
  }

  request(id: number, frame: Uint8Array, batch: number, timeoutMs: number): Promise<Float32Array> {
    if (!this.open) return Promise.reject(this.lost ?? new ConnectionLost('connection is not open'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`no answer to request ${id} (batch ${batch}) within ${timeoutMs} ms`));
        // A server that stops answering may never answer: start afresh on the next call.
        this.drop(new ConnectionLost(`connection dropped after request ${id} timed out`));
      }, timeoutMs);
      this.pending.set(id, { batch, resolve, reject, timer });
      this.socket.send(frame, { binary: true }, (err) => {
        if (err) this.drop(new ConnectionLost(`send failed (${errorText(err)})`));
      });
    });
  }

  private settle(id: number, outcome: { actions: Float32Array } | { error: Error }): void {
    const p = this.pending.get(id);
    if (!p) return; // an answer to a request that already timed out
    this.pending.delete(id);
    clearTimeout(p.timer);
    if ('actions' in outcome) p.resolve(outcome.actions);
    else p.reject(outcome.error);
  }

  private onMessage(bytes: Uint8Array): void {
    let msg;
    try {
      msg = decodeServerMessage(bytes);
    } catch (err) {
      this.failAll(new Error(`the server sent a malformed message: ${errorText(err)}`));
      return;
    }
    const { chunk, actDim } = this.hello;
    if (msg.type === 'actions') {
      const p = this.pending.get(msg.id);
      if (!p) return;
      const want = [p.batch, chunk, actDim];
      const got = msg.actions.shape;
      if (got.length !== 3 || got.some((d, i) => d !== want[i])) {
        this.settle(msg.id, {
          error: new Error(`the server answered request ${msg.id} with actions of shape [${got.join(', ')}], expected [${want.join(', ')}]`),
        });
      } else {
        this.settle(msg.id, { actions: msg.actions.data });
      }
    } else if (msg.type === 'error') {
      const error = new Error(`the server refused request ${msg.id ?? '(unknown id)'}: ${msg.message} (${msg.code})`);
      if (msg.id !== null && this.pending.has(msg.id)) this.settle(msg.id, { error });
      else this.failAll(error);
    } else {
      this.failAll(new Error('the server sent a second hello'));
    }
  }

  private failAll(err: Error): void {
    for (const id of [...this.pending.keys()]) this.settle(id, { error: err });
  }

  /** Mark the connection dead and fail what is in flight (ConnectionLost: callers may resend). */
  drop(err: Error): void {
    if (!this.lost) this.lost = err;
    this.failAll(err);
    if (this.socket.readyState === WebSocket.OPEN || this.socket.readyState === WebSocket.CONNECTING) this.socket.terminate();
  }

  close(): void {
    this.drop(new Error('policy closed'));
  }
}

const MAX_BACKOFF_MS = 5000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class RemotePolicy implements NoisePolicy {
  readonly obsDim: number;
  readonly actDim: number;
  readonly chunk: number;
  readonly actionLow: Float32Array;
  readonly actionHigh: Float32Array;
  /** The server's hello (dims, bounds, batch limit, description). */
  readonly hello: PolicyInfo;
  private connection: Connection | null;
  private connecting: Promise<Connection> | null = null;
  private nextId = 1;
  private closed = false;
  private inFlight = 0;
  private readonly waiting: (() => void)[] = [];

  private constructor(
    readonly url: string,
    first: Connection,
    private readonly options: { timeoutMs: number; retries: number; backoffMs: number; token?: string },
  ) {
    this.connection = first;
    this.hello = first.hello;
    this.obsDim = first.hello.obsDim;
    this.actDim = first.hello.actDim;
    this.chunk = first.hello.chunk;
    this.actionLow = Float32Array.from(first.hello.actionLow);
    this.actionHigh = Float32Array.from(first.hello.actionHigh);
  }

  static async connect(url: string, options: ConnectRemotePolicyOptions = {}): Promise<RemotePolicy> {
    if (!isWebSocketUrl(url)) throw new Error(`remote policy ${url}: the URL must start with ws:// or wss://`);
    const opts = { timeoutMs: options.timeoutMs ?? 10_000, retries: options.retries ?? 3, backoffMs: options.backoffMs ?? 200, token: options.token };
    const first = await withRetries(url, opts, () => Connection.open(url, opts.timeoutMs, opts.token), 'cannot connect');
    try {
      const h = first.hello;
      checkBounds(h.actionLow, h.actionHigh, h.actDim, `remote policy ${url} (hello)`);
      const envId = typeof h.info?.envId === 'string' ? h.info.envId : null; // `dsrl serve --env` announces it
      checkPolicyMatches({ ...h, envId }, options.expect, `remote policy ${url}`);
    } catch (err) {
      first.close();
      throw err;
    }
    return new RemotePolicy(url, first, opts);
  }

  private async connected(): Promise<Connection> {
    if (this.connection?.open) return this.connection;
    this.connecting ??= Connection.open(this.url, this.options.timeoutMs, this.options.token)
      .then((c) => {
        const h = c.hello;
        if (h.obsDim !== this.obsDim || h.actDim !== this.actDim || h.chunk !== this.chunk) {
          c.close();
          throw new Error(
            `the server came back with other dims (obs ${h.obsDim}, act ${h.actDim}, chunk ${h.chunk}; was ${this.obsDim}, ${this.actDim}, ${this.chunk})`,
          );
        }
        this.connection = c;
        return c;
      })
      .finally(() => (this.connecting = null));
    return this.connecting;
  }

  /**
   * actions[B, Ta, da] from the server (a fresh array per call). A batch above the server's maxBatch
   * goes as several requests in flight at once.
   */
  async act(obs: Float32Array, noise: Float32Array, batch: number): Promise<Float32Array> {
    checkPolicyInputs(this, obs, noise, batch);
    if (this.closed) throw new Error(`remote policy ${this.url}: policy is closed`);
    const limit = this.hello.maxBatch;
    if (batch <= limit) return this.request(obs, noise, batch);
    const xDim = this.chunk * this.actDim;
    const out = new Float32Array(batch * xDim);
    const parts: Promise<void>[] = [];
    for (let start = 0; start < batch; start += limit) {
      const n = Math.min(limit, batch - start);
      const part = this.request(obs.subarray(start * this.obsDim, (start + n) * this.obsDim), noise.subarray(start * xDim, (start + n) * xDim), n);
      parts.push(part.then((actions) => out.set(actions, start * xDim)));
    }
    await Promise.all(parts);
    return out;
  }

  private async request(obs: Float32Array, noise: Float32Array, batch: number): Promise<Float32Array> {
    const id = this.nextId++;
    const frame = encodeActRequest(id, obs, noise, batch, this); // copies the inputs: the caller may reuse them
    // Keep within the server's per-connection queue (hello.maxQueued), or the excess would be refused as busy.
    const limit = this.hello.maxQueued ?? Infinity;
    while (this.inFlight >= limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.inFlight++;
    try {
      return await withRetries(
        this.url,
        this.options,
        async () => (await this.connected()).request(id, frame, batch, this.options.timeoutMs),
        `request ${id} failed`,
      );
    } finally {
      this.inFlight--;
      this.waiting.shift()?.();
    }
  }

  close(): void {
    this.closed = true;
    this.connection?.close();
    this.connection = null;
  }
}

/** Run `attempt`; on ConnectionLost wait (backoff doubling) and try again, up to `retries` more times. */
async function withRetries<T>(url: string, opts: { retries: number; backoffMs: number }, attempt: () => Promise<T>, what: string): Promise<T> {
  let last: Error | null = null;
  for (let i = 0; i <= opts.retries; i++) {
    if (i > 0) await sleep(Math.min(MAX_BACKOFF_MS, opts.backoffMs * 2 ** (i - 1)));
    try {
      return await attempt();
    } catch (err) {
      if (!(err instanceof ConnectionLost)) throw new Error(`remote policy ${url}: ${(err as Error).message}`);
      last = err;
    }
  }
  throw new Error(`remote policy ${url}: ${what} after ${opts.retries + 1} attempts (last: ${last?.message})`);
}

export function connectRemotePolicy(url: string, options: ConnectRemotePolicyOptions = {}): Promise<RemotePolicy> {
  return RemotePolicy.connect(url, options);
}
