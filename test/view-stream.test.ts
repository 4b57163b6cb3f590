/**
 * The view stream (src/node/view-stream.ts, `dsrl steer --view-port`) and its client (src/web/remote-run.ts,
 * `dsrl view ws://…`) on a run folder written here as the harness writes it (files renamed into place): the
 * viewer's /api answers for the ws:// run what it answers for the folder itself, follows each replaced file,
 * shows the run as reconnecting while the stream is down, needs the token off loopback, refuses a malformed
 * frame with a line, and a client that never reads holds one frame while a reading one gets the newest versions.
 */
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeViewFrame, encodeViewFrame } from '../src/node/view-stream-frame.ts';
import { serveRunStream } from '../src/node/view-stream.ts';
import { listenWs } from '../src/node/ws-limits.ts';
import { RemoteRun } from '../src/web/remote-run.ts';
import { startViewer } from '../src/web/server.ts';
import { waitFor } from './helpers/wait.ts';

const root = mkdtempSync(join(tmpdir(), 'dsrl-view-stream-'));
const run = join(root, 'run');
const dist = join(root, 'dist');

function writeAtomic(path: string, data: string | Buffer): void {
  writeFileSync(`${path}.tmp`, data);
  renameSync(`${path}.tmp`, path);
}
const summary = (n: number) =>
  JSON.stringify({
    env: 'Hopper-v5',
    algo: 'dsrl-na',
    xAxis: 'env steps',
    evals: Array.from({ length: n }, (_, i) => ({ step: 200 * (i + 1), mean: 100 + i, std: 1 })),
    references: { 'base policy': { mean: 90, std: 2 } },
  });
const lossRow = (step: number) => `${JSON.stringify({ step, 'losses/critic': 1 / step, 'losses/actor': -step })}\n`;

