/**
 * Remote policies over loopback WebSocket: the client returns exactly (bitwise) what the local policy
 * returns; malformed requests get error replies and the server carries on; timeouts, servers that answer
 * with wrong shapes, dropped connections and dead servers give clear errors or recover.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { runServe } from '../src/cli/serve.ts';
import { Rng } from '../src/core/rng.ts';
import { loadPolicy } from '../src/policies/load.ts';
import { MlpNoisePolicy } from '../src/policies/mlp-noise-policy.ts';
import { saveOnnxPolicy } from '../src/policies/onnx.ts';
import { buildOnnxManifest } from '../src/policies/onnx-manifest.ts';
import type { NoisePolicy } from '../src/policies/policy.ts';
import { connectRemotePolicy } from '../src/policies/remote.ts';
import { servePolicy, type PolicyServer } from '../src/policies/remote-server.ts';
import {
  decodeActRequest,
  decodeFrame,
  decodeServerMessage,
  encodeActionsReply,
  encodeActRequest,
  encodeFrame,
  encodeHello,
  ProtocolError,
} from '../src/policies/remote-protocol.ts';

const DIMS = { obsDim: 11, actDim: 3, chunk: 4 };
const policy = new MlpNoisePolicy(
  { ...DIMS, hidden: [32, 32], activation: 'mish', layerNorm: true, actionLow: [-1, -2, 0], actionHigh: [1, 2, 0.5] },
  Rng.fromSeed(11),
);

function inputs(batch: number, rng: Rng): { obs: Float32Array; noise: Float32Array } {
  const obs = new Float32Array(batch * DIMS.obsDim);
  const noise = new Float32Array(batch * DIMS.chunk * DIMS.actDim);
  rng.fillNormal(obs);
  rng.fillNormal(noise);
  return { obs, noise };
}

function bits(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}

/** A hand-rolled server for misbehaviour: sends a hello, then does what `onRequest` says. */
async function fakeServer(
  onRequest: (socket: WebSocket, bytes: Uint8Array, connection: number) => void,
  hello = true,
): Promise<{ url: string; wss: WebSocketServer }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((resolve) => wss.once('listening', resolve));
  let connections = 0;
  wss.on('connection', (socket) => {
    const n = ++connections;
    if (hello) socket.send(encodeHello({ ...DIMS, actionLow: [-1, -1, -1], actionHigh: [1, 1, 1], maxBatch: 64 }));
    socket.on('message', (data) => onRequest(socket, new Uint8Array(data as Buffer), n));
  });
  const address = wss.address();
  return { url: `ws://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`, wss };
}

const closeAll = (wss: WebSocketServer) =>
  new Promise<void>((resolve) => {
    for (const c of wss.clients) c.terminate();
    wss.close(() => resolve());
  });

/** Send one raw message on a fresh socket and return the server's reply to it (after the hello). */
async function rawExchange(url: string, message: Uint8Array | string): Promise<ReturnType<typeof decodeServerMessage>> {
  const socket = new WebSocket(url);
  try {
    const replies: Uint8Array[] = [];
    await new Promise<void>((resolve, reject) => {
      socket.on('error', reject);
      socket.on('message', (data) => {
        replies.push(new Uint8Array(data as Buffer));
        if (replies.length === 1) socket.send(message);
        else resolve();
      });
    });
    expect(decodeServerMessage(replies[0]).type).toBe('hello');
    return decodeServerMessage(replies[1]);
  } finally {
    socket.terminate();
  }
}

