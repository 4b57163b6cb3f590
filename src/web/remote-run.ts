/**
 * `dsrl view ws://host:port`: a run followed through the view stream of a `dsrl steer --view-port` process
 * (src/node/view-stream.ts), on this or another machine. The newest version of each of the run's files
 * (config.json, summary.json, episodes/<name>.safetensors, and losses.json: the loss series) is kept in memory, and `dsrl view`'s server
 * (server.ts) answers the page's /api for it as for a local run folder: the same metrics, episodes and event
 * stream, so the page needs no change.
 *
 * When the stream drops, the run's event streams to the page are closed and new ones wait (unanswered) until
 * the stream is back, so the page shows "reconnecting…" meanwhile; the files already received stay served.
 * The client reconnects with backoff (250 ms doubling to 5 s), forever until closed. A frame that is not a
 * view-stream frame is refused (the connection closed with a line naming what was wrong) and the client tries
 * again later. Node only.
 */
import type { ServerResponse } from 'node:http';
import { WebSocket } from 'ws';
import { decodeViewFrame } from '../node/view-stream-frame.ts';
import { lossesOf } from './run-losses.ts';
import { metricsOf } from './run-metrics.ts';
import type { EventStream, RunVersion } from './run-watch.ts';
import { isWebSocketUrl } from '../core/url.ts';

export interface RemoteRunOptions {
  /** Sent as `Authorization: Bearer` (a stream off loopback wants one). */
  token?: string;
  /** Largest frame accepted (default 64 MiB, the stream's own payload limit). */
  maxPayloadBytes?: number;
  /** Most bytes of files held (default 256 MiB); a file that would go over is dropped with a line. */
  maxStoredBytes?: number;
  /** First reconnect delay (ms, default 250; doubles to 5 s). */
  backoffMs?: number;
  log?: (line: string) => void;
}

export class RemoteRun {
  /** Set from the stream's hello (the run folder's name there). */
  name: string;
  connected = false;
  /** The last refusal or connection error, for the log and tests. */
  lastError: string | null = null;
  private readonly files = new Map<string, { version: string; body: Buffer }>();
  private storedBytes = 0;
  private readonly streams = new Set<EventStream>();
  private readonly waiting = new Set<() => void>();
  private socket: WebSocket | null = null;
  private retry: ReturnType<typeof setTimeout> | null = null;
  private delay: number;
  private closed = false;
  private lastSent: string | null = null;
  private readonly log: (line: string) => void;

  constructor(
    readonly url: string,
    private readonly options: RemoteRunOptions = {},
  ) {
    if (!isWebSocketUrl(url)) throw new Error(`${url}: not a ws:// or wss:// address of a view stream (dsrl steer --view-port)`);
    try {
      new URL(url);
    } catch {
      throw new Error(`${url}: not a valid address (expected ws://host:port)`);
    }
    this.name = url;
    this.delay = options.backoffMs ?? 250;
    this.log = options.log ?? (() => {});
    this.connect();
  }

