/**
 * The remote policy server (Node only; protocol in remote-protocol.ts and docs/remote-protocol.md):
 * servePolicy(policy, {host, port}) answers `act` requests from any number of clients. It binds 127.0.0.1
 * unless told otherwise: a policy server has no authentication, so exposing it is a choice. Malformed
 * requests get an error reply and the connection stays usable; nothing a client sends can crash the server.
 * The client is remote.ts.
 */
import { WebSocket } from 'ws';
import { DEFAULT_WS_LIMITS, listenWs, type WsLimits, type WsServerStats } from '../node/ws-limits.ts';
import type { NoisePolicy } from './policy.ts';
import {
  decodeActRequest,
  encodeActionsReply,
  encodeErrorReply,
  encodeHello,
  MAX_HEADER_BYTES,
  ProtocolError,
  type ActRequest,
  type ErrorCode,
} from './remote-protocol.ts';
import { toBytes, errorText } from './remote-ws.ts';

export interface ServePolicyOptions {
  /** Interface to bind (default 127.0.0.1, loopback only; any other address needs `token`). */
  host?: string;
  /** Port (default 0: an ephemeral port; read it back from the result). */
  port?: number;
  /** Largest batch accepted per request (default 4096). */
  maxBatch?: number;
  /**
   * Largest message accepted, in bytes; larger ones close the connection (code 1009) as soon as their
   * frame header announces them. Default: the largest valid request (maxBatch rows plus a full header).
   */
  maxPayloadBytes?: number;
  /** Requests one connection may have waiting or running (default 8); more are refused with `busy`. */
  maxQueuedPerConnection?: number;
  /** Bytes of decoded requests waiting, over all connections (default 64 MiB); more are refused with `busy`. */
  maxQueuedBytes?: number;
  /** Connection, byte and time limits (src/node/ws-limits.ts); maxPayloadBytes above wins over limits.maxPayloadBytes. */
  limits?: Partial<WsLimits>;
  /** Required of clients (Authorization: Bearer, or ?token=); required to bind a non-loopback address. */
  token?: string;
  /** Free-form description sent in the hello (producer, env id, model file). */
  info?: Record<string, unknown>;
  /** Where to report connections and refused requests (default: nowhere). */
  log?: (line: string) => void;
}

export interface PolicyServer {
  readonly host: string;
  readonly port: number;
  /** ws://host:port */
  readonly url: string;
  /** Requests answered with actions so far. */
  readonly answered: number;
  /** Requests answered with an error so far. */
  readonly refused: number;
  /** Connections, bytes in flight, requests waiting, connections closed by a limit. */
  stats(): WsServerStats & { queued: number; queuedBytes: number };
  close(): Promise<void>;
}

/** The largest valid `act` frame for these dims: fixed header, the longest header JSON, obs and noise. */
export function maxActFrameBytes(dims: { obsDim: number; actDim: number; chunk: number }, maxBatch: number): number {
  return 12 + MAX_HEADER_BYTES + 4 * maxBatch * (dims.obsDim + dims.chunk * dims.actDim);
}

/** Let the event loop run its I/O phase (accept, read, write) before the next request. */
const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

interface Client {
  socket: WebSocket;
  peer: string;
  queue: { request: ActRequest; bytes: number }[];
  running: boolean;
  gone: boolean;
}

