import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeEpisode, EPISODE_FORMAT_VERSION } from '../src/run/episode-format.ts';
import { startViewer, type ViewerServer } from '../src/web/server.ts';

const root = mkdtempSync(join(tmpdir(), 'dsrl-viewer-'));
const run = join(root, 'run');
const dist = join(root, 'dist');
const SECRET = 'top-secret-contents';

function episodeBytes(frames: number): Uint8Array {
  return encodeEpisode({
    version: EPISODE_FORMAT_VERSION,
    env: 'Hopper-v5',
    label: 'base policy',
    seed: 10_000,
    episode: 0,
    trainedSteps: 0,
    dt: 0.008,
    nbody: 2,
    geoms: [{ body: 1, type: 'sphere', size: [0.1, 0, 0], pos: [0, 0, 0], quat: [1, 0, 0, 0], rgba: [1, 0, 0, 1] }],
    frameSteps: Array.from({ length: frames }, (_, i) => (i === 0 ? 0 : 4)),
    return: 1,
    length: 4 * (frames - 1),
    poses: new Float32Array(frames * 2 * 7),
    rewards: new Float32Array(frames - 1),
  });
}

beforeAll(() => {
  mkdirSync(join(run, 'episodes'), { recursive: true });
  writeFileSync(join(run, 'config.json'), JSON.stringify({ env: 'Hopper-v5', algo: 'na' }));
  writeFileSync(
    join(run, 'summary.json'),
    JSON.stringify({
      env: 'Hopper-v5',
      algo: 'na',
      xAxis: 'env steps',
      evals: [{ step: 100, mean: 5, std: 1 }],
      references: { 'base policy': { mean: 3, std: 0.5 } },
    }),
  );
  writeFileSync(join(run, 'episodes', 'agent.safetensors'), episodeBytes(50));
  writeFileSync(join(root, 'secret.safetensors'), SECRET);
  writeFileSync(join(root, 'secret.txt'), SECRET);
  // A symlink planted in the run folder must not lead out of it.
  symlinkSync(join(root, 'secret.safetensors'), join(run, 'episodes', 'link.safetensors'));
  writeFileSync(join(run, 'episodes', 'bad name.safetensors'), SECRET);
  mkdirSync(join(dist, 'assets'), { recursive: true });
  writeFileSync(join(dist, 'index.html'), '<!doctype html><title>viewer</title>');
  writeFileSync(join(dist, 'assets', 'app.js'), 'console.log(1)');
  symlinkSync(join(root, 'secret.txt'), join(dist, 'assets', 'evil.js'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

interface Reply {
  status: number;
  body: Buffer;
  type: string | undefined;
}

/** A raw request: the path goes out exactly as written (no URL normalization by the client). */
function raw(port: number, path: string, opts: { method?: string; headers?: Record<string, string> } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    // A fresh connection per request (agent: false), and a reply that never comes fails the request, not the
    // whole test file: Node's `timeout` only reports an idle socket, so it is turned into an error here.
    const req = request(
      { host: '127.0.0.1', port, path, method: opts.method ?? 'GET', headers: opts.headers, agent: false, timeout: 10_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks), type: res.headers['content-type'] }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${path}: no reply within 10 s`)));
    req.on('error', reject);
    req.end();
  });
}

describe('dsrl view server', () => {
  let server: ViewerServer;
  beforeAll(async () => {
    server = await startViewer({ runs: [run], distDir: dist, port: 0 });
  });
  afterAll(() => server.close());

  it('serves the built page, the run list, metrics and episodes', async () => {
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/`);
    const page = await raw(server.port, '/');
    expect([page.status, page.type, page.body.toString()]).toEqual([200, 'text/html; charset=utf-8', '<!doctype html><title>viewer</title>']);
    expect((await raw(server.port, '/assets/app.js')).status).toBe(200);
    const runs = JSON.parse((await raw(server.port, '/api/runs')).body.toString());
    // The symlink and the file whose name is not a plain stem are not listed.
    expect(runs).toEqual([{ id: 0, name: 'run', env: 'Hopper-v5', algo: 'na', episodes: ['agent'] }]);
    const metrics = JSON.parse((await raw(server.port, '/api/runs/0/metrics')).body.toString());
    expect(metrics).toEqual({
      xAxis: 'env steps',
      evals: [{ step: 100, mean: 5, std: 1 }],
      references: [{ name: 'base policy', step: null, mean: 3, std: 0.5 }],
    });
    const ep = await raw(server.port, '/api/runs/0/episodes/agent');
    expect(ep.status).toBe(200);
    expect(ep.body.equals(readFileSync(join(run, 'episodes', 'agent.safetensors')))).toBe(true);
    const head = await raw(server.port, '/api/runs/0/episodes/agent', { method: 'HEAD' });
    expect([head.status, head.body.length]).toEqual([200, 0]);
  });

  it('no path from a URL reaches the filesystem: traversal, encodings, absolute paths and symlinks get 404', async () => {
    const attempts = [
      '/../secret.txt',
      '/../../../../etc/passwd',
      '/%2e%2e/secret.txt',
      '/%2E%2E%2Fsecret.txt',
      '/assets/../../secret.txt',
      '/assets/%2e%2e/%2e%2e/secret.txt',
      '/assets/evil.js',
      '//etc/passwd',
      '/etc/passwd',
      `/${root}/secret.txt`,
      '/index.html/..',
      '/api/runs/0/episodes/link',
      '/api/runs/0/episodes/..',
      '/api/runs/0/episodes/%2e%2e%2fsecret',
      '/api/runs/0/episodes/../../secret',
      '/api/runs/0/episodes/bad%20name',
      '/api/runs/0/episodes//etc/passwd',
      '/api/runs/0/config.json',
      '/api/runs/0/../../secret.txt',
      '/api/runs/1/metrics',
      '/api/runs/-1/metrics',
      '/api/runs/00000000001/metrics',
      '/api/runs/0/metrics/..',
      '/api/runs/0/episodes/agent.safetensors',
      '/api/runs/0/episodes/agent/../../config',
      '/api/runs/0\\..\\..\\secret.txt',
    ];
    for (const path of attempts) {
      const res = await raw(server.port, path);
      expect(res.status, path).toBe(404);
      expect(res.body.toString(), path).not.toContain(SECRET);
    }
  });

  it('refuses other methods, other Host names, and answers within bounds', async () => {
    expect((await raw(server.port, '/api/runs', { method: 'POST' })).status).toBe(405);
    expect((await raw(server.port, '/api/runs', { method: 'DELETE' })).status).toBe(405);
    // A page on another name that resolves to 127.0.0.1 (DNS rebinding) cannot read the runs.
    expect((await raw(server.port, '/api/runs', { headers: { Host: 'evil.example:80' } })).status).toBe(403);
    expect((await raw(server.port, '/api/runs', { headers: { Host: `localhost:${server.port}` } })).status).toBe(200);
  });
});

