/**
 * The view stream of a training run (`dsrl steer --view-port <P>`): a WebSocket server that sends a viewer
 * (`dsrl view ws://host:P`, src/web/remote-run.ts) the run folder's config.json, summary.json, recorded
 * episodes and loss series (of metrics.jsonl), all of them on connect and then each one again whenever the harness replaces it.
 *
 * It watches the run folder as `dsrl view` does (run-watch.ts: the harness writes every file atomically at each
 * evaluation; a stat per file every `pollMs`, only while a viewer is connected), so the harness needs no hook
 * beyond telling it the folder. `startViewStreamThread` runs it in a worker thread: the training loop does not
 * yield to the event loop between steps, so a server on the training thread would go unanswered for whole
 * evaluations, and a viewer can never take turns from training.
 *
 * Memory for a slow or vanished viewer: the newest version of each file is held once (the frames are shared by
 * every client), and each client has at most one frame being written; when it is written, the client gets the
 * next file whose newest version it has not seen. Versions that come and go while a client is behind are
 * never queued for it (coalesced to the newest). A client that stops reading holds one frame until the idle
 * timeout (no pong) closes it. Limits (connections, payload, handshake, idle, token off loopback) are
 * listenWs's (ws-limits.ts). Node only.
 */
import { constants } from 'node:fs';
import { lstat, open } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { WebSocket } from 'ws';
import { lossesOf } from '../web/run-losses.ts';
import { episodeNames, EPISODES_DIR, METRICS_JSONL } from '../web/run-watch.ts';
import { readOpenFile } from './fs.ts';
import { encodeViewFrame } from './view-stream-frame.ts';
import { isLoopback, listenWs, type LimitedWsServer, type WsLimits } from './ws-limits.ts';

/** summary.json and config.json at most (as `dsrl view`'s server reads them). */
const MAX_JSON_BYTES = 16 * 1024 * 1024;

export interface ViewStreamOptions {
  host?: string;
  /** 0: any free port. */
  port?: number;
  /** Needed when host is not loopback. */
  token?: string;
  limits?: Partial<WsLimits>;
  /** How often the run folder is checked while a viewer is connected (ms, default 250). */
  pollMs?: number;
  /** The run folder; or later, with follow(). */
  dir?: string;
  log?: (line: string) => void;
}

export interface ViewStreamStats {
  clients: number;
  /** Bytes queued for all clients in user space (ws's bufferedAmount). */
  bufferedBytes: number;
  /** File frames written to clients. */
  framesSent: number;
  /** Bytes of the newest files held once for every client. */
  heldBytes: number;
  closedBy: Record<string, number>;
}

