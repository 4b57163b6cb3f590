/**
 * The operator's web page and its WebSocket (docs/operator.md): `GET /` is the page (operator-page.ts),
 * the WebSocket (any path; the page uses /ws) takes `{"type": "command", "action": <OperatorAction>}` and
 * `{"type": "teleop", "action": [...] | null}` (a takeover, checked by Operator.teleop; a refused one gets
 * `{"type": "error", "line"}` and a log line) and pushes `{"type": "status", "status", "line"}` on connect
 * and on every change. A command is applied in the message handler itself, so an emergency stop reaches
 * the robot's socket in the same event-loop turn. Each connection is its own teleop source ("page N"); its
 * takeover ends when it closes, and a timer ends a takeover whose page went silent (Operator's timeout).
 *
 * Limits: ws-limits.ts's (connections, bytes, handshake and idle timeouts) with small values, since a
 * command is a few dozen bytes. Access: loopback by default; another address needs a token
 * (DSRL_OPERATOR_TOKEN; the page URL printed at start carries it as `?token=`). On loopback without a
 * token, the Host header must name a loopback host (DNS rebinding) and a browser's Origin must be the
 * page's own, so another site open in the same browser cannot press the buttons. Node only.
 */
import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import { OPERATOR_ACTIONS, type Operator, type OperatorAction } from '../envs/operator/operator.ts';
import { OPERATOR_PAGE } from './operator-page.ts';
import { isLoopback, listenWs, type LimitedWsServer, type WsLimits } from './ws-limits.ts';

export const OPERATOR_LIMITS: Partial<WsLimits> = {
  maxConnections: 8,
  maxPayloadBytes: 1024,
  maxBytesInFlight: 64 * 1024,
  maxBufferedReplyBytes: 1 << 20,
  handshakeTimeoutMs: 10_000,
  partialFrameTimeoutMs: 5_000,
  idleTimeoutMs: 120_000,
};

export interface OperatorServerOptions {
  operator: Operator;
  host?: string;
  /** 0: any free port. */
  port?: number;
  token?: string;
  limits?: Partial<WsLimits>;
  log?: (line: string) => void;
}

export interface OperatorServer {
  /** The page's URL (with the token, when there is one). */
  readonly url: string;
  /** The WebSocket's URL (without the token). */
  readonly wsUrl: string;
  readonly port: number;
  readonly ws: LimitedWsServer;
  close(): Promise<void>;
}

const encoder = new TextEncoder();

function hostName(hostHeader: string | undefined): string | null {
  if (!hostHeader) return null;
  const m = /^(\[[^\]]+\]|[^:]+)(?::\d+)?$/.exec(hostHeader);
  return m ? m[1].replace(/^\[|\]$/g, '') : null;
}

export async function startOperatorServer(options: OperatorServerOptions): Promise<OperatorServer> {
  const { operator, token } = options;
  const host = options.host ?? '127.0.0.1';
  const log = options.log ?? (() => {});
  const sockets = new Set<WebSocket>();
  // Without a token the server is on loopback (listenWs refuses otherwise): only a loopback Host is served.
  const hostRefused = (req: IncomingMessage): string | null => {
    if (token) return null;
    const name = hostName(req.headers.host);
    return name !== null && isLoopback(name) ? null : `Host ${JSON.stringify(req.headers.host ?? '')} is not a loopback name`;
  };
  let server: LimitedWsServer | null = null;
  let connections = 0;
  const frame = (msg: unknown) => encoder.encode(JSON.stringify(msg));
  const reply = (socket: WebSocket, msg: unknown) => server?.send(socket, frame(msg));

  const onMessage = (socket: WebSocket, source: string, data: unknown, isBinary: boolean) => {
    let action: unknown;
    let type: unknown;
    try {
      const text = isBinary ? '' : String(data);
      const msg = JSON.parse(text) as { type?: unknown; action?: unknown };
      type = msg?.type;
      if (type !== 'command' && type !== 'teleop') throw new Error(`expected {"type": "command" or "teleop", "action": ...}`);
      action = msg.action;
    } catch (err) {
      reply(socket, { type: 'error', line: `operator page: bad message (${(err as Error).message})` });
      return;
    }
    if (type === 'teleop') {
      const res = operator.teleop(action, source);
      if (!res.accepted) {
        const line = `operator page: teleop from ${source} refused: ${res.line}`;
        log(line);
        reply(socket, { type: 'error', teleop: true, line });
      }
      return;
    }
    if (!OPERATOR_ACTIONS.includes(action as OperatorAction)) {
      reply(socket, {
        type: 'error',
        line: `operator page: unknown action ${JSON.stringify(action)} (expected one of ${OPERATOR_ACTIONS.join(', ')})`,
      });
      return;
    }
    const res = operator.command(action as OperatorAction, 'page');
    // An accepted command's line reaches every page with the status; a refused one only its sender.
    if (!res.accepted) reply(socket, { type: 'result', status: operator.status(), line: res.line });
  };

  server = await listenWs({
    name: 'operator page',
    host,
    port: options.port ?? 0,
    token,
    limits: { ...OPERATOR_LIMITS, ...options.limits },
    log,
    onRequest(req, res) {
      const path = (req.url ?? '/').split('?')[0];
      const refused = hostRefused(req);
      if (refused) {
        res.writeHead(403, { 'content-type': 'text/plain' });
        res.end(`operator page: ${refused}\n`);
      } else if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { 'content-type': 'text/plain', allow: 'GET, HEAD' });
        res.end('operator page: only GET\n');
      } else if (path !== '/' && path !== '/index.html') {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('operator page: not found\n');
      } else {
        res.writeHead(200, {
          'content-type': 'text/html; charset=utf-8',
          'cache-control': 'no-store',
          'x-frame-options': 'DENY',
          'content-security-policy': "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'",
        });
        res.end(req.method === 'HEAD' ? undefined : OPERATOR_PAGE);
      }
    },
    verifyUpgrade(req) {
      const refused = hostRefused(req);
      if (refused) return refused;
      const origin = req.headers.origin;
      // Browsers always send Origin; other clients (scripts, tests) need not.
      if (!token && origin !== undefined && origin !== `http://${req.headers.host}`) return `cross-origin WebSocket from ${origin} refused`;
      return null;
    },
    onConnection(socket) {
      const source = `page ${++connections}`;
      sockets.add(socket);
      socket.on('close', () => {
        sockets.delete(socket);
        operator.endTakeover(source, 'its page closed');
      });
      socket.on('message', (data, isBinary) => onMessage(socket, source, data, isBinary));
      reply(socket, { type: 'status', status: operator.status(), line: 'connected' });
    },
  });
  const removeListener = operator.onChange((status, line) => {
    const bytes = frame({ type: 'status', status, line });
    for (const s of sockets) server!.send(s, bytes);
  });
  // Ends a silent page's takeover on the page's display too (no chunk uses a stale action in any case).
  const expiry = setInterval(() => operator.takeoverAction(), 50);
  expiry.unref();
  const base = `http://${server.host.includes(':') ? `[${server.host}]` : server.host}:${server.port}/`;
  return {
    url: token ? `${base}?token=${encodeURIComponent(token)}` : base,
    wsUrl: `${server.url}/ws`,
    port: server.port,
    ws: server,
    async close() {
      clearInterval(expiry);
      removeListener();
      await server!.close();
    },
  };
}