  private connect(): void {
    this.retry = null;
    if (this.closed) return;
    const socket = new WebSocket(this.url, {
      headers: this.options.token ? { Authorization: `Bearer ${this.options.token}` } : {},
      maxPayload: this.options.maxPayloadBytes ?? 64 * 1024 * 1024,
      perMessageDeflate: false,
      handshakeTimeout: 10_000,
    });
    this.socket = socket;
    // One line per failed attempt: the refusal's reason, not the close that follows it.
    let refused = false;
    socket.on('message', (data: Buffer, isBinary: boolean) => {
      try {
        if (!isBinary) throw new Error('malformed view-stream frame: a text message (the stream sends binary frames)');
        this.receive(data);
      } catch (err) {
        this.refuse(`${(err as Error).message}; is ${this.url} a dsrl steer --view-port stream?`);
        socket.close(1002, 'malformed frame');
        socket.terminate();
      }
    });
    socket.on('unexpected-response', (_req, res) => {
      const why = res.statusCode === 401 ? ' (the stream wants a token: --token <secret> or DSRL_VIEW_TOKEN)' : '';
      this.refuse(`refused with HTTP ${res.statusCode}${why}`);
      refused = true;
      socket.terminate();
    });
    socket.on('error', (err) => {
      if (!refused) this.refuse(err.message);
      refused = true;
    });
    socket.on('close', () => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.connected) this.log(`dsrl view: ${this.url}: stream lost; reconnecting (the page shows the run as reconnecting)`);
      this.connected = false;
      // The page's event streams end, so it shows the run as disconnected; its browser retries and waits below.
      for (const s of [...this.streams]) s.close();
      if (!this.closed) {
        this.retry = setTimeout(() => this.connect(), this.delay);
        this.retry.unref();
        this.delay = Math.min(5000, this.delay * 2);
      }
    });
  }

  private refuse(why: string): void {
    // Once per cause while it repeats (the retries go on every 5 s at most).
    if (why !== this.lastError) this.log(`dsrl view: ${this.url}: ${why}; retrying`);
    this.lastError = why;
  }

  private receive(data: Buffer): void {
    const frame = decodeViewFrame(data);
    if (frame.type === 'hello') {
      if (frame.run !== this.name && this.name !== this.url) this.clear();
      this.name = frame.run || this.url;
      this.connected = true;
      this.lastError = null;
      this.delay = this.options.backoffMs ?? 250;
      this.log(`dsrl view: ${this.url}: following run ${this.name}`);
      const opens = [...this.waiting];
      this.waiting.clear();
      for (const open of opens) open();
      return;
    }
    if (!this.connected) throw new Error(`malformed view-stream frame: a ${frame.type} frame before the hello`);
    const old = this.files.get(frame.name);
    this.storedBytes -= old?.body.length ?? 0;
    this.files.delete(frame.name);
    if (frame.type === 'file') {
      const max = this.options.maxStoredBytes ?? 256 * 1024 * 1024;
      if (this.storedBytes + frame.body.length > max) this.log(`dsrl view: ${this.url}: ${frame.name} dropped: over ${max} bytes of files held`);
      else {
        this.files.set(frame.name, { version: frame.version, body: frame.body });
        this.storedBytes += frame.body.length;
      }
    }
    this.broadcast();
  }

  private clear(): void {
    this.files.clear();
    this.storedBytes = 0;
  }

  /** What run-watch.ts's RunVersion says of a folder, for the files received. */
  version(): RunVersion {
    const episodes: Record<string, string> = {};
    for (const [name, f] of this.files) {
      const m = /^episodes\/(.+)\.safetensors$/.exec(name);
      if (m) episodes[m[1]] = f.version;
    }
    return { metrics: this.files.get('summary.json')?.version ?? null, losses: this.files.get('losses.json')?.version ?? null, episodes };
  }

  private broadcast(): void {
    const text = JSON.stringify(this.version());
    if (text === this.lastSent) return;
    this.lastSent = text;
    for (const s of this.streams) s.send('version', text);
  }

  private json(name: string): Record<string, unknown> | null {
    const f = this.files.get(name);
    if (!f) return null;
    try {
      const v: unknown = JSON.parse(f.body.toString('utf8'));
      return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
    } catch {
      return null;
    }
  }

  episodeNames(): string[] {
    return Object.keys(this.version().episodes).sort();
  }

  /** An entry of /api/runs. */
  info(): { name: string; env: string | null; algo: string | null; episodes: string[] } {
    const config = this.json('config.json');
    const summary = this.json('summary.json');
    const text = (v: unknown) => (typeof v === 'string' ? v.slice(0, 200) : null);
    return {
      name: this.name,
      env: text(summary?.env) ?? text(config?.env),
      algo: text(summary?.algo) ?? text(config?.algo),
      episodes: this.episodeNames(),
    };
  }

  /** /api/runs/<i>/<what> for `metrics`, `losses` and `episodes/<name>`; null: not found. */
  answer(what: string): { body: Buffer | string; type: string } | null {
    if (what === 'metrics') return { body: JSON.stringify(metricsOf(this.json('summary.json'))), type: 'application/json' };
    if (what === 'losses') return { body: this.files.get('losses.json')?.body ?? JSON.stringify(lossesOf('')), type: 'application/json' };
    const m = /^episodes\/([A-Za-z0-9_-]{1,64})$/.exec(what);
    const f = m ? this.files.get(`episodes/${m[1]}.safetensors`) : undefined;
    return f ? { body: f.body, type: 'application/octet-stream' } : null;
  }

  /** Runs `open` (the page's event stream) now if the stream is up, else once it is back, unless the page leaves first. */
  whenLinked(open: () => void, res: ServerResponse): void {
    if (this.connected) return open();
    this.waiting.add(open);
    res.once('close', () => this.waiting.delete(open));
  }

  add(stream: EventStream): void {
    this.streams.add(stream);
    stream.send('version', JSON.stringify(this.version()));
  }

  remove(stream: EventStream): void {
    this.streams.delete(stream);
  }

  close(): void {
    this.closed = true;
    if (this.retry !== null) clearTimeout(this.retry);
    for (const s of [...this.streams]) s.close();
    this.waiting.clear();
    this.socket?.terminate();
    this.socket = null;
  }
}
