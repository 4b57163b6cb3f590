/**
 * The fuzzing loop and input mutations shared by the fuzz tests: each case must load, or fail with one clear
 * line that names the input, without a stack trace, quickly and without memory running away.
 */
import { expect } from 'vitest';
import type { Rng } from '../../src/core/rng.ts';

/** Per case: at most this long; over a whole loader: RSS at most this much above where it started. */
const CASE_MS = 1000;
const RSS_GROWTH = 200 * 1024 * 1024;

export interface Outcome {
  loaded: number;
  refused: number;
}

/** Run `cases` inputs through `load`; every failure must be one clear line that includes `name(i)`. */
export async function fuzz(
  cases: number,
  name: (i: number) => string,
  load: (i: number) => unknown | Promise<unknown>,
  clear: (err: unknown) => void = () => {},
): Promise<Outcome> {
  const out = { loaded: 0, refused: 0 };
  const rss0 = process.memoryUsage().rss;
  for (let i = 0; i < cases; i++) {
    const t0 = performance.now();
    try {
      await load(i);
      out.loaded++;
    } catch (err) {
      out.refused++;
      expect(err, `case ${i}`).toBeInstanceOf(Error);
      const message = (err as Error).message;
      expect(message, `case ${i}: one line`).not.toMatch(/\n/);
      expect(message, `case ${i}: no stack trace`).not.toMatch(/\bat .*\(.*:\d+:\d+\)|node:internal|\.ts:\d+/);
      expect(message, `case ${i}: names the input`).toContain(name(i));
      expect(message.length, `case ${i}: short`).toBeLessThan(1000);
      clear(err);
    }
    expect(performance.now() - t0, `case ${i}: time`).toBeLessThan(CASE_MS);
    expect(process.memoryUsage().rss - rss0, `case ${i}: memory`).toBeLessThan(RSS_GROWTH);
  }
  return out;
}

/** Byte-level damage: flip bits, overwrite, truncate, insert, duplicate a slice. */
export function mutateBytes(base: Uint8Array, rng: Rng): Uint8Array {
  let b = base.slice();
  const edits = 1 + rng.int(4);
  for (let e = 0; e < edits; e++) {
    const pos = rng.int(Math.max(1, b.length));
    switch (rng.int(5)) {
      case 0:
        b[pos] ^= 1 << rng.int(8);
        break;
      case 1:
        b[pos] = [0, 0xff, 0x7f, 0x80, 0x22, 0x7b, 0x5d][rng.int(7)];
        break;
      case 2:
        b = b.slice(0, pos);
        break;
      case 3: {
        const extra = new Uint8Array(1 + rng.int(16)).map(() => rng.int(256));
        b = Uint8Array.from([...b.subarray(0, pos), ...extra, ...b.subarray(pos)]);
        break;
      }
      default: {
        const len = rng.int(Math.max(1, b.length - pos));
        b = Uint8Array.from([...b.subarray(0, pos), ...b.subarray(pos, pos + len), ...b.subarray(pos)]);
      }
    }
  }
  return b;
}

const NASTY: unknown[] = [-1, 0, 0.5, 1e9, 2e9, 4294967296, 1e300, -1e300, 'x', '', null, true, [], {}, [1e9], { a: 1 }, '__proto__', 12000, 1e6];

/** JSON-level damage: set, delete or retype a field somewhere in the object tree. */
export function mutateJson(base: unknown, rng: Rng): unknown {
  const copy = JSON.parse(JSON.stringify(base));
  const edits = 1 + rng.int(3);
  for (let e = 0; e < edits; e++) {
    // Walk down to a random container.
    let node: Record<string, unknown> | unknown[] = copy;
    for (let depth = 0; depth < 3; depth++) {
      const keys = Object.keys(node);
      if (keys.length === 0) break;
      const k = keys[rng.int(keys.length)];
      const child = (node as Record<string, unknown>)[k];
      if (child && typeof child === 'object' && rng.uniform() < 0.5) node = child as Record<string, unknown>;
      else break;
    }
    const keys = Object.keys(node);
    const key = keys.length > 0 && rng.uniform() < 0.9 ? keys[rng.int(keys.length)] : `extra${rng.int(3)}`;
    if (rng.uniform() < 0.15 && !Array.isArray(node)) delete (node as Record<string, unknown>)[key];
    else (node as Record<string, unknown>)[key] = structuredClone(NASTY[rng.int(NASTY.length)]); // a copy: a shared one could make a cycle
  }
  return copy;
}
