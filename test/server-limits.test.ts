/**
 * Server limits under attack, on loopback only, each scenario bounded in requests and time:
 * - a client flooding the policy server with large requests it never reads must not starve a
 *   well-behaved client (bar: its request answered in < 1 s);
 * - 10 connections each stalling inside a 60 MiB frame must raise the server's RSS by < 100 MB, be
 *   closed within the partial-frame timeout, and leave RSS near where it started;
 * - silent sockets, half-sent upgrades, idle connections, too many connections and missing tokens
 *   are closed or refused within their limits.
 * Servers whose RSS or latency is measured run in a child process (test/fixtures/servers/), so the
 * test runner's heap and the attacking clients stay out of the numbers.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { resolveWsLimits } from '../src/node/ws-limits.ts';
import type { NoisePolicy } from '../src/policies/policy.ts';
import { connectRemotePolicy } from '../src/policies/remote.ts';
import { servePolicy, type PolicyServer } from '../src/policies/remote-server.ts';
import { encodeActRequest } from '../src/policies/remote-protocol.ts';

const DIMS = { obsDim: 11, actDim: 3, chunk: 4 };
const MiB = 1024 * 1024;
const FIXTURE = fileURLToPath(new URL('./fixtures/servers/slow-policy-server.ts', import.meta.url));

interface ChildStats {
  rss: number;
  stats?: { clients: number; bytesInFlight: number; closedBy: Record<string, number>; queued: number; pausedForBytes: number };
  answered: number;
  refused: number;
}

const children: ChildProcess[] = [];
const sockets: Socket[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const c of children.splice(0)) c.kill('SIGKILL');
});

/** Start the fixture server; resolves with its URL and a stats probe. */
async function childServer(config: Record<string, unknown>): Promise<{ url: string; port: number; stats: () => Promise<ChildStats> }> {
  const child = fork(FIXTURE, [JSON.stringify(config)], {
    execArgv: ['--import', 'tsx', '--expose-gc'],
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  children.push(child);
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n')[0];
      if (out.includes('\n')) resolve(line.trim());
    });
    child.once('exit', (code) => reject(new Error(`fixture server exited (${code})`)));
  });
  const stats = () =>
    new Promise<ChildStats>((resolve) => {
      child.once('message', (m) => resolve(m as ChildStats));
      child.send('stats');
    });
  return { url, port: Number(new URL(url).port), stats };
}

/** A raw TCP client that completes the WebSocket upgrade by hand, so it can misbehave at the byte level. */
/** A raw WebSocket client socket past its upgrade; `received` collects every byte the server sent after the 101 headers. */
async function rawWs(port: number): Promise<Socket & { received: Buffer[] }> {
  const socket = Object.assign(connect(port, '127.0.0.1'), { received: [] as Buffer[] });
  sockets.push(socket);
  socket.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => {
      socket.write(
        'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      );
    });
    let head = '';
    let upgraded = false;
    // One listener for the socket's life: frames can arrive in the same chunk as the 101 headers.
    socket.on('data', (d: Buffer) => {
      if (upgraded) {
        socket.received.push(d);
        return;
      }
      head += d.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      upgraded = true;
      const rest = Buffer.from(head.slice(end + 4), 'latin1');
      if (rest.length > 0) socket.received.push(rest);
      if (head.startsWith('HTTP/1.1 101')) resolve();
      else reject(new Error(`upgrade refused: ${head.split('\r\n')[0]}`));
    });
    socket.once('close', () => reject(new Error('closed during the upgrade')));
  });
  return socket;
}

/** The header of one masked binary client frame announcing `length` payload bytes (mask key 0: payload as is). */
function frameHeader(length: number): Buffer {
  if (length < 126) return Buffer.from([0x82, 0x80 | length, 0, 0, 0, 0]);
  if (length < 65536) return Buffer.from([0x82, 0x80 | 126, length >> 8, length & 255, 0, 0, 0, 0]);
  const h = Buffer.alloc(14);
  h[0] = 0x82;
  h[1] = 0x80 | 127;
  h.writeBigUInt64BE(BigInt(length), 2);
  return h;
}

