/** Node-only file helpers. Everything dsrl saves goes through writeFileAtomic, so a crash never leaves half a file. */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';

/** Write to a temporary file in the same folder, fsync, then rename over the target (atomic on POSIX). */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  const fd = openSync(tmp, 'w');
  try {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  renameSync(tmp, path);
}

/** Reads up to `size` bytes of an open file from its start (fewer if it shrank meanwhile): the bytes read. */
export async function readOpenFile(handle: FileHandle, size: number): Promise<Buffer> {
  const body = Buffer.alloc(size);
  let off = 0;
  while (off < size) {
    const { bytesRead } = await handle.read(body, off, size - off, off);
    if (bytesRead === 0) break;
    off += bytesRead;
  }
  return body.subarray(0, off);
}
