/**
 * The link layer of a remote env (docs/remote-env.md): opening a connection and waiting for its hello
 * (`dial`, bounded backoff retries), and the request/reply channel over it (`RequestChannel`: one request
 * at a time, matched by kind and id, with a per-reply timeout). A dropped, silent or unopenable link
 * surfaces as `LinkLost`; malformed or unexpected replies as other errors (RemoteEnvProtocolError), so the
 * env above can tell a link drop from a robot side that speaks the protocol wrongly.
 * Browser-safe: the socket comes from an injected `open`.
 */
import { parseServerMessage, RemoteEnvProtocolError, type RemoteEnvHello, type RemoteServerMessage } from './protocol.ts';

/** One open connection, as the transport gives it (text messages only). */
export interface EnvLink {
  send(text: string): void;
  /**
   * Set by dial (for the hello), then by RequestChannel; called per message and once when the link
   * closes. A transport holds what arrives before they are set (a hello can arrive in the same tick as
   * the open) and delivers it when they are.
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

export interface LinkOptions {
  open: LinkOpener;
  token?: string;
  /** Hello and per-reply timeout (default 30 s; a chunk runs at the robot's rate, so leave room). */
  timeoutMs?: number;
  reconnect?: ReconnectOptions;
}

/** The link dropped, went silent or is not open: the caller reconnects (it is not a protocol error). */
export class LinkLost extends Error {}

/** Lets a pending timer not keep Node alive (browser timers have no unref). */
export function unref(t: ReturnType<typeof setTimeout>): void {
  (t as { unref?: () => void }).unref?.();
}

const sleep = (ms: number) => new Promise<void>((resolve) => unref(setTimeout(resolve, ms)));

/** Opens a link and waits for its hello, retrying with backoff; `previous` must match a reconnect's hello. */
export async function dial(url: string, options: LinkOptions, previous: RemoteEnvHello | null): Promise<{ link: EnvLink; hello: RemoteEnvHello }> {
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
      const hello = await awaitHello(url, link, options.timeoutMs ?? 30_000);
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

function awaitHello(url: string, link: EnvLink, timeoutMs: number): Promise<RemoteEnvHello> {
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

interface Pending {
  id: number;
  kind: 'reset' | 'step';
  resolve: (m: RemoteServerMessage) => void;
  reject: (err: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

/** Requests and their replies over the current link (swapped by `attach` after a reconnect). */
export class RequestChannel {
  private link: EnvLink | null = null;
  private pending: Pending | null = null;
  private nextId = 1;

  /**
   * @param obsSize the observation size replies must carry
   * @param onSilent called when a request gets no reply in `timeoutMs`, while the link is still attached
   *   (the env halts the robot there); the channel then drops the link and fails the request with LinkLost.
   */
  constructor(
    private readonly url: string,
    private readonly obsSize: number,
    private readonly timeoutMs: number,
    private readonly onSilent: (why: string) => void,
  ) {}

  get connected(): boolean {
    return this.link !== null;
  }

  /** Whether a request awaits its reply. */
  get busy(): boolean {
    return this.pending !== null;
  }

  attach(link: EnvLink): void {
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
      message = parseServerMessage(text, this.obsSize, `${this.url}: reply${pending ? ` to ${pending.kind}` : ''}`);
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

  /** Rejects the request awaiting its reply, if any, with `err`. */
  failPending(err: Error): void {
    const pending = this.pending;
    if (!pending) return;
    clearTimeout(pending.timer);
    this.pending = null;
    pending.reject(err);
  }

  /** Sends the message `encode(id)` and resolves with its reply (or an error reply); rejects with LinkLost on a drop. */
  request(kind: 'reset' | 'step', encode: (id: number) => string): Promise<RemoteServerMessage> {
    const link = this.link;
    if (!link) return Promise.reject(new LinkLost('not connected'));
    const id = this.nextId++;
    const timeoutMs = this.timeoutMs;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        // The link is silent: let the env halt the robot, then treat the link as lost.
        this.onSilent(`no reply to ${kind} ${id} within ${timeoutMs} ms`);
        this.drop();
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

  /** Sends a message that has no reply; on a dead link it is lost. */
  sendBestEffort(text: string): void {
    try {
      this.link?.send(text);
    } catch {
      // the link is gone; the message cannot go out
    }
  }

  /** Detaches and closes the current link (its close no longer fails a request). */
  drop(): void {
    const link = this.link;
    this.link = null;
    link?.close();
  }
}
