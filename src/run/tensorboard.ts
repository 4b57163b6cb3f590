/**
 * Node-only TensorBoard scalar writer: `tensorboard --logdir runs` reads the files it makes.
 * Hand-written because no maintained npm package writes tfevents files; the record and protobuf
 * encoding (pure, browser-safe) is in tfevents.ts.
 */
import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { BufferedFile } from './buffered-file.ts';
import { encodeFileVersionEvent, encodeScalarsEvent, encodeSessionStartEvent, frameRecord } from './tfevents.ts';

export interface TensorBoardWriterOptions {
  /** Longest time written events may sit in memory. Default 2000 ms. */
  flushEveryMs?: number;
  /**
   * Resuming: TensorBoard drops points at steps >= purgeStep that an earlier process wrote, so a
   * resumed run does not show the stretch it redoes twice. Usually resume step + 1.
   */
  purgeStep?: number;
  /** Clock in ms; injectable for tests. */
  now?: () => number;
  /** Host name in the file name; default os.hostname(). */
  host?: string;
}

export class TensorBoardWriter {
  /** Path of the events file this writer appends to. */
  readonly path: string;
  private readonly file: BufferedFile;
  private readonly now: () => number;

  constructor(dir: string, options: TensorBoardWriterOptions = {}) {
    this.now = options.now ?? Date.now;
    mkdirSync(dir, { recursive: true });
    const base = `events.out.tfevents.${Math.floor(this.now() / 1000)}.${sanitizeHost(options.host ?? hostname())}`;
    // Two writers started in the same second in the same folder (a quick resume) must not share a file.
    let file: BufferedFile | null = null;
    for (let n = 0; file === null; n++) {
      const path = join(dir, n === 0 ? base : `${base}.${n}`);
      try {
        file = new BufferedFile(path, { flag: 'wx', flushEveryMs: options.flushEveryMs, now: this.now });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || n >= 1000) throw err;
      }
    }
    this.file = file;
    this.path = file.path;
    const startStep = options.purgeStep ?? 0;
    this.file.append(frameRecord(encodeFileVersionEvent(this.wallTime(), startStep)));
    if (options.purgeStep !== undefined) {
      this.file.append(frameRecord(encodeSessionStartEvent(this.wallTime(), options.purgeStep)));
    }
  }

  private wallTime(): number {
    return this.now() / 1000;
  }

  addScalar(tag: string, value: number, step: number): void {
    this.addScalars(step, [[tag, value]]);
  }

  /** One event holding every value: TensorBoard shows each tag as its own chart. */
  addScalars(step: number, values: Iterable<readonly [string, number]> | Record<string, number>): void {
    const entries = Symbol.iterator in values ? values : Object.entries(values);
    this.file.append(frameRecord(encodeScalarsEvent(this.wallTime(), step, entries)));
  }

  flush(): void {
    this.file.flush();
  }

  close(): void {
    this.file.close();
  }
}

/** A host name becomes part of a file name; keep it to characters that are safe there. */
function sanitizeHost(host: string): string {
  const safe = host.replace(/[^A-Za-z0-9._-]/g, '_');
  return safe.length > 0 ? safe : 'localhost';
}
