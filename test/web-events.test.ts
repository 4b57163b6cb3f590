/**
 * The viewer's live updates (src/web/run-watch.ts): the event stream of a run folder sends a new version
 * when summary.json or an episode is replaced, survives the idle timeout on heartbeats, needs the token like
 * the rest of /api, and never queues for a browser that does not read: it keeps only the newest event and
 * closes the stream when a write stays unfinished for a heartbeat interval.
 */
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventStream, type RunVersion } from '../src/web/run-watch.ts';
import { startViewer } from '../src/web/server.ts';
import { waitFor } from './helpers/wait.ts';

const root = mkdtempSync(join(tmpdir(), 'dsrl-viewer-events-'));
const run = join(root, 'run');
const dist = join(root, 'dist');

/** As a run writes its files: a temporary file renamed over the target. */
function writeAtomic(path: string, data: string): void {
  writeFileSync(`${path}.tmp`, data);
  renameSync(`${path}.tmp`, path);
}

beforeAll(() => {
  mkdirSync(join(run, 'episodes'), { recursive: true });
  mkdirSync(dist);
  writeFileSync(join(run, 'config.json'), JSON.stringify({ env: 'Hopper-v5', algo: 'na' }));
  writeFileSync(join(run, 'episodes', 'agent.safetensors'), 'first');
  writeFileSync(join(dist, 'index.html'), '<!doctype html><title>viewer</title>');
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

interface Sse {
  res: IncomingMessage;
  /** Versions received so far. */
  versions: RunVersion[];
  /** Heartbeat comments received so far. */
  pings: number;
  closed: Promise<void>;
  next(count: number, timeoutMs?: number): Promise<RunVersion>;
}

function subscribe(port: number, path: string): Promise<Sse> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path }, (res) => {
      const sse: Sse = {
        res,
        versions: [],
        pings: 0,
        closed: new Promise((r) => res.once('close', () => r())),
        next: (count, timeoutMs = 3000) => waitFor(`version ${count}`, () => sse.versions[count - 1], timeoutMs, 10),
      };
      let text = '';
      res.on('data', (c: Buffer) => {
        text += c.toString();
        let end;
        while ((end = text.indexOf('\n\n')) >= 0) {
          const block = text.slice(0, end);
          text = text.slice(end + 2);
          if (block.startsWith(':')) sse.pings++;
          const data = /^event: version\ndata: (.*)$/m.exec(block);
          if (data) sse.versions.push(JSON.parse(data[1]) as RunVersion);
        }
      });
      resolve(sse);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('dsrl view live updates', () => {
  it('sends the run folder’s version at once and again whenever summary.json or an episode is replaced', async () => {
    const server = await startViewer({ runs: [run], distDir: dist, port: 0, pollMs: 20 });
    try {
      const sse = await subscribe(server.port, '/api/runs/0/events');
      expect([sse.res.statusCode, sse.res.headers['content-type']]).toEqual([200, 'text/event-stream; charset=utf-8']);
      const v1 = await sse.next(1);
      expect(v1.metrics).toBeNull();
      expect(Object.keys(v1.episodes)).toEqual(['agent']);
      // An evaluation: summary.json appears, the agent's episode is replaced.
      writeAtomic(join(run, 'summary.json'), JSON.stringify({ evals: [{ step: 10, mean: 1, std: 0 }] }));
      writeAtomic(join(run, 'episodes', 'agent.safetensors'), 'second');
      const v2 = await sse.next(2);
      const latest = async () => (v2.metrics !== null && v2.episodes.agent !== v1.episodes.agent ? v2 : sse.next(3));
      const v = await latest();
      expect(v.metrics).not.toBeNull();
      expect(v.episodes.agent).not.toBe(v1.episodes.agent);
      // A second page gets the current version at once; a new episode file shows up for both.
      const other = await subscribe(server.port, '/api/runs/0/events');
      expect(await other.next(1)).toEqual(v);
      const before = sse.versions.length;
      writeAtomic(join(run, 'episodes', 'base.safetensors'), 'base');
      const v4 = await sse.next(before + 1);
      expect(Object.keys(v4.episodes).sort()).toEqual(['agent', 'base']);
      expect(await other.next(2)).toEqual(v4);
      // Nothing changes: nothing is sent.
      await new Promise((r) => setTimeout(r, 150));
      expect(sse.versions.length).toBe(before + 1);
      // Closing the server ends the streams.
      await server.close();
      await Promise.all([sse.closed, other.closed]);
    } finally {
      await server.close();
    }
  });

  it('keeps a quiet stream open past the idle timeout with heartbeats, and needs the token', async () => {
    const server = await startViewer({ runs: [run], distDir: dist, port: 0, token: 'secret-token-1', limits: { handshakeTimeoutMs: 300 } });
    try {
      const refused = await subscribe(server.port, '/api/runs/0/events');
      expect(refused.res.statusCode).toBe(401);
      expect((await subscribe(server.port, '/api/runs/1/events?token=secret-token-1')).res.statusCode).toBe(404);
      const sse = await subscribe(server.port, '/api/runs/0/events?token=secret-token-1');
      expect(sse.res.statusCode).toBe(200);
      let closed = false;
      void sse.closed.then(() => (closed = true));
      await new Promise((r) => setTimeout(r, 1000));
      // Heartbeats every 100 ms (a third of the idle timeout) kept it open more than three timeouts long.
      expect(closed).toBe(false);
      expect(sse.pings).toBeGreaterThanOrEqual(5);
      expect(sse.versions.length).toBe(1);
    } finally {
      await server.close();
    }
  });

  it('holds at most the newest event for a browser that does not read, and closes its stream after a heartbeat interval', async () => {
    let stream: EventStream | null = null;
    let corked: (() => void) | null = null;
    let closedAt = 0;
    const http = createServer((_req, res) => {
      // What a browser that stops reading looks like from here: writes are accepted but never finish.
      res.socket!.cork();
      corked = () => res.socket!.uncork();
      stream = new EventStream(res, 200, () => (closedAt = performance.now()));
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const port = (http.address() as AddressInfo).port;
    try {
      // 1. Corked, then let go within the interval: of 1000 events only the newest is sent.
      const req = request({ host: '127.0.0.1', port, path: '/' });
      const got = new Promise<string>((resolve) => {
        req.on('response', (res) => {
          let text = '';
          res.on('data', (c: Buffer) => {
            text += c.toString();
            if (text.includes('"n":999')) resolve(text);
          });
        });
      });
      req.end();
      while (stream === null) await new Promise((r) => setTimeout(r, 5));
      const s = stream as EventStream;
      let maxHeld = 0;
      for (let n = 0; n < 1000; n++) {
        s.send('version', JSON.stringify({ n }));
        maxHeld = Math.max(maxHeld, s.heldBytes);
      }
      // The 'retry' line and headers being written, plus one waiting event: never the 1000 events (about 24 KB).
      expect(maxHeld).toBeLessThan(400);
      corked!();
      const text = await got;
      expect(text.match(/^event: version$/gm)?.length).toBe(1);
      s.close();

      // 2. Corked for good: closed within about two heartbeat intervals.
      stream = null;
      const t0 = performance.now();
      const req2 = request({ host: '127.0.0.1', port, path: '/' });
      req2.on('error', () => {});
      req2.end();
      while (stream === null) await new Promise((r) => setTimeout(r, 5));
      const stalled = stream as EventStream;
      for (let n = 0; n < 100; n++) stalled.send('version', JSON.stringify({ n }));
      while (!stalled.closed && performance.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 10));
      expect(stalled.closed).toBe(true);
      expect(closedAt - t0).toBeGreaterThanOrEqual(190);
      expect(closedAt - t0).toBeLessThan(1000);
    } finally {
      await new Promise<void>((resolve) => {
        http.closeAllConnections();
        http.close(() => resolve());
      });
    }
  });
});
