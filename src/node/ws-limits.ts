/**
 * Limits for every WebSocket server dsrl runs (policy server today; remote env, viewer later), so a
 * careless or hostile client can neither exhaust memory nor hold connections forever:
 *
 * - connections: at most `maxConnections` TCP connections (open or still handshaking); a WebSocket
 *   upgrade over the limit is answered 503 with a reason (a little TCP slack is kept for that answer).
 * - bytes: one message at most `maxPayloadBytes` (ws's own `maxPayload`: the frame header's length is
 *   checked before anything is buffered, close code 1009); bytes of unfinished messages across all
 *   connections at most `maxBytesInFlight` (over it, the connection that went over is no longer read
 *   from until there is room: TCP back-pressure, no buffering); replies buffered for a client that does not read
 *   at most `maxBufferedReplyBytes` per connection (over it, that connection is closed).
 * - time: the HTTP upgrade must complete within `handshakeTimeoutMs` (Node's headersTimeout /
 *   requestTimeout cover a half-sent request; a socket that sends nothing at all is not covered by
 *   them, so a per-socket timer does that); a message once started must complete within
 *   `partialFrameTimeoutMs`; a connection with no message and no pong (the server pings) for
 *   `idleTimeoutMs` is closed.
 * - access: binds 127.0.0.1 by default; any other address requires a token, checked on the upgrade
 *   (`Authorization: Bearer <token>` or `?token=`), in constant time.
 *
 * Node only.
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';

export interface WsLimits {
  /** TCP connections at once, open WebSockets and handshakes in progress together (default 64). */
  maxConnections: number;
  /** Largest message, in bytes (default 64 MiB); ws closes a connection that announces more (1009). */
  maxPayloadBytes: number;
  /** Bytes of unfinished messages over all connections (default 64 MiB; at least maxPayloadBytes). */
  maxBytesInFlight: number;
  /** Reply bytes queued for one client that is not reading (default 16 MiB). */
  maxBufferedReplyBytes: number;
  /** From TCP connect to a completed WebSocket upgrade (default 10 s). */
  handshakeTimeoutMs: number;
  /** From the first byte of a message to its last (default 30 s). */
  partialFrameTimeoutMs: number;
  /** Without any message or pong (default 120 s; the server pings after half of it). */
  idleTimeoutMs: number;
}

export const DEFAULT_WS_LIMITS: Readonly<WsLimits> = Object.freeze({
  maxConnections: 64,
  maxPayloadBytes: 64 * 1024 * 1024,
  maxBytesInFlight: 64 * 1024 * 1024,
  maxBufferedReplyBytes: 16 * 1024 * 1024,
  handshakeTimeoutMs: 10_000,
  partialFrameTimeoutMs: 30_000,
  idleTimeoutMs: 120_000,
});

/** Defaults filled in and every value checked; throws `${source}: ...` naming the bad limit. */
export function resolveWsLimits(given: Partial<WsLimits> = {}, source = 'server limits'): WsLimits {
  const limits = { ...DEFAULT_WS_LIMITS };
  for (const [key, value] of Object.entries(given) as [keyof WsLimits, number | undefined][]) {
    if (value === undefined) continue;
    if (!(key in DEFAULT_WS_LIMITS)) throw new Error(`${source}: unknown limit "${key}"`);
    if (!Number.isSafeInteger(value) || value < 1) throw new Error(`${source}: ${key} must be a positive integer, got ${value}`);
    limits[key] = value;
  }
  if (limits.maxBytesInFlight < limits.maxPayloadBytes) {
    throw new Error(
      `${source}: maxBytesInFlight (${limits.maxBytesInFlight}) must be at least maxPayloadBytes (${limits.maxPayloadBytes}), or no largest message could ever arrive`,
    );
  }
  return limits;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host) || host === '::ffff:127.0.0.1';
}

export interface ListenWsOptions {
  /** For messages ("policy server"). */
  name: string;
  host?: string;
  port?: number;
  limits?: Partial<WsLimits>;
  /** Required when host is not a loopback address. */
  token?: string;
  log?: (line: string) => void;
  /** A client passed the handshake; `peer` is "address:port". */
  onConnection: (socket: WebSocket, peer: string) => void;
  /** Plain HTTP requests (default: 426, this is a WebSocket endpoint), e.g. a page that opens the socket. */
  onRequest?: (req: IncomingMessage, res: ServerResponse) => void;
  /** An extra check of each upgrade (e.g. its Origin): a reason refuses it with 403. */
  verifyUpgrade?: (req: IncomingMessage) => string | null;
}

export interface WsServerStats {
  /** Open WebSocket connections. */
  clients: number;
  /** TCP connections not yet upgraded. */
  handshaking: number;
  /** Bytes of unfinished messages over all connections. */
  bytesInFlight: number;
  /** Connections closed by a limit, by reason. */
  closedBy: Record<string, number>;
  /** Times a connection was paused because bytes in flight were over the limit. */
  pausedForBytes: number;
}