export async function servePolicy(policy: NoisePolicy, options: ServePolicyOptions = {}): Promise<PolicyServer> {
  const maxBatch = options.maxBatch ?? 4096;
  const maxQueued = options.maxQueuedPerConnection ?? 8;
  const maxQueuedBytes = options.maxQueuedBytes ?? 64 * 1024 * 1024;
  for (const [name, v] of [
    ['maxBatch', maxBatch],
    ['maxQueuedPerConnection', maxQueued],
    ['maxQueuedBytes', maxQueuedBytes],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < 1) throw new Error(`policy server: ${name} must be a positive integer, got ${v}`);
  }
  const log = options.log ?? (() => {});
  const dims = { obsDim: policy.obsDim, actDim: policy.actDim, chunk: policy.chunk };
  const maxPayloadBytes = options.maxPayloadBytes ?? options.limits?.maxPayloadBytes ?? maxActFrameBytes(dims, maxBatch);
  const limits: Partial<WsLimits> = {
    ...options.limits,
    maxPayloadBytes,
    maxBytesInFlight: options.limits?.maxBytesInFlight ?? Math.max(DEFAULT_WS_LIMITS.maxBytesInFlight, maxPayloadBytes),
  };
  const hello = encodeHello({
    ...dims,
    actionLow: Array.from(policy.actionLow),
    actionHigh: Array.from(policy.actionHigh),
    maxBatch,
    maxQueued,
    ...(options.info ? { info: options.info } : {}),
  });

  let answered = 0;
  let refused = 0;
  let queuedBytes = 0;
  let queuedCount = 0;
  // Connections with waiting requests, served round-robin: one request from each in turn, so a client
  // that floods the server waits behind itself, not in front of everyone else.
  const ring: Client[] = [];
  let pumping = false;

  const refuse = (client: Client, id: number | null, code: ErrorCode, message: string) => {
    refused++;
    log(`policy server: refused ${id === null ? 'a request' : `request ${id}`} from ${client.peer}: ${message}`);
    server.send(client.socket, encodeErrorReply(id, code, message));
  };

  const dequeue = (client: Client) => {
    const item = client.queue.shift()!;
    queuedBytes -= item.bytes;
    queuedCount--;
    return item.request;
  };

  // One act at a time across all clients (a policy may reuse its output buffer between calls), with a
  // turn of the event loop between requests: a synchronous policy would otherwise hold the loop for the
  // whole backlog, and no hello, connection or other client's request would get through meanwhile.
  const pump = async () => {
    if (pumping) return;
    pumping = true;
    try {
      while (ring.length > 0) {
        const client = ring.shift()!;
        if (client.gone || client.queue.length === 0) continue;
        const { id, batch, obs, noise } = dequeue(client);
        if (client.queue.length > 0) ring.push(client);
        client.running = true;
        try {
          // Encode before the next act can overwrite a reused output buffer.
          const frame = encodeActionsReply(id, await policy.act(obs, noise, batch), batch, dims.chunk, dims.actDim);
          answered++;
          server.send(client.socket, frame);
        } catch (err) {
          refuse(client, id, 'policy-error', `the policy failed: ${errorText(err)}`);
        }
        client.running = false;
        await yieldToLoop();
      }
    } finally {
      pumping = false;
    }
  };

  const onConnection = (socket: WebSocket, peer: string) => {
    const client: Client = { socket, peer, queue: [], running: false, gone: false };
    log(`policy server: client ${peer} connected`);
    // The hello goes out before this connection's (or anyone's) queued work is looked at.
    server.send(socket, hello);
    socket.on('close', () => {
      client.gone = true;
      while (client.queue.length > 0) dequeue(client); // its waiting requests are dropped, their memory freed
      log(`policy server: client ${peer} disconnected`);
    });
    socket.on('message', (data, isBinary) => {
      if (client.gone) return;
      if (!isBinary) {
        refuse(client, null, 'bad-request', 'text messages are not part of the protocol; send binary frames (see docs/remote-protocol.md)');
        return;
      }
      let request: ActRequest;
      try {
        request = decodeActRequest(toBytes(data), dims, maxBatch);
      } catch (err) {
        if (err instanceof ProtocolError) refuse(client, err.id, err.code, err.message);
        else refuse(client, null, 'bad-request', errorText(err));
        return;
      }
      const waiting = client.queue.length + (client.running ? 1 : 0);
      if (waiting >= maxQueued) {
        refuse(
          client,
          request.id,
          'busy',
          `this connection already has ${waiting} requests waiting (limit ${maxQueued}); send more after answers arrive`,
        );
        return;
      }
      const bytes = 4 * (request.obs.length + request.noise.length);
      if (queuedBytes + bytes > maxQueuedBytes) {
        refuse(client, request.id, 'busy', `the server has ${queuedBytes} bytes of requests waiting (limit ${maxQueuedBytes}); try again shortly`);
        return;
      }
      client.queue.push({ request, bytes });
      queuedBytes += bytes;
      queuedCount++;
      if (!ring.includes(client)) ring.push(client);
      void pump();
    });
  };

  const server = await listenWs({ name: 'policy server', host: options.host, port: options.port, limits, token: options.token, log, onConnection });

  return {
    host: server.host,
    port: server.port,
    url: server.url,
    get answered() {
      return answered;
    },
    get refused() {
      return refused;
    },
    stats: () => ({ ...server.stats(), queued: queuedCount, queuedBytes }),
    close: () => server.close(),
  };
}