beforeAll(() => {
  mkdirSync(join(run, 'episodes'), { recursive: true });
  mkdirSync(dist);
  writeFileSync(join(dist, 'index.html'), '<!doctype html><title>viewer</title>');
  writeFileSync(join(run, 'config.json'), JSON.stringify({ env: 'Hopper-v5', algo: 'na' }));
  writeAtomic(join(run, 'summary.json'), summary(1));
  writeFileSync(join(run, 'metrics.jsonl'), lossRow(100) + lossRow(200));
  writeAtomic(join(run, 'episodes', 'base.safetensors'), Buffer.from('base episode bytes'));
  writeAtomic(join(run, 'episodes', 'agent.safetensors'), Buffer.from('agent episode 1'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('view stream frames', () => {
  it('round-trips and refuses malformed frames with the reason', () => {
    const body = Buffer.from([1, 2, 3]);
    const f = decodeViewFrame(encodeViewFrame({ type: 'file', name: 'episodes/agent.safetensors', version: 'v1', body }));
    expect(f).toMatchObject({ type: 'file', name: 'episodes/agent.safetensors', version: 'v1' });
    expect([...(f as { body: Buffer }).body]).toEqual([1, 2, 3]);
    expect(() => decodeViewFrame(Buffer.from('GET / HTTP/1.1 and more'))).toThrow(/malformed view-stream frame: starts with "GET "/);
    const bad = encodeViewFrame({ type: 'file', name: '../../etc/passwd' as string, version: 'v', body });
    expect(() => decodeViewFrame(bad)).toThrow(/file name "..\/..\/etc\/passwd" is not one a run streams/);
    const short = encodeViewFrame({ type: 'file', name: 'summary.json', version: 'v', body }).subarray(0, -1);
    expect(() => decodeViewFrame(short)).toThrow(/header says 3 bytes, the frame carries 2/);
  });
});

describe('dsrl view ws:// through the view stream', () => {
  it("serves the stream's run as the viewer serves a folder, follows changes, and shows a dropped stream as reconnecting", async () => {
    const stream = await serveRunStream({ port: 0, dir: run, pollMs: 20 });
    const logs: string[] = [];
    const remote = new RemoteRun(stream.url, { log: (l) => logs.push(l), backoffMs: 50 });
    const viewer = await startViewer({ runs: [run], remotes: [remote], distDir: dist, port: 0, pollMs: 20 });
    const api = (p: string) => fetch(`http://127.0.0.1:${viewer.port}/api/runs/${p}`);
    try {
      await waitFor('the stream', () => remote.connected && remote.episodeNames().length === 2);
      await waitFor('the losses', () => remote.version().losses !== null);
      const list = (await (await fetch(`http://127.0.0.1:${viewer.port}/api/runs`)).json()) as { id: number; name: string; env: string }[];
      expect(list.map((r) => [r.id, r.name, r.env])).toEqual([
        [0, 'run', 'Hopper-v5'],
        [1, 'run', 'Hopper-v5'],
      ]);
      // The same answers for the folder (run 0) and the stream of it (run 1).
      for (const p of ['metrics', 'losses', 'episodes/agent', 'episodes/base'])
        expect(Buffer.from(await (await api(`1/${p}`)).arrayBuffer()).toString(), p).toBe(
          Buffer.from(await (await api(`0/${p}`)).arrayBuffer()).toString(),
        );
      expect((await api('1/episodes/nope')).status).toBe(404);

      // The page's event stream for the ws:// run: a version at once, another when the harness replaces a file.
      const ac = new AbortController();
      const events = await fetch(`http://127.0.0.1:${viewer.port}/api/runs/1/events`, { signal: ac.signal });
      const reader = events.body!.getReader();
      let text = '';
      const read = async (pattern: RegExp) => {
        while (!pattern.test(text)) text += new TextDecoder().decode((await reader.read()).value);
      };
      await read(/event: version/);
      writeAtomic(join(run, 'summary.json'), summary(2));
      writeAtomic(join(run, 'episodes', 'agent.safetensors'), Buffer.from('agent episode 2'));
      writeFileSync(join(run, 'metrics.jsonl'), lossRow(100) + lossRow(200) + lossRow(300));
      await waitFor('the second evaluation', async () => ((await (await api('1/metrics')).json()) as { evals: unknown[] }).evals.length === 2);
      await waitFor('the new episode', async () => (await (await api('1/episodes/agent')).text()) === 'agent episode 2');
      await waitFor('the new losses', async () => (await (await api('1/losses')).text()).includes('300'));
      expect((text.match(/event: version/g) ?? []).length).toBeGreaterThanOrEqual(1);

      // The stream ends (a finished or killed steer): the page's event stream closes, a new one waits, the files stay.
      await stream.close();
      await waitFor('the drop', () => !remote.connected);
      const ended = (async () => {
        while (!(await reader.read().catch(() => ({ done: true }))).done);
        return 'ended';
      })();
      expect(await Promise.race([ended, new Promise((r) => setTimeout(() => r('still open'), 3000))])).toBe('ended');
      expect(logs.some((l) => /stream lost; reconnecting/.test(l))).toBe(true);
      const waiting = fetch(`http://127.0.0.1:${viewer.port}/api/runs/1/events`, { signal: ac.signal }).then(() => 'answered');
      expect(await Promise.race([waiting, new Promise((r) => setTimeout(() => r('waiting'), 300))])).toBe('waiting');
      expect(await (await api('1/episodes/agent')).text()).toBe('agent episode 2');
      // Back on the same port: the waiting page stream is answered.
      const again = await serveRunStream({ port: stream.port, dir: run, pollMs: 20 });
      try {
        expect(await waiting).toBe('answered');
        expect(remote.connected).toBe(true);
      } finally {
        ac.abort();
        await again.close();
      }
    } finally {
      await viewer.close();
      await stream.close().catch(() => {});
    }
  });

  it('needs a token off loopback, checked on the upgrade', async () => {
    await expect(serveRunStream({ host: '0.0.0.0', port: 0, dir: run })).rejects.toThrow(/without a token/);
    const stream = await serveRunStream({ host: '0.0.0.0', port: 0, dir: run, token: 'sesame-123' });
    const url = `ws://127.0.0.1:${stream.port}`;
    const without = new RemoteRun(url, { backoffMs: 10_000 });
    const wrong = new RemoteRun(url, { token: 'not-the-one', backoffMs: 10_000 });
    const right = new RemoteRun(url, { token: 'sesame-123' });
    try {
      await waitFor('the refusals', () => without.lastError !== null && wrong.lastError !== null && right.connected);
      expect(without.lastError).toMatch(/refused with HTTP 401 \(the stream wants a token: --token <secret> or DSRL_VIEW_TOKEN\)/);
      expect(wrong.lastError).toMatch(/HTTP 401/);
      expect(without.connected || wrong.connected).toBe(false);
    } finally {
      for (const r of [without, wrong, right]) r.close();
      await stream.close();
    }
  });

  it('refuses a malformed frame with a line naming what was wrong, and keeps what it had', async () => {
    const impostor = await listenWs({ name: 'impostor', port: 0, onConnection: (socket) => socket.send(Buffer.from('{"policy":"hello"}')) });
    const logs: string[] = [];
    const remote = new RemoteRun(impostor.url, { log: (l) => logs.push(l), backoffMs: 10_000 });
    try {
      await waitFor('the refusal', () => remote.lastError !== null);
      expect(remote.lastError).toBe(
        `malformed view-stream frame: starts with "{\\"po", not "DSRV"; is ${impostor.url} a dsrl steer --view-port stream?`,
      );
      expect(logs[0]).toContain(impostor.url);
      expect(remote.connected).toBe(false);
      expect(remote.episodeNames()).toEqual([]);
    } finally {
      remote.close();
      await impostor.close();
    }
  });

  it('a viewer that never reads holds one frame; a reading one still gets every newest version', async () => {
    const big = join(root, 'big');
    mkdirSync(join(big, 'episodes'), { recursive: true });
    writeFileSync(join(big, 'config.json'), '{}');
    const MiB = 1024 * 1024;
    const episode = (i: number) => Buffer.alloc(2 * MiB, i % 251);
    writeAtomic(join(big, 'episodes', 'agent.safetensors'), episode(0));
    const stream = await serveRunStream({ port: 0, dir: big, pollMs: 10 });
    // A raw client: completes the upgrade, then reads nothing more (its socket paused: the kernel buffers fill).
    const stalled: Socket = connect(stream.port, '127.0.0.1');
    await new Promise<void>((resolve) => stalled.once('connect', () => resolve()));
    stalled.write(
      `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${Buffer.alloc(16, 7).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    await new Promise<void>((resolve) => stalled.once('data', () => resolve()));
    stalled.pause();
    const reader = new RemoteRun(stream.url);
    let maxBuffered = 0;
    const rss0 = process.memoryUsage().rss;
    let maxRss = rss0;
    try {
      await waitFor('both clients', () => stream.stats().clients === 2 && reader.connected);
      // 60 new versions of a 2 MiB episode, 40 ms apart: 120 MiB a queueing server would hold for the stalled client.
      for (let i = 1; i <= 60; i++) {
        writeAtomic(join(big, 'episodes', 'agent.safetensors'), episode(i));
        await new Promise((r) => setTimeout(r, 40));
        maxBuffered = Math.max(maxBuffered, stream.stats().bufferedBytes);
        maxRss = Math.max(maxRss, process.memoryUsage().rss);
      }
      const last = episode(60);
      await waitFor(
        'the newest version at the reading client',
        () => (reader.answer('episodes/agent')?.body as Buffer | undefined)?.equals(last) === true,
        10_000,
      );
      const stats = stream.stats();
      console.log(
        `view stream, a stalled client: at most ${(maxBuffered / MiB).toFixed(2)} MiB buffered for clients, ${(stats.heldBytes / MiB).toFixed(2)} MiB of files held, RSS +${((maxRss - rss0) / MiB).toFixed(0)} MiB, ${stats.framesSent} frames sent for 61 versions x 2 clients`,
      );
      // Each client has at most one 2 MiB frame (plus its header) in user space at a time.
      expect(maxBuffered).toBeLessThanOrEqual(2 * (2 * MiB + 4096));
      expect(stats.clients).toBe(2);
      // The stalled client got a few frames into its kernel buffers, far fewer than the versions written.
      expect(stats.framesSent).toBeLessThan(61 + 30);
    } finally {
      stalled.destroy();
      reader.close();
      await stream.close();
    }
  });
});