export interface LimitedWsServer {
  readonly host: string;
  readonly port: number;
  readonly url: string;
  readonly limits: WsLimits;
  stats(): WsServerStats;
  /** Send unless the client is gone; closes a client whose unread replies exceed the limit. */
  send(socket: WebSocket, frame: Uint8Array): void;
  close(): Promise<void>;
}

interface ClientState {
  socket: WebSocket;
  raw: Socket;
  peer: string;
  /** Bytes received since the last complete message (what ws is holding for this client). */
  inFlight: number;
  /** When the current unfinished message started (null: none). */
  partialSince: number | null;
  lastSeen: number;
  pinged: boolean;
}

/** Bytes of a client frame's header for a payload of n bytes (clients always mask: +4). */
function frameOverhead(n: number): number {
  return 2 + 4 + (n >= 65536 ? 8 : n >= 126 ? 2 : 0);
}

function tokenMatches(given: string | null, token: string): boolean {
  if (given === null) return false;
  // Hash both so the comparison is constant-time whatever the lengths.
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(token).digest();
  return timingSafeEqual(a, b);
}

function requestToken(req: IncomingMessage): string | null {
  const auth = req.headers.authorization;
  if (typeof auth === 'string' && /^Bearer /i.test(auth)) return auth.slice(7).trim();
  try {
    return new URL(req.url ?? '/', 'http://x').searchParams.get('token');
  } catch {
    return null;
  }
}

