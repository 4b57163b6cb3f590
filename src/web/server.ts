/**
 * The viewer's HTTP server (`dsrl view`): the built page (web/dist, read into memory at start) and
 * read-only JSON / binary endpoints for the run folders named on the command line, nothing else:
 *
 *   GET /api/runs                       [{id, name, env, algo, label, episodes: [names]}]
 *   GET /api/runs/<i>/metrics           the run's evaluations and reference lines (from summary.json)
 *   GET /api/runs/<i>/losses            the run's loss series, each thinned to MAX_LOSS_POINTS (run-losses.ts)
 *   GET /api/runs/<i>/episodes/<name>   <run>/episodes/<name>.safetensors (episode-format.ts)
 *   GET /api/runs/<i>/events            Server-Sent Events: the run folder's version whenever it changes
 *                                       (run-watch.ts), so the page follows a run that is training
 *
 * No part of a URL is ever joined into a path: static files are looked up in a map made at start, runs
 * by their index on the command line, episodes by name among the regular files (no symlinks, opened with
 * O_NOFOLLOW) that the run's episodes/ folder lists. URLs are matched undecoded, so `%2e%2e` and friends
 * simply match nothing. Runs followed through a view stream (`dsrl view ws://…`, remote-run.ts) come after
 * the folders and are answered from the files held in memory, the same endpoints and events.
 *
 * Limits (the hardening issue's rules for every dsrl server, src/node/ws-limits.ts): connections capped at
 * `maxConnections`; a socket idle (nothing sent or read, a silent or vanished browser included) for
 * `handshakeTimeoutMs` is closed, and so is a request whose headers do not arrive in that time; response
 * bodies read from disk are bounded per file (`maxPayloadBytes` for episodes and metrics.jsonl, MAX_JSON_BYTES) and in total in flight
 * (`maxBytesInFlight`, over it: 503); an event stream holds at most two small events for its browser and is
 * closed when the browser stops reading (run-watch.ts). Loopback by default; another address needs a token for /api (the
 * page forwards `?token=` from its own URL), and on loopback a Host header naming another host is refused
 * (DNS rebinding). Node only.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { constants, existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { lstat, open } from 'node:fs/promises';
import { readOpenFile } from '../node/fs.ts';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { basename, extname, join } from 'node:path';
import { isLoopback, resolveWsLimits, type WsLimits } from '../node/ws-limits.ts';
import { lossesOf } from './run-losses.ts';
import type { RemoteRun } from './remote-run.ts';
import { metricsOf } from './run-metrics.ts';
import { episodeNames, EPISODES_DIR, EventStream, METRICS_JSONL, RunWatcher, versionOf } from './run-watch.ts';

export const MAX_JSON_BYTES = 16 * 1024 * 1024;

/** maxPayloadBytes bounds one episode file (default 64 MiB); maxBytesInFlight, all file bytes being read and sent. */
export type ViewerLimits = Pick<WsLimits, 'maxConnections' | 'maxPayloadBytes' | 'maxBytesInFlight' | 'handshakeTimeoutMs'>;

export interface ViewerOptions {
  /** Run folders (what `dsrl steer` / `dsrl sac` made), served by index. */
  runs: string[];
  /** Runs followed through a view stream (`dsrl view ws://…`, remote-run.ts), served after the folders. */
  remotes?: RemoteRun[];
  /** The built page: a folder with index.html. */
  distDir: string;
  host?: string;
  /** 0: any free port. */
  port?: number;
  /** Needed for /api when host is not loopback. */
  token?: string;
  limits?: Partial<ViewerLimits>;
  /** How often a watched run folder is checked for changes (ms, default 500). */
  pollMs?: number;
  log?: (line: string) => void;
}

export interface ViewerServer {
  readonly host: string;
  readonly port: number;
  /** The page's URL (with the token, when there is one). */
  readonly url: string;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
};

/** The built page's files by URL path, read once (a build is well under a few MB). */
function loadDist(distDir: string): Map<string, { body: Buffer; type: string }> {
  if (!existsSync(join(distDir, 'index.html'))) throw new Error(`${distDir}: no built page (index.html); run npm run build:web`);
  const files = new Map<string, { body: Buffer; type: string }>();
  let total = 0;
  const walk = (dir: string, prefix: string, depth: number) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory() && depth < 4) walk(path, `${prefix}${entry.name}/`, depth + 1);
      // Symlinks and anything else that is not a plain file are not part of a build.
      if (!entry.isFile() || !(extname(entry.name) in TYPES)) continue;
      const body = readFileSync(path);
      total += body.length;
      if (files.size >= 500 || total > 64 * 1024 * 1024) throw new Error(`${distDir}: more than 500 files or 64 MB; is this a build of the viewer?`);
      files.set(`/${prefix}${entry.name}`, { body, type: TYPES[extname(entry.name)] });
    }
  };
  walk(distDir, '', 0);
  files.set('/', files.get('/index.html')!);
  return files;
}