/** When the socket closes (resumed: a paused socket never reads the end of the stream). */
const closed = (socket: Socket) =>
  new Promise<number>((resolve) => {
    if (socket.destroyed) return resolve(Date.now());
    socket.once('close', () => resolve(Date.now()));
    socket.resume();
  });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('policy server under a flooding client', () => {
  it('answers a well-behaved client in < 1 s while another floods it with batch-4096 requests and never reads', async () => {
    // 150 ms per batch-4096 act; the flood is 60 of them (9 s of work if served in arrival order).
    const server = await childServer({ msPerFullBatch: 150 });
    const flood = await rawWs(server.port);
    flood.pause(); // never reads a reply
    const batch = 4096;
    const request = encodeActRequest(1, new Float32Array(batch * DIMS.obsDim), new Float32Array(batch * DIMS.chunk * DIMS.actDim), batch, DIMS);
    for (let i = 0; i < 60; i++) {
      new DataView(request.buffer).setUint8(0, request[0]); // same frame; ids need not be unique for this test
      flood.write(Buffer.concat([frameHeader(request.length), Buffer.from(request)]));
    }
    await sleep(300); // the server is busy with the flood now

    const t0 = performance.now();
    const client = await connectRemotePolicy(server.url, { timeoutMs: 4000, retries: 0 });
    const connectMs = performance.now() - t0;
    try {
      const t1 = performance.now();
      const actions = await client.act(new Float32Array(DIMS.obsDim), new Float32Array(DIMS.chunk * DIMS.actDim), 1);
      const actMs = performance.now() - t1;
      expect(actions.length).toBe(DIMS.chunk * DIMS.actDim);
      console.log(`flood: hello after ${connectMs.toFixed(0)} ms, request answered after ${actMs.toFixed(0)} ms`);
      // The bar (issue 16): the request answered in < 1 s; the hello must not wait for the backlog either.
      expect(actMs).toBeLessThan(1000);
      expect(connectMs).toBeLessThan(1000);
    } finally {
      client.close();
    }
    // Which flood limit engages here (busy refusals, a read pause for bytes in flight) depends on the machine's
    // speed: on a quiet one neither needs to within the test. Each has its own test in this file (the busy
    // queue; memory under stalled 60 MiB frames); this one holds the latency bar.
    const s = await server.stats();
    console.log(`flood: ${s.answered} answered, ${s.refused} refused as busy, ${s.stats?.pausedForBytes ?? 0} read pauses`);
  }, 20_000);
});