describe('protocol framing', () => {
  it('round-trips headers and float32 bodies bit for bit, NaN payloads and -0 included', () => {
    const data = Float32Array.from([1.5, -0, Infinity, 3.4e38, 1e-45]);
    const u = bits(data);
    const odd = new Float32Array(6);
    bits(odd).set([0x7fc00001, 0xffbfffff, 0x00000001, 0x80000000, 0x3f800000, 0x7f7fffff]); // NaN payloads, denormal, -0
    const frame = encodeFrame({ type: 'x', id: 3 }, [
      ['a', [5], data],
      ['b', [2, 3], odd],
    ]);
    expect((frame.length - 12) % 4).toBe(0);
    const { header, bodies } = decodeFrame(frame);
    expect(header).toMatchObject({ type: 'x', id: 3 });
    expect(Array.from(bits(bodies.get('a')!.data))).toEqual(Array.from(u));
    expect(Array.from(bits(bodies.get('b')!.data))).toEqual(Array.from(bits(odd)));
    expect(bodies.get('b')!.shape).toEqual([2, 3]);
    // A frame at an odd offset inside a larger buffer (as Node's pooled Buffers are) decodes the same.
    const shifted = new Uint8Array(frame.length + 1);
    shifted.set(frame, 1);
    expect(Array.from(bits(decodeFrame(shifted.subarray(1)).bodies.get('a')!.data))).toEqual(Array.from(u));
  });

  it('rejects malformed frames with a reason', () => {
    const ok = encodeActRequest(7, new Float32Array(11), new Float32Array(12), 1, DIMS);
    const expectError = (bytes: Uint8Array, code: string, message: RegExp) => {
      try {
        decodeActRequest(bytes, DIMS, 8);
        expect.unreachable();
      } catch (err) {
        expect(err).toBeInstanceOf(ProtocolError);
        expect((err as ProtocolError).code).toBe(code);
        expect((err as Error).message).toMatch(message);
      }
    };
    expect(decodeActRequest(ok, DIMS, 8)).toMatchObject({ id: 7, batch: 1 });
    expectError(ok.subarray(0, 5), 'bad-request', /shorter than the 12-byte frame header/);
    expectError(new TextEncoder().encode('GET / HTTP/1.1 and more'), 'bad-request', /does not start with "DSRP"/);
    const v2 = ok.slice();
    v2[4] = 2;
    expectError(v2, 'unsupported-version', /protocol version 2 is not supported/);
    expectError(ok.subarray(0, ok.length - 4), 'bad-shape', /lists 92 bytes of float32 bodies but the message carries 88/);
    expectError(
      encodeActRequest(1, new Float32Array(10), new Float32Array(12), 1, { ...DIMS, obsDim: 10 }),
      'bad-shape',
      /obs has shape \[1, 10\], expected \[B, 11\]/,
    );
    expectError(
      encodeActRequest(1, new Float32Array(22), new Float32Array(12), 2, { ...DIMS, chunk: 2, actDim: 3 }),
      'bad-shape',
      /noise has shape \[2, 2, 3\], expected \[2, 4, 3\]/,
    );
    expectError(encodeActRequest(1, new Float32Array(99), new Float32Array(108), 9, DIMS), 'too-large', /batch 9 exceeds the server's limit of 8/);
    expectError(
      encodeFrame({ type: 'act', id: 1 }, [['obs', [1, 11], new Float32Array(11)]]),
      'bad-request',
      /needs bodies "obs" and "noise", got "obs"/,
    );
    expectError(encodeFrame({ type: 'hello' }), 'bad-request', /expected a request of type "act"/);
    // Non-finite inputs would come back as NaN actions (issue 16, defect 12).
    const nanObs = new Float32Array(22);
    nanObs[13] = NaN;
    expectError(encodeActRequest(4, nanObs, new Float32Array(24), 2, DIMS), 'bad-request', /obs row 1, column 2 is NaN; inputs must be finite/);
    const infNoise = new Float32Array(12);
    infNoise[5] = -Infinity;
    expectError(encodeActRequest(5, new Float32Array(11), infNoise, 1, DIMS), 'bad-request', /noise row 0, column 5 is -Infinity/);
  });
});

describe('remote policy over loopback', () => {
  let server: PolicyServer;
  beforeAll(async () => {
    server = await servePolicy(policy, { host: '127.0.0.1', port: 0, maxBatch: 256, info: { name: 'stand-in' } });
  });
  afterAll(async () => {
    await server.close();
  });

  it('binds loopback on an ephemeral port and announces dims and bounds', async () => {
    expect(server.url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/);
    expect(server.port).toBeGreaterThan(0);
    const remote = await connectRemotePolicy(server.url, { expect: { obsDim: 11, actDim: 3, chunk: 4 } });
    try {
      expect([remote.obsDim, remote.actDim, remote.chunk]).toEqual([11, 3, 4]);
      expect(Array.from(remote.actionLow)).toEqual([-1, -2, 0]);
      expect(Array.from(remote.actionHigh)).toEqual([1, 2, 0.5]);
      expect(remote.hello).toMatchObject({ maxBatch: 256, info: { name: 'stand-in' } });
    } finally {
      remote.close();
    }
  });

  it('returns exactly the local policy outputs (bitwise), sequentially and concurrently, from two clients', async () => {
    const a = await connectRemotePolicy(server.url);
    const b = await connectRemotePolicy(server.url);
    try {
      const rng = Rng.fromSeed('bitwise');
      for (const batch of [1, 7, 256]) {
        const { obs, noise } = inputs(batch, rng);
        const want = policy.act(obs, noise, batch).slice();
        expect(Array.from(bits(await a.act(obs, noise, batch)))).toEqual(Array.from(bits(want)));
      }
      const jobs = Array.from({ length: 12 }, (_, i) => ({ client: i % 2 ? a : b, batch: 1 + (i % 5), ...inputs(1 + (i % 5), rng) }));
      const got = await Promise.all(jobs.map((j) => j.client.act(j.obs, j.noise, j.batch)));
      jobs.forEach((j, i) => expect(Array.from(bits(got[i]))).toEqual(Array.from(bits(policy.act(j.obs, j.noise, j.batch)))));
    } finally {
      a.close();
      b.close();
    }
  });

  it('answers malformed requests with an error and keeps serving', async () => {
    const refusedBefore = server.refused;
    const text = await rawExchange(server.url, 'hello?');
    expect(text).toMatchObject({ type: 'error', id: null, code: 'bad-request' });
    expect(text.type === 'error' && text.message).toMatch(/text messages are not part of the protocol/);
    const junk = await rawExchange(server.url, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]));
    expect(junk.type === 'error' && junk.message).toMatch(/does not start with "DSRP"/);
    const wrong = await rawExchange(server.url, encodeActRequest(42, new Float32Array(10), new Float32Array(12), 1, { ...DIMS, obsDim: 10 }));
    expect(wrong).toMatchObject({ type: 'error', id: 42, code: 'bad-shape' });
    expect(server.refused).toBe(refusedBefore + 3);

    // The client side reports a refusal with the server's reason.
    const remote = await connectRemotePolicy(server.url);
    try {
      const { obs, noise } = inputs(1, Rng.fromSeed(1));
      expect(Array.from(bits(await remote.act(obs, noise, 1)))).toEqual(Array.from(bits(policy.act(obs, noise, 1))));
      // Above the server's maxBatch (256) the client splits the batch over several requests: rows
      // 0-255, 256-511, 512-599. (The reference is computed on the same slices: a BLAS gemm need not
      // round the same way at every batch size, so only equal slices are bitwise equal.)
      const big = inputs(600, Rng.fromSeed(600));
      const want = new Float32Array(600 * 12);
      for (const [start, n] of [
        [0, 256],
        [256, 256],
        [512, 88],
      ]) {
        want.set(policy.act(big.obs.subarray(start * 11, (start + n) * 11), big.noise.subarray(start * 12, (start + n) * 12), n), start * 12);
      }
      expect(Array.from(bits(await remote.act(big.obs, big.noise, 600)))).toEqual(Array.from(bits(want)));
    } finally {
      remote.close();
    }
  });

  it('reports a policy failure as an error reply, and the dims check at connect', async () => {
    const failing: NoisePolicy = {
      ...DIMS,
      actionLow: policy.actionLow,
      actionHigh: policy.actionHigh,
      act: () => {
        throw new Error('weights not loaded');
      },
    };
    const s = await servePolicy(failing);
    try {
      await expect(connectRemotePolicy(s.url, { expect: { envId: 'Walker2d-v5', obsDim: 17 } })).rejects.toThrow(
        /remote policy ws:\/\/127\.0\.0\.1:\d+: the policy takes observations of dim 11 but the env Walker2d-v5 gives dim 17/,
      );
      const remote = await connectRemotePolicy(s.url);
      const { obs, noise } = inputs(2, Rng.fromSeed(2));
      await expect(remote.act(obs, noise, 2)).rejects.toThrow(/the server refused request 1: the policy failed: weights not loaded \(policy-error\)/);
      remote.close();
    } finally {
      await s.close();
    }
  });
});