/** A run folder's canonical path; throws one line when it is not one. */
export function checkRunFolder(dir: string): string {
  if (!existsSync(dir)) throw new Error(`${dir}: no such run folder`);
  if (!statSync(dir).isDirectory()) throw new Error(`${dir}: not a folder (give a run folder that dsrl steer or dsrl sac made)`);
  if (!existsSync(join(dir, 'config.json')) && !existsSync(join(dir, 'summary.json')))
    throw new Error(`${dir}: not a run folder (it has neither config.json nor summary.json)`);
  return realpathSync(dir);
}

function tokenMatches(given: string | null, token: string): boolean {
  if (given === null) return false;
  // Hash both so the comparison is constant-time whatever the lengths.
  return timingSafeEqual(createHash('sha256').update(given).digest(), createHash('sha256').update(token).digest());
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** A regular file's bytes, refusing symlinks and files over `max`. */
async function readBounded(path: string, max: number, reserve: (n: number) => () => void): Promise<Buffer> {
  let handle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch {
    throw new HttpError(404, 'not found');
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new HttpError(404, 'not found');
    if (st.size > max) throw new HttpError(413, `file over ${max} bytes`);
    const release = reserve(st.size);
    try {
      return await readOpenFile(handle, st.size);
    } finally {
      release();
    }
  } finally {
    await handle.close();
  }
}

async function readJson(path: string, reserve: (n: number) => () => void): Promise<Record<string, unknown> | null> {
  try {
    const value: unknown = JSON.parse((await readBounded(path, MAX_JSON_BYTES, reserve)).toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch (err) {
    if (err instanceof HttpError && err.status !== 404) throw err;
    return null;
  }
}

export async function startViewer(options: ViewerOptions): Promise<ViewerServer> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 0;
  const log = options.log ?? (() => {});
  const { token } = options;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be an integer in [0, 65535], got ${port}`);
  if (token !== undefined && token.length < 8) throw new Error('--token must be at least 8 characters');
  if (!isLoopback(host) && !token) throw new Error(`--host ${host}: not a loopback address, so the viewer needs --token <secret> (or DSRL_TOKEN)`);
  const remotes = options.remotes ?? [];
  if (options.runs.length === 0 && remotes.length === 0) throw new Error('give at least one run folder or ws:// stream');
  const limits = resolveWsLimits(options.limits, 'viewer');
  const runs = options.runs.map(checkRunFolder);
  const dist = loadDist(options.distDir);
  const pollMs = options.pollMs ?? 500;
  if (!Number.isInteger(pollMs) || pollMs < 10 || pollMs > 60_000) throw new Error(`pollMs must be an integer in [10, 60000], got ${pollMs}`);
  const watchers = runs.map((dir) => new RunWatcher(dir, pollMs));
  // Heartbeats well inside the idle timeout, which would otherwise close a quiet stream.
  const heartbeatMs = Math.max(20, Math.min(15_000, Math.floor(limits.handshakeTimeoutMs / 3)));

  let inFlight = 0;
  const reserve = (n: number) => {
    if (inFlight + n > limits.maxBytesInFlight) throw new HttpError(503, 'busy: too many bytes in flight, try again');
    inFlight += n;
    return () => {
      inFlight -= n;
    };
  };

  // Each run's newest loss answer, by metrics.jsonl's version: pages that follow a run fetch it at every change.
  const lossCache = new Map<string, { version: string; body: string }>();
  const losses = async (run: string): Promise<string> => {
    const path = join(run, METRICS_JSONL);
    const version = versionOf(await lstat(path).catch(() => null));
    if (version === null) return JSON.stringify(lossesOf(''));
    const cached = lossCache.get(run);
    if (cached?.version === version) return cached.body;
    const body = JSON.stringify(lossesOf((await readBounded(path, limits.maxPayloadBytes, reserve)).toString('utf8')));
    lossCache.set(run, { version, body });
    return body;
  };

  const api = async (path: string): Promise<{ body: Buffer | string; type: string }> => {
    const json = (v: unknown) => ({ body: JSON.stringify(v), type: 'application/json' });
    if (path === '/api/runs') {
      const list = [];
      for (const [id, dir] of runs.entries()) {
        const config = await readJson(join(dir, 'config.json'), reserve);
        const summary = await readJson(join(dir, 'summary.json'), reserve);
        const text = (v: unknown) => (typeof v === 'string' ? v.slice(0, 200) : null);
        list.push({
          id,
          name: basename(dir),
          env: text(summary?.env) ?? text(config?.env),
          algo: text(summary?.algo) ?? text(config?.algo),
          episodes: await episodeNames(dir),
        });
      }
      for (const [k, remote] of remotes.entries()) list.push({ id: runs.length + k, ...remote.info() });
      return json(list);
    }
    const m = /^\/api\/runs\/(\d{1,4})\/(metrics|losses|episodes\/([A-Za-z0-9_-]{1,64}))$/.exec(path);
    const run = m ? runs[Number(m[1])] : undefined;
    const remote = m ? remotes[Number(m[1]) - runs.length] : undefined;
    if (m && remote) {
      const answer = remote.answer(m[2]);
      if (!answer) throw new HttpError(404, 'not found');
      return answer;
    }
    if (!m || run === undefined) throw new HttpError(404, 'not found');
    if (m[2] === 'metrics') return json(metricsOf(await readJson(join(run, 'summary.json'), reserve)));
    if (m[2] === 'losses') return { body: await losses(run), type: 'application/json' };
    const name = m[3];
    if (!(await episodeNames(run)).includes(name)) throw new HttpError(404, 'no such episode');
    return {
      body: await readBounded(join(run, EPISODES_DIR, `${name}.safetensors`), limits.maxPayloadBytes, reserve),
      type: 'application/octet-stream',
    };
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const send = (status: number, body: Buffer | string, type: string) => {
      res.writeHead(status, {
        'Content-Type': type,
        'Content-Length': Buffer.byteLength(body),
        'X-Content-Type-Options': 'nosniff',
        'Cache-Control': 'no-store',
        // wasm-unsafe-eval: the toy page's worker compiles the WebAssembly NN backend (it allows no JS eval).
        'Content-Security-Policy':
          "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:",
        'Referrer-Policy': 'no-referrer',
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, 'only GET and HEAD');
      const raw = req.url ?? '/';
      const q = raw.indexOf('?');
      const path = q < 0 ? raw : raw.slice(0, q);
      if (isLoopback(host)) {
        const hostname = (req.headers.host ?? '').replace(/:\d+$/, '');
        if (!isLoopback(hostname) && hostname !== '[::1]') throw new HttpError(403, 'this viewer answers only on loopback host names');
      }
      if (path.startsWith('/api/')) {
        if (token !== undefined) {
          const auth = req.headers.authorization;
          const given =
            typeof auth === 'string' && /^Bearer /i.test(auth)
              ? auth.slice(7).trim()
              : new URLSearchParams(q < 0 ? '' : raw.slice(q + 1)).get('token');
          if (!tokenMatches(given, token)) throw new HttpError(401, 'missing or wrong token');
        }
        const events = /^\/api\/runs\/(\d{1,4})\/events$/.exec(path);
        if (events) {
          const remote = remotes[Number(events[1]) - runs.length];
          const watcher = watchers[Number(events[1])] ?? remote;
          if (!watcher) throw new HttpError(404, 'not found');
          if (req.method === 'HEAD') return send(200, '', 'text/event-stream; charset=utf-8');
          const open = () => {
            const stream: EventStream = new EventStream(res, heartbeatMs, () => watcher.remove(stream));
            watcher.add(stream);
          };
          // A ws:// run whose stream is down: the page's request waits, so the page shows it as reconnecting.
          if (remote) remote.whenLinked(open, res);
          else open();
          return;
        }
        const { body, type } = await api(path);
        send(200, body, type);
        return;
      }
      const file = dist.get(path);
      if (!file) throw new HttpError(404, 'not found');
      send(200, file.body, file.type);
    } catch (err) {
      const status = err instanceof HttpError ? err.status : 500;
      if (status === 500) log(`viewer: ${req.method} ${req.url}: ${err instanceof Error ? err.message : String(err)}`);
      send(status, `${err instanceof HttpError ? err.message : 'internal error'}\n`, 'text/plain; charset=utf-8');
    }
  };

  const server: Server = createServer(
    {
      headersTimeout: limits.handshakeTimeoutMs,
      requestTimeout: limits.handshakeTimeoutMs,
      keepAliveTimeout: 5_000,
      connectionsCheckingInterval: Math.max(50, Math.min(30_000, Math.floor(limits.handshakeTimeoutMs / 4))),
    },
    (req, res) => void handle(req, res),
  );
  server.maxConnections = limits.maxConnections;
  // Inactivity: a socket that sends nothing, or a browser that stops reading a response, is closed.
  server.setTimeout(limits.handshakeTimeoutMs, (socket: Socket) => socket.destroy());
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const actual = (server.address() as AddressInfo).port;
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    host,
    port: actual,
    url: `http://${shown}:${actual}/${token ? `?token=${encodeURIComponent(token)}` : ''}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const w of watchers) w.close();
        for (const r of remotes) r.close();
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