describe('policy server memory under stalled partial frames', () => {
  it('10 connections stalling in a 60 MiB frame: RSS +< 100 MB, closed within the timeout, RSS back near its start', async () => {
    const partialFrameTimeoutMs = 1500;
    // The old default payload limit (64 MiB) on purpose: the byte and time limits must hold by themselves.
    const server = await childServer({ maxPayloadBytes: 64 * MiB, limits: { partialFrameTimeoutMs } });
    const start = (await server.stats()).rss;
    const payload = Buffer.alloc(60 * MiB, 7); // shared by all ten writes (no copies on this side)
    const attackers = await Promise.all(Array.from({ length: 10 }, () => rawWs(server.port)));
    const t0 = Date.now();
    const closedAt = attackers.map(closed);
    for (const s of attackers) {
      s.write(frameHeader(63 * MiB));
      s.write(payload); // then stall: the remaining 3 MiB never come
    }
    let peak = start;
    const deadline = t0 + partialFrameTimeoutMs + 5000;
    let allClosed = false;
    void Promise.all(closedAt).then(() => (allClosed = true));
    while (!allClosed && Date.now() < deadline) {
      peak = Math.max(peak, (await server.stats()).rss);
      await sleep(100);
    }
    const lastClose = Math.max(...(await Promise.race([Promise.all(closedAt), sleep(0).then(() => [Infinity])])));
    // The server tears the sockets down asynchronously; their buffers are collectable after that.
    // The buffers themselves (arrayBuffers) are what must be returned; RSS follows as the allocator gives pages
    // back, which on a loaded machine takes a while: +64 MiB is well below the +596 MiB of a server without limits.
    let after = await server.stats();
    const back = (a: typeof after) => a.rss - start < 64 * MiB && (a as unknown as { arrayBuffers: number }).arrayBuffers < 16 * MiB;
    for (const until = Date.now() + 5000; !back(after) && Date.now() < until; after = await server.stats()) await sleep(100);
    console.log(
      `partial frames: RSS start ${(start / MiB).toFixed(0)} MiB, peak +${((peak - start) / MiB).toFixed(0)} MiB, ` +
        `after +${((after.rss - start) / MiB).toFixed(0)} MiB (array buffers ${((after as unknown as { arrayBuffers: number }).arrayBuffers / MiB).toFixed(0)} MiB); all closed ${lastClose - t0} ms after the first byte; closed by ${JSON.stringify(after.stats?.closedBy)}`,
    );
    expect(allClosed).toBe(true);
    expect(lastClose - t0).toBeLessThan(partialFrameTimeoutMs + 2000);
    expect(peak - start).toBeLessThan(100 * MiB);
    expect((after as unknown as { arrayBuffers: number }).arrayBuffers).toBeLessThan(16 * MiB);
    expect(after.rss - start).toBeLessThan(64 * MiB);
    expect(after.stats?.bytesInFlight).toBe(0);
  }, 20_000);

  it('with the default payload limit a 60 MiB frame is refused as soon as its header announces it', async () => {
    const server = await childServer({});
    const s = await rawWs(server.port);
    const t0 = Date.now();
    s.write(frameHeader(60 * MiB));
    await closed(s);
    // Server frames: the hello, then a close frame with code 1009 (message too big).
    const bytes = Buffer.concat(s.received);
    const frames: { opcode: number; payload: Buffer }[] = [];
    for (let off = 0; off < bytes.length;) {
      let len = bytes[off + 1] & 0x7f;
      let head = 2;
      if (len === 126) [len, head] = [bytes.readUInt16BE(off + 2), 4];
      else if (len === 127) [len, head] = [Number(bytes.readBigUInt64BE(off + 2)), 10];
      frames.push({ opcode: bytes[off] & 0x0f, payload: bytes.subarray(off + head, off + head + len) });
      off += head + len;
    }
    expect(frames.map((f) => f.opcode)).toEqual([0x2, 0x8]);
    expect(frames[1].payload.readUInt16BE(0)).toBe(1009);
    expect(Date.now() - t0).toBeLessThan(1000);
  }, 10_000);
});

