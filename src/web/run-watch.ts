/**
 * Live updates for `dsrl view`: the server watches each run folder and tells the page, over Server-Sent
 * Events (`GET /api/runs/<i>/events`), when what it shows changed; the page then fetches the new metrics or
 * episode through the ordinary bounded endpoints.
 *
 * Why the viewer watches the run folder instead of `dsrl steer` serving a stream: a run already writes all
 * the page shows, atomically (temp file + rename), at every evaluation: summary.json (history.ts) and
 * episodes/agent.safetensors (episode-record.ts); and metrics.jsonl, appended in whole lines (metrics.ts), for
 * the loss chart. So training needs no server, no flag and no change, and
 * no browser can slow it: the training process never learns that anyone watches. The same code replays a
 * finished run. Why polling stat() rather than fs.watch: a rename over a watched file replaces its inode
 * (the watch goes quiet), and folder watches differ across platforms and network filesystems; a few stats
 * per `pollMs` cost nothing, and only while a page is subscribed.
 *
 * Why SSE: one-way, text, reconnects by itself (`retry`), and the token can ride in the URL as for the
 * other endpoints. Each event is the folder's whole current version (a few hundred bytes), never a delta,
 * so a subscriber keeps no queue: at most one event is being written and one newest waits (older ones are
 * dropped). A browser that stops reading for a heartbeat interval, or vanishes, is disconnected; heartbeats
 * also keep the server's idle timeout from closing a healthy stream. Node only.
 */
import type { Dirent, Stats } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { join } from 'node:path';

/** What an episode name may be: a file name stem, nothing that could mean a path. */
export const EPISODE_NAME = /^[A-Za-z0-9_-]{1,64}$/;
export const EPISODES_DIR = 'episodes';
export const METRICS_JSONL = 'metrics.jsonl';
const SUFFIX = '.safetensors';

/** The episodes a run folder holds: regular files (no symlinks) `episodes/<name>.safetensors` with a plain name, at most 100. */
export async function episodeNames(run: string): Promise<string[]> {
  let entries: Dirent[];
  try {
    entries = await readdir(join(run, EPISODES_DIR), { withFileTypes: true });
  } catch {
    return [];
  }
  return entries
    .filter((e) => e.isFile() && e.name.endsWith(SUFFIX) && EPISODE_NAME.test(e.name.slice(0, -SUFFIX.length)))
    .map((e) => e.name.slice(0, -SUFFIX.length))
    .sort()
    .slice(0, 100);
}

/** Opaque versions of what the page shows: they change whenever a file is replaced or rewritten. */
export interface RunVersion {
  /** summary.json's (null: not written yet). */
  metrics: string | null;
  /** metrics.jsonl's (null: not written yet; absent: a source that has no losses to give): the loss series. */
  losses?: string | null;
  /** Each recorded episode's, by name. */
  episodes: Record<string, string>;
}

/** A file's version from its stat: inode, size and mtime (null: not a regular file, or none). */
export const versionOf = (st: Stats | null): string | null => (st && st.isFile() ? `${st.ino}-${st.size}-${st.mtimeMs}` : null);
const lstatOrNull = (path: string) => lstat(path).catch(() => null);

export async function runVersion(run: string): Promise<RunVersion> {
  const episodes: Record<string, string> = {};
  for (const name of await episodeNames(run)) {
    const v = versionOf(await lstatOrNull(join(run, EPISODES_DIR, `${name}${SUFFIX}`)));
    if (v !== null) episodes[name] = v;
  }
  return {
    metrics: versionOf(await lstatOrNull(join(run, 'summary.json'))),
    losses: versionOf(await lstatOrNull(join(run, METRICS_JSONL))),
    episodes,
  };
}

/**
 * One SSE stream to one page: sends the newest event only. A write not finished (handed to the kernel) within
 * `heartbeatMs` means the browser stopped reading: the stream is closed, and the page's EventSource
 * reconnects when it can and gets the current version at once.
 */
export class EventStream {
  private writing: number | null = null;
  private pending: string | null = null;
  private readonly timer: ReturnType<typeof setInterval>;
  closed = false;

  constructor(
    private readonly res: ServerResponse,
    heartbeatMs: number,
    private readonly onClose: () => void = () => {},
  ) {
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
      'X-Accel-Buffering': 'no',
    });
    this.timer = setInterval(() => this.heartbeat(heartbeatMs), heartbeatMs);
    this.timer.unref();
    res.once('close', () => this.close());
    // retry: the browser waits 1 s before reconnecting after a drop.
    this.write('retry: 1000\n\n');
  }

  /** Queues `data` as the next `event` (replacing any not yet started). */
  send(event: string, data: string): void {
    if (this.closed) return;
    const text = `event: ${event}\ndata: ${data}\n\n`;
    if (this.writing !== null) this.pending = text;
    else this.write(text);
  }

  /** Bytes held for this stream in user space: at most the one event being written and the newest waiting. */
  get heldBytes(): number {
    return this.res.writableLength + (this.pending?.length ?? 0);
  }

  private write(text: string): void {
    this.writing = performance.now();
    this.res.write(text, () => {
      this.writing = null;
      const next = this.pending;
      this.pending = null;
      if (next !== null && !this.closed) this.write(next);
    });
  }

  private heartbeat(ms: number): void {
    if (this.writing !== null) {
      if (performance.now() - this.writing >= ms) this.close();
      return;
    }
    this.write(': ping\n\n');
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.pending = null;
    // A stream still writing to a browser that does not read would never end cleanly.
    if (this.writing !== null) this.res.destroy();
    else this.res.end();
    this.onClose();
  }
}

/** Polls one run folder while at least one page subscribes, and sends each subscriber every new version. */
export class RunWatcher {
  private readonly streams = new Set<EventStream>();
  private timer: ReturnType<typeof setInterval> | null = null;
  private polling = false;
  private last: string | null = null;

  constructor(
    readonly dir: string,
    private readonly pollMs: number,
  ) {}

  get subscribers(): number {
    return this.streams.size;
  }

  add(stream: EventStream): void {
    this.streams.add(stream);
    // A new page gets the current version right away (the others have it already).
    if (this.last !== null) stream.send('version', this.last);
    if (this.timer === null) {
      this.timer = setInterval(() => void this.poll(), this.pollMs);
      this.timer.unref();
      void this.poll();
    }
  }

  remove(stream: EventStream): void {
    this.streams.delete(stream);
    if (this.streams.size === 0) this.stop();
  }

  private async poll(): Promise<void> {
    if (this.polling) return; // a slow disk: skip a tick rather than pile up stats
    this.polling = true;
    try {
      const text = JSON.stringify(await runVersion(this.dir));
      if (text === this.last) return;
      this.last = text;
      for (const s of this.streams) s.send('version', text);
    } finally {
      this.polling = false;
    }
  }

  private stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    // With nobody watching, the next subscriber must be sent the version fresh.
    this.last = null;
  }

  close(): void {
    for (const s of [...this.streams]) s.close();
    this.stop();
  }
}
