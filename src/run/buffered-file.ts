/**
 * Node-only append-only file with a write buffer, shared by the run-folder loggers.
 *
 * Logging must not cost a syscall per metric, but a crash or Ctrl-C should lose at most a few
 * seconds: the buffer is written out when it is older than `flushEveryMs` (checked on every append
 * and by an unref'd timer, so an idle run still flushes), when it grows past `maxBufferBytes`,
 * on close, and on process exit.
 */
import { closeSync, openSync, writeSync } from 'node:fs';

export interface BufferedFileOptions {
  /** Longest time appended data may sit in memory. Default 2000 ms. */
  flushEveryMs?: number;
  /** Buffer size that forces a write. Default 64 KiB. */
  maxBufferBytes?: number;
  /** Clock in ms; injectable for tests. */
  now?: () => number;
  /** 'a' appends to an existing file (default); 'wx' creates a new one and fails if it exists. */
  flag?: 'a' | 'wx';
}

const openFiles = new Set<BufferedFile>();
let exitHookInstalled = false;

function flushAllOnExit(): void {
  for (const file of openFiles) {
    try {
      file.flush();
    } catch {
      // Exit must go on; a failing disk already reported itself on earlier flushes.
    }
  }
}

export class BufferedFile {
  readonly path: string;
  private fd: number | null;
  private chunks: Uint8Array[] = [];
  private bufferedBytes = 0;
  private oldestPendingAt: number | null = null;
  private readonly flushEveryMs: number;
  private readonly maxBufferBytes: number;
  private readonly now: () => number;
  private readonly timer: ReturnType<typeof setInterval>;

  constructor(path: string, options: BufferedFileOptions = {}) {
    this.path = path;
    this.flushEveryMs = options.flushEveryMs ?? 2000;
    this.maxBufferBytes = options.maxBufferBytes ?? 64 * 1024;
    this.now = options.now ?? Date.now;
    this.fd = openSync(path, options.flag ?? 'a');
    this.timer = setInterval(() => this.flushIfDue(), Math.max(50, this.flushEveryMs));
    this.timer.unref();
    openFiles.add(this);
    if (!exitHookInstalled) {
      process.on('exit', flushAllOnExit);
      exitHookInstalled = true;
    }
  }

  get closed(): boolean {
    return this.fd === null;
  }

  append(data: string | Uint8Array): void {
    if (this.fd === null) throw new Error(`${this.path}: append after close`);
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    this.chunks.push(bytes);
    this.bufferedBytes += bytes.length;
    if (this.oldestPendingAt === null) this.oldestPendingAt = this.now();
    this.flushIfDue();
  }

  private flushIfDue(): void {
    if (this.oldestPendingAt === null) return;
    if (this.bufferedBytes >= this.maxBufferBytes || this.now() - this.oldestPendingAt >= this.flushEveryMs) {
      this.flush();
    }
  }

  /** Write everything buffered to the OS (no fsync: surviving a process crash is enough here). */
  flush(): void {
    if (this.fd === null || this.chunks.length === 0) return;
    const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
    this.chunks = [];
    this.bufferedBytes = 0;
    this.oldestPendingAt = null;
    let off = 0;
    while (off < all.length) off += writeSync(this.fd, all, off, all.length - off);
  }

  close(): void {
    if (this.fd === null) return;
    this.flush();
    clearInterval(this.timer);
    closeSync(this.fd);
    this.fd = null;
    openFiles.delete(this);
  }
}