describe('connection limits and timeouts', () => {
  const stub: NoisePolicy = {
    ...DIMS,
    actionLow: Float32Array.from([-1, -1, -1]),
    actionHigh: Float32Array.from([1, 1, 1]),
    act: (_o, _n, batch) => new Float32Array(batch * 12),
  };
  let server: PolicyServer | null = null;
  afterEach(async () => {
    await server?.close();
    server = null;
  });

  it('closes a silent TCP socket, a half-sent upgrade, slowloris frames and an idle connection within their timeouts', async () => {
    const limits = { handshakeTimeoutMs: 300, partialFrameTimeoutMs: 300, idleTimeoutMs: 600 };
    server = await servePolicy(stub, { limits });
    const t0 = Date.now();
    const silent = connect(server.port, '127.0.0.1');
    const half = connect(server.port, '127.0.0.1', () => half.write('GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n'));
    sockets.push(silent, half);
    for (const s of [silent, half]) s.on('error', () => {});
    const slow = await Promise.all(Array.from({ length: 20 }, () => rawWs(server!.port)));
    for (const s of slow) s.write(Buffer.concat([frameHeader(200), Buffer.alloc(10)])); // 10 of 200 bytes, then nothing
    const idle = await rawWs(server.port); // a raw socket answers no ping
    const [tSilent, tHalf] = await Promise.all([closed(silent), closed(half)]);
    const tSlow = Math.max(...(await Promise.all(slow.map(closed))));
    const tIdle = await closed(idle);
    expect(tSilent - t0).toBeLessThan(300 + 700);
    expect(tHalf - t0).toBeLessThan(300 + 700);
    expect(tSlow - t0).toBeLessThan(300 + 700);
    expect(tIdle - t0).toBeGreaterThanOrEqual(600);
    expect(tIdle - t0).toBeLessThan(600 + 700);
    const stats = server.stats();
    expect(stats).toMatchObject({ clients: 0, handshaking: 0, bytesInFlight: 0 });
  }, 10_000);

  it('keeps an active client that answers pings past the idle timeout', async () => {
    server = await servePolicy(stub, { limits: { idleTimeoutMs: 300 } });
    const client = await connectRemotePolicy(server.url, { retries: 0 });
    try {
      await sleep(800); // the ws client answers the server's pings by itself
      expect((await client.act(new Float32Array(11), new Float32Array(12), 1)).length).toBe(12);
    } finally {
      client.close();
    }
  });

  it('refuses connections over the cap with a reason, and takes new ones once others leave', async () => {
    server = await servePolicy(stub, { limits: { maxConnections: 2 } });
    const a = await connectRemotePolicy(server.url, { retries: 0 });
    const b = await connectRemotePolicy(server.url, { retries: 0 });
    await expect(connectRemotePolicy(server.url, { retries: 0 })).rejects.toThrow(/connection limit \(HTTP 503\)/);
    a.close();
    await sleep(50);
    const c = await connectRemotePolicy(server.url, { retries: 0 });
    b.close();
    c.close();
  });

  it('requires a token off loopback, and checks it', async () => {
    await expect(servePolicy(stub, { host: '0.0.0.0' })).rejects.toThrow(/refusing to listen on 0\.0\.0\.0 without a token/);
    server = await servePolicy(stub, { token: 'correct horse battery' });
    await expect(connectRemotePolicy(server.url, { retries: 0 })).rejects.toThrow(/refused the token \(HTTP 401\)/);
    await expect(connectRemotePolicy(server.url, { retries: 0, token: 'wrong horse battery' })).rejects.toThrow(/HTTP 401/);
    const ok = await connectRemotePolicy(server.url, { retries: 0, token: 'correct horse battery' });
    ok.close();
  });

  it('refuses a request queue over the per-connection limit as busy, and the client stays within the announced limit', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    const slow: NoisePolicy = { ...stub, act: async (_o, _n, batch) => (await gate, new Float32Array(batch * 12)) };
    server = await servePolicy(slow, { maxQueuedPerConnection: 2, maxBatch: 1 });
    // Through the client: a batch of 5 split into 5 requests, at most 2 in flight: all answered.
    const client = await connectRemotePolicy(server.url, { retries: 0 });
    expect(client.hello.maxQueued).toBe(2);
    const pending = client.act(new Float32Array(5 * 11), new Float32Array(5 * 12), 5);
    // By hand: three requests at once on a raw socket, the third refused.
    const socket = new WebSocket(server.url);
    const replies: Buffer[] = [];
    socket.on('message', (d) => replies.push(d as Buffer));
    await new Promise((resolve) => socket.once('open', resolve));
    for (let id = 1; id <= 3; id++) socket.send(encodeActRequest(id, new Float32Array(11), new Float32Array(12), 1, DIMS));
    await sleep(100);
    release();
    expect((await pending).length).toBe(60);
    await sleep(100);
    const { decodeServerMessage } = await import('../src/policies/remote-protocol.ts');
    const msgs = replies.map((r) => decodeServerMessage(new Uint8Array(r)));
    expect(msgs.filter((m) => m.type === 'error').map((m) => m.type === 'error' && [m.id, m.code])).toEqual([[3, 'busy']]);
    expect(msgs.filter((m) => m.type === 'actions')).toHaveLength(2);
    socket.terminate();
    client.close();
  });

  it('checks its limits', () => {
    expect(() => resolveWsLimits({ maxConnections: 0 })).toThrow(/maxConnections must be a positive integer, got 0/);
    expect(() => resolveWsLimits({ maxPayloadBytes: 128 * MiB })).toThrow(/maxBytesInFlight \(67108864\) must be at least maxPayloadBytes/);
  });
});