describe('remote policy failures', () => {
  it('times out when the server never answers', async () => {
    const { url, wss } = await fakeServer(() => {});
    try {
      const remote = await connectRemotePolicy(url, { timeoutMs: 150 });
      const { obs, noise } = inputs(2, Rng.fromSeed(3));
      const t0 = Date.now();
      await expect(remote.act(obs, noise, 2)).rejects.toThrow(
        /remote policy ws:\/\/127\.0\.0\.1:\d+: no answer to request 1 \(batch 2\) within 150 ms/,
      );
      expect(Date.now() - t0).toBeLessThan(2000);
      remote.close();
    } finally {
      await closeAll(wss);
    }
  });

  it('times out when the server never says hello', async () => {
    const { url, wss } = await fakeServer(() => {}, false);
    try {
      await expect(connectRemotePolicy(url, { timeoutMs: 100, retries: 1, backoffMs: 10 })).rejects.toThrow(
        /cannot connect after 2 attempts \(last: no hello from the server within 100 ms\)/,
      );
    } finally {
      await closeAll(wss);
    }
  });

  it('refuses replies with the wrong shape', async () => {
    const { url, wss } = await fakeServer((socket, bytes) => {
      const req = decodeActRequest(bytes, DIMS, 64);
      socket.send(encodeActionsReply(req.id, new Float32Array(req.batch * 4 * 4), req.batch, 4, 4));
    });
    try {
      const remote = await connectRemotePolicy(url);
      const { obs, noise } = inputs(2, Rng.fromSeed(4));
      await expect(remote.act(obs, noise, 2)).rejects.toThrow(
        /the server answered request 1 with actions of shape \[2, 4, 4\], expected \[2, 4, 3\]/,
      );
      remote.close();
    } finally {
      await closeAll(wss);
    }
  });

  it('reconnects with backoff and resends when the connection drops', async () => {
    // The first connection is cut on its first request; the second one answers.
    const { url, wss } = await fakeServer((socket, bytes, connection) => {
      if (connection === 1) return socket.terminate();
      const req = decodeActRequest(bytes, DIMS, 64);
      socket.send(encodeActionsReply(req.id, Float32Array.from(req.noise), req.batch, 4, 3));
    });
    try {
      const remote = await connectRemotePolicy(url, { backoffMs: 10 });
      const { obs, noise } = inputs(3, Rng.fromSeed(5));
      expect(Array.from(bits(await remote.act(obs, noise, 3)))).toEqual(Array.from(bits(noise)));
      remote.close();
    } finally {
      await closeAll(wss);
    }
  });

  it('survives a server restart on the same port, and gives up clearly on a dead one', async () => {
    let server = await servePolicy(policy);
    const port = server.port;
    const remote = await connectRemotePolicy(server.url, { retries: 3, backoffMs: 20 });
    const { obs, noise } = inputs(2, Rng.fromSeed(6));
    const want = Array.from(bits(policy.act(obs, noise, 2)));
    expect(Array.from(bits(await remote.act(obs, noise, 2)))).toEqual(want);
    await server.close();
    server = await servePolicy(policy, { port });
    expect(Array.from(bits(await remote.act(obs, noise, 2)))).toEqual(want);
    await server.close();
    await expect(remote.act(obs, noise, 2)).rejects.toThrow(/request \d+ failed after 4 attempts \(last: .*ECONNREFUSED/);
    remote.close();
    await expect(connectRemotePolicy(`ws://127.0.0.1:${port}`, { retries: 2, backoffMs: 10 })).rejects.toThrow(
      /remote policy ws:\/\/127\.0\.0\.1:\d+: cannot connect after 3 attempts \(last: .*ECONNREFUSED/,
    );
    await expect(connectRemotePolicy('http://127.0.0.1:1')).rejects.toThrow(/must start with ws:\/\/ or wss:\/\//);
  });
});

describe('dsrl serve', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dsrl-serve-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('serves an ONNX file; a ws:// spec through loadPolicy returns exactly what the file gives locally', async () => {
    const path = join(dir, 'standin.onnx');
    saveOnnxPolicy(path, policy.toOnnx(), buildOnnxManifest(policy, { envId: 'Hopper-v5' }));
    const logs: string[] = [];
    const { server, policy: served } = await runServe({ policy: path, port: 0, chunk: 4 }, { log: (l) => logs.push(l) });
    const local = await loadPolicy(path);
    const remote = await loadPolicy(server.url, { expect: { obsDim: 11, actDim: 3, chunk: 4 }, timeoutMs: 5000 });
    try {
      expect(server.url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/);
      const rng = Rng.fromSeed('serve');
      for (const batch of [1, 16]) {
        const { obs, noise } = inputs(batch, rng);
        const want = (await local.act(obs, noise, batch)).slice();
        expect(Array.from(bits(await remote.act(obs, noise, batch)))).toEqual(Array.from(bits(want)));
      }
      expect(logs.some((l) => /client 127\.0\.0\.1:\d+ connected/.test(l))).toBe(true);
    } finally {
      await remote.close?.();
      await local.close?.();
      await server.close();
      await served.close?.();
    }
    await expect(runServe({ policy: path, port: 0, chunk: 8 })).rejects.toThrow(/outputs chunks of 4 actions but 8 were asked for/);
    await expect(runServe({ policy: path, port: 70000 })).rejects.toThrow(/--port must be an integer in \[0, 65535\]/);
  });
});