describe('dsrl view server limits and access', () => {
  it('checks its folders and flags, naming what is wrong', async () => {
    await expect(startViewer({ runs: [join(root, 'nope')], distDir: dist })).rejects.toThrow(/nope: no such run folder/);
    await expect(startViewer({ runs: [dist], distDir: dist })).rejects.toThrow(/dist: not a run folder/);
    await expect(startViewer({ runs: [join(root, 'secret.txt')], distDir: dist })).rejects.toThrow(/secret.txt: not a folder/);
    await expect(startViewer({ runs: [run], distDir: run })).rejects.toThrow(/no built page \(index.html\); run npm run build:web/);
    await expect(startViewer({ runs: [run], distDir: dist, host: '0.0.0.0' })).rejects.toThrow(
      /--host 0.0.0.0: not a loopback address, so the viewer needs --token/,
    );
    await expect(startViewer({ runs: [run], distDir: dist, token: 'short' })).rejects.toThrow(/--token must be at least 8/);
    await expect(startViewer({ runs: [], distDir: dist })).rejects.toThrow(/at least one run folder/);
  });

  it('with a token, /api needs it (header or query); the page itself does not', async () => {
    const server = await startViewer({ runs: [run], distDir: dist, token: 'secret-token-1', port: 0 });
    try {
      expect(server.url).toBe(`http://127.0.0.1:${server.port}/?token=secret-token-1`);
      expect((await raw(server.port, '/')).status).toBe(200);
      expect((await raw(server.port, '/api/runs')).status).toBe(401);
      expect((await raw(server.port, '/api/runs?token=wrong-token-1')).status).toBe(401);
      expect((await raw(server.port, '/api/runs?token=secret-token-1')).status).toBe(200);
      expect((await raw(server.port, '/api/runs', { headers: { Authorization: 'Bearer secret-token-1' } })).status).toBe(200);
    } finally {
      await server.close();
    }
  });

  it('caps connections, closes silent sockets, and bounds file responses', async () => {
    const server = await startViewer({
      runs: [run],
      distDir: dist,
      port: 0,
      limits: { maxConnections: 2, handshakeTimeoutMs: 400, maxPayloadBytes: 1000, maxBytesInFlight: 1000 },
    });
    const sockets: ReturnType<typeof connect>[] = [];
    try {
      // A socket the server never closes fails here, naming which one, instead of hanging to the test timeout.
      const closedAfter = (s: ReturnType<typeof connect>, t0: number, which: string) =>
        new Promise<number>((resolve, reject) => {
          const deadline = setTimeout(() => reject(new Error(`${which} socket still open after 15 s`)), 15_000);
          s.once('close', () => {
            clearTimeout(deadline);
            resolve(performance.now() - t0);
          });
        });
      const t0 = performance.now();
      const opened = ['first', 'second', 'third'].map((which) => {
        const s = connect(server.port, '127.0.0.1');
        s.on('error', () => {});
        // Read what the server sends (Node's headers timeout answers 408 before it closes): a paused socket
        // with unread bytes never sees the end of the stream, so it would never report 'close'.
        s.resume();
        sockets.push(s);
        return closedAfter(s, t0, which);
      });
      // The third connection is over the cap and dropped at once; the two silent ones go after the timeout.
      const [a, b, c] = await Promise.all(opened);
      // Bounds wide enough for a loaded 2-core machine: the timeout cannot fire before its 400 ms; the drop
      // happens on accept, before either timeout.
      expect(c).toBeLessThan(Math.min(a, b));
      for (const ms of [a, b]) {
        expect(ms).toBeGreaterThan(350);
        expect(ms).toBeLessThan(5000);
      }
      // The recorded episode is larger than the per-file bound.
      const big = await raw(server.port, '/api/runs/0/episodes/agent');
      expect(big.status).toBe(413);
      expect(big.body.length).toBeLessThan(100);
    } finally {
      for (const s of sockets) s.destroy();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        server.close(),
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('viewer close() still pending after 10 s')), 10_000))),
      ]).finally(() => clearTimeout(timer));
    }
  });
});