export interface ViewStreamServer {
  readonly url: string;
  readonly port: number;
  follow(dir: string): void;
  stats(): ViewStreamStats;
  /** Checks the folder now and waits (at most `timeoutMs`) until every client has its newest versions. */
  flush(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

interface Item {
  version: string;
  frame: Buffer;
}

interface Client {
  socket: WebSocket;
  helloSent: boolean;
  writing: boolean;
  /** Versions sent, by file name. */
  sent: Map<string, string>;
}

/** A regular file's bytes and version (inode, size, mtime: what run-watch.ts compares), or null when it is absent or too big. */
async function readVersioned(path: string, max: number): Promise<{ version: string; body: Buffer } | null> {
  let handle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch {
    return null;
  }
  try {
    const st = await handle.stat();
    if (!st.isFile() || st.size > max) return null;
    return { version: `${st.ino}-${st.size}-${st.mtimeMs}`, body: await readOpenFile(handle, st.size) };
  } finally {
    await handle.close();
  }
}

const statVersion = async (path: string) => {
  const st = await lstat(path).catch(() => null);
  return st && st.isFile() ? `${st.ino}-${st.size}-${st.mtimeMs}` : null;
};

export async function serveRunStream(options: ViewStreamOptions): Promise<ViewStreamServer> {
  const log = options.log ?? (() => {});
  const pollMs = options.pollMs ?? 250;
  if (!Number.isInteger(pollMs) || pollMs < 10 || pollMs > 60_000)
    throw new Error(`view stream: pollMs must be an integer in [10, 60000], got ${pollMs}`);
  let dir: string | null = options.dir ?? null;
  const items = new Map<string, Item>();
  const clients = new Map<WebSocket, Client>();
  let framesSent = 0;
  let hello = encodeViewFrame({ type: 'hello', run: dir ? basename(dir) : '' });

  const pump = (c: Client): void => {
    if (c.writing || c.socket.readyState !== 1) return;
    let frame: Buffer | null = null;
    if (!c.helloSent) {
      if (dir === null) return;
      c.helloSent = true;
      frame = hello;
    } else {
      for (const [name, item] of items)
        if (c.sent.get(name) !== item.version) {
          c.sent.set(name, item.version);
          frame = item.frame;
          break;
        }
      if (frame === null)
        for (const name of c.sent.keys())
          if (!items.has(name)) {
            c.sent.delete(name);
            frame = encodeViewFrame({ type: 'gone', name });
            break;
          }
    }
    if (frame === null) return;
    c.writing = true;
    framesSent++;
    // The callback runs once the frame is handed to the kernel: only then does this client get another.
    c.socket.send(frame, { binary: true }, (err) => {
      c.writing = false;
      if (!err) pump(c);
    });
  };

  let polling: Promise<void> | null = null;
  const check = async (): Promise<void> => {
    if (dir === null) return;
    const run = dir;
    const names = ['config.json', 'summary.json', 'losses.json', ...(await episodeNames(run)).map((n) => `${EPISODES_DIR}/${n}.safetensors`)];
    // losses.json is the loss series of metrics.jsonl (a few tens of KB however long the run), not the file itself.
    const pathOf = (name: string) => join(run, name === 'losses.json' ? METRICS_JSONL : name);
    let changed = false;
    for (const name of names) {
      const path = pathOf(name);
      const v = await statVersion(path);
      if (v === null || items.get(name)?.version === v) continue;
      const max = name.endsWith('.json') && name !== 'losses.json' ? MAX_JSON_BYTES : server.limits.maxPayloadBytes - 4096;
      const file = await readVersioned(path, max);
      if (file === null) {
        log(`view stream: ${path}: not sent (missing, not a plain file, or over ${max} bytes)`);
        continue;
      }
      const body = name === 'losses.json' ? Buffer.from(JSON.stringify(lossesOf(file.body.toString('utf8')))) : file.body;
      items.set(name, { version: file.version, frame: encodeViewFrame({ type: 'file', name, version: file.version, body }) });
      changed = true;
    }
    for (const name of [...items.keys()])
      if (!names.includes(name) || (await statVersion(pathOf(name))) === null) {
        items.delete(name);
        changed = true;
      }
    if (changed) for (const c of clients.values()) pump(c);
  };
  // One check at a time: a slow disk skips ticks rather than piling them up.
  const poll = (): Promise<void> => (polling ??= check().finally(() => (polling = null)));
  const timer = setInterval(() => {
    if (clients.size > 0) void poll();
  }, pollMs);
  timer.unref();

  const server: LimitedWsServer = await listenWs({
    name: 'view stream',
    host: options.host,
    port: options.port,
    token: options.token,
    limits: options.limits,
    log,
    onConnection: (socket, peer) => {
      const c: Client = { socket, helloSent: false, writing: false, sent: new Map() };
      clients.set(socket, c);
      log(`view stream: viewer ${peer} connected`);
      socket.on('message', () => {
        // The stream is one-way; a client that talks is not a viewer.
        socket.close(1003, 'this stream takes no messages');
      });
      socket.on('close', () => clients.delete(socket));
      pump(c);
      void poll();
    },
  });

  return {
    url: server.url,
    port: server.port,
    follow(next) {
      dir = next;
      hello = encodeViewFrame({ type: 'hello', run: basename(next) });
      items.clear();
      for (const c of clients.values()) pump(c);
      void poll();
    },
    stats: () => {
      let bufferedBytes = 0;
      for (const c of clients.values()) bufferedBytes += c.socket.bufferedAmount;
      let heldBytes = 0;
      for (const item of items.values()) heldBytes += item.frame.length;
      return { clients: clients.size, bufferedBytes, framesSent, heldBytes, closedBy: server.stats().closedBy };
    },
    async flush(timeoutMs) {
      const t0 = performance.now();
      await poll();
      const behind = () => [...clients.values()].some((c) => c.writing || [...items].some(([name, item]) => c.sent.get(name) !== item.version));
      while (behind() && performance.now() - t0 < timeoutMs) await new Promise((r) => setTimeout(r, 10));
    },
    async close() {
      clearInterval(timer);
      await polling;
      await server.close();
    },
  };
}

/** The view stream served from a worker thread (view-stream-thread.ts), so training never starves it. */
export async function startViewStreamThread(options: Omit<ViewStreamOptions, 'log'>, log: (line: string) => void): Promise<ViewStreamServer> {
  const worker = new Worker(new URL('./view-stream-bootstrap.mjs', import.meta.url), { workerData: options });
  let last: ViewStreamStats = { clients: 0, bufferedBytes: 0, framesSent: 0, heldBytes: 0, closedBy: {} };
  let flushed: (() => void) | null = null;
  const started = await new Promise<{ url: string; port: number }>((resolve, reject) => {
    worker.on('message', (m: { type: string; [k: string]: unknown }) => {
      if (m.type === 'ready') resolve({ url: m.url as string, port: m.port as number });
      else if (m.type === 'error') reject(new Error(m.message as string));
      else if (m.type === 'log') log(m.line as string);
      else if (m.type === 'flushed') {
        last = m.stats as ViewStreamStats;
        flushed?.();
      }
    });
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`the view stream's thread exited (code ${code}) before it listened`)));
  });
  // The thread must not keep a finished run's process alive.
  worker.unref();
  return {
    ...started,
    follow: (dir) => worker.postMessage({ type: 'follow', dir }),
    /** As of the last flush. */
    stats: () => last,
    flush: (timeoutMs) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs + 1000);
        flushed = () => {
          clearTimeout(timer);
          resolve();
        };
        worker.postMessage({ type: 'flush', timeoutMs });
      }),
    async close() {
      await worker.terminate();
    },
  };
}

/** `dsrl steer --view-port`: the run's view stream in its own thread, its token from DSRL_VIEW_TOKEN; prints its address. */
export async function startRunViewStream(host: string, port: number): Promise<ViewStreamServer> {
  const token = process.env.DSRL_VIEW_TOKEN || undefined;
  if (!isLoopback(host) && !token)
    throw new Error(
      `viewHost (--view-host) ${host}: not a loopback address, so the view stream needs a token: set DSRL_VIEW_TOKEN=<secret> (8 characters or more)`,
    );
  const view = await startViewStreamThread({ host, port, token }, (line) => console.error(line));
  console.log(`dsrl steer: view stream at ${view.url} (watch it: dsrl view ${view.url})`);
  return view;
}