/** A WebSocket server on its own HTTP server, with the limits above. */
export async function listenWs(options: ListenWsOptions): Promise<LimitedWsServer> {
  const name = options.name;
  const host = options.host ?? '127.0.0.1';
  const limits = resolveWsLimits(options.limits, name);
  const log = options.log ?? (() => {});
  const token = options.token;
  if (token !== undefined && token.length < 8) throw new Error(`${name}: the token must be at least 8 characters`);
  if (!isLoopback(host) && !token) {
    throw new Error(
      `${name}: refusing to listen on ${host} without a token: the protocol is unauthenticated, so a server reachable from the network needs one (or bind 127.0.0.1)`,
    );
  }

  const closedBy: Record<string, number> = {};
  const clients = new Map<WebSocket, ClientState>();
  const handshaking = new Set<Socket>();
  let bytesInFlight = 0;
  /** Connections not read from while bytes in flight are over the limit. */
  const paused = new Set<ClientState>();
  let pausedBy = 0;
  const resumeIfRoom = () => {
    if (bytesInFlight > limits.maxBytesInFlight) return;
    for (const s of paused) s.raw.resume();
    paused.clear();
  };

  const drop = (state: ClientState, code: number, reason: string) => {
    closedBy[reason] = (closedBy[reason] ?? 0) + 1;
    log(`${name}: closing client ${state.peer}: ${reason}`);
    forget(state);
    // Best effort: the close frame goes out if the socket takes it at once; then the socket is
    // destroyed so what ws buffered for it is released now rather than after a closing handshake.
    try {
      if (state.socket.readyState === WebSocket.OPEN) state.socket.close(code, reason);
    } catch {
      // a socket in a bad state: terminate below still frees it
    }
    state.socket.terminate();
  };
  const forget = (state: ClientState) => {
    if (!clients.delete(state.socket)) return;
    paused.delete(state);
    bytesInFlight -= state.inFlight;
    state.inFlight = 0;
    resumeIfRoom();
  };

  const http: Server = createServer(
    {
      // Node's own limits for a request (an upgrade included) whose headers are slow to arrive.
      headersTimeout: limits.handshakeTimeoutMs,
      requestTimeout: limits.handshakeTimeoutMs,
      connectionsCheckingInterval: Math.max(50, Math.min(30_000, Math.floor(limits.handshakeTimeoutMs / 4))),
    },
    (req, res) => {
      if (options.onRequest) return options.onRequest(req, res);
      res.writeHead(426, { 'content-type': 'text/plain' });
      res.end(`${name}: this is a WebSocket endpoint (docs/remote-protocol.md)\n`);
    },
  );
  // Node refuses TCP connections beyond this; the slack lets a few over-limit upgrades get a 503 with a reason.
  http.maxConnections = limits.maxConnections + 8;
  http.on('connection', (socket: Socket) => {
    handshaking.add(socket);
    // Node's headersTimeout does not cover a socket that never sends a byte: time the handshake here.
    const timer = setTimeout(() => {
      if (!handshaking.has(socket)) return;
      closedBy['handshake timeout'] = (closedBy['handshake timeout'] ?? 0) + 1;
      log(`${name}: closing ${socket.remoteAddress}:${socket.remotePort}: no WebSocket handshake within ${limits.handshakeTimeoutMs} ms`);
      socket.destroy();
    }, limits.handshakeTimeoutMs);
    timer.unref();
    const done = () => {
      clearTimeout(timer);
      handshaking.delete(socket);
    };
    socket.once('close', done);
    (socket as Socket & { dsrlHandshakeDone?: () => void }).dsrlHandshakeDone = done;
  });

  const wss = new WebSocketServer({
    server: http,
    maxPayload: limits.maxPayloadBytes,
    perMessageDeflate: false, // compressed frames would make the byte limits meaningless
    clientTracking: false, // tracked here, with their byte counts
    verifyClient: (info: { req: IncomingMessage }, callback: (ok: boolean, code?: number, message?: string) => void) => {
      const refused = options.verifyUpgrade?.(info.req);
      if (refused) return callback(false, 403, refused);
      if (token && !tokenMatches(requestToken(info.req), token)) return callback(false, 401, 'missing or wrong token');
      if (clients.size >= limits.maxConnections) return callback(false, 503, `too many connections (limit ${limits.maxConnections})`);
      callback(true);
    },
  });
  wss.on('error', (err) => log(`${name} error: ${err.message}`));

  wss.on('connection', (socket: WebSocket, req: IncomingMessage) => {
    const raw = req.socket as Socket & { dsrlHandshakeDone?: () => void };
    raw.dsrlHandshakeDone?.();
    const peer = `${raw.remoteAddress}:${raw.remotePort}`;
    const state: ClientState = { socket, raw, peer, inFlight: 0, partialSince: null, lastSeen: Date.now(), pinged: false };
    clients.set(socket, state);
    // Count bytes before ws parses them (prepended), and subtract each complete message below.
    raw.prependListener('data', (chunk: Buffer) => {
      if (!clients.has(socket)) return;
      if (state.inFlight === 0) state.partialSince = Date.now();
      state.inFlight += chunk.length;
      bytesInFlight += chunk.length;
      if (bytesInFlight > limits.maxBytesInFlight && !paused.has(state)) {
        // Back-pressure rather than a close: the rest waits in the kernel and on the sender's side until
        // others finish or time out. Closing instead lets the next sender refill the budget before the
        // closed one's buffers are collected, and the process's peak memory overshoots the limit.
        paused.add(state);
        raw.pause();
        pausedBy++;
      }
    });
    const completed = (n: number) => {
      state.lastSeen = Date.now();
      state.pinged = false;
      const sub = Math.min(state.inFlight, n + frameOverhead(n));
      state.inFlight -= sub;
      bytesInFlight -= sub;
      state.partialSince = state.inFlight > 0 ? Date.now() : null;
      resumeIfRoom();
    };
    socket.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => {
      completed(Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : data.byteLength);
    });
    socket.on('pong', (data: Buffer) => completed(data.length));
    socket.on('ping', (data: Buffer) => completed(data.length));
    socket.on('close', () => forget(state));
    socket.on('error', (err) => log(`${name}: client ${peer}: ${err.message}`));
    options.onConnection(socket, peer);
  });

  // One timer checks every client: an unfinished message too old, a silent connection, a ping due.
  const tick = Math.max(20, Math.min(1000, Math.floor(Math.min(limits.partialFrameTimeoutMs, limits.idleTimeoutMs) / 4)));
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const state of [...clients.values()]) {
      if (state.partialSince !== null && now - state.partialSince > limits.partialFrameTimeoutMs) {
        drop(state, 1008, `a message was left unfinished for over ${limits.partialFrameTimeoutMs} ms`);
      } else if (now - state.lastSeen > limits.idleTimeoutMs) {
        drop(state, 1001, `no message or pong for over ${limits.idleTimeoutMs} ms`);
      } else if (!state.pinged && now - state.lastSeen > limits.idleTimeoutMs / 2 && state.socket.readyState === WebSocket.OPEN) {
        state.pinged = true;
        state.socket.ping();
      }
    }
  }, tick);
  sweep.unref();

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      clearInterval(sweep);
      reject(new Error(`${name}: cannot listen on ${host}:${options.port ?? 0} (${err.code ? `${err.code}: ` : ''}${err.message})`));
    };
    http.once('error', onError);
    http.listen(options.port ?? 0, host, () => {
      http.off('error', onError);
      resolve();
    });
  });
  http.on('error', (err) => log(`${name} error: ${err.message}`));
  const address = http.address();
  const port = typeof address === 'object' && address ? address.port : (options.port ?? 0);

  return {
    host,
    port,
    url: `ws://${host.includes(':') ? `[${host}]` : host}:${port}`,
    limits,
    stats: () => ({ clients: clients.size, handshaking: handshaking.size, bytesInFlight, closedBy: { ...closedBy }, pausedForBytes: pausedBy }),
    send(socket, frame) {
      const state = clients.get(socket);
      if (!state || socket.readyState !== WebSocket.OPEN) return;
      if (socket.bufferedAmount + frame.length > limits.maxBufferedReplyBytes) {
        drop(state, 1008, `not reading its replies (over ${limits.maxBufferedReplyBytes} bytes unread)`);
        return;
      }
      socket.send(frame, { binary: true });
    },
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(sweep);
        for (const state of [...clients.values()]) {
          forget(state);
          state.socket.terminate();
        }
        for (const socket of handshaking) socket.destroy();
        wss.close();
        http.close(() => resolve());
        http.closeAllConnections();
      }),
  };
}
